//! Idempotency keys through the whole platform, on every backend: one key
//! retried 1,000 times (50 at once) creates one event and gets one answer;
//! a different request with the key is refused; keys are per caller; a
//! running first request makes retries wait (409); failures are not kept.

#![allow(clippy::unwrap_used)]

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use axum::Router;
use axum::http::StatusCode;
use axum::routing::post;
use chrono::{Duration, Utc};
use reqwest::Method;
use serde_json::{Value, json};
use tg_http::ApiError;
use tg_store::{EventFilter, EventStatus, Role};
use tg_testkit::{
    TestApp, TestDb, days_from_now, problem, spawn_app, spawn_app_with, spawn_router,
    user_with_token,
};
use tokio::sync::Notify;
use uuid::Uuid;

/// The local platform (every function) on `db`.
async fn platform(db: TestDb) -> TestApp {
    let dir = tempfile::tempdir().unwrap();
    let env: HashMap<&str, String> = HashMap::from([
        ("DATABASE_URL", db.url.clone()),
        ("TICKETGW_DATA_DIR", dir.path().display().to_string()),
        ("TICKETGW_AUTH_RATE_PER_IP", "100000".to_string()),
    ]);
    let config = ticketgw::local_config(|k| env.get(k).cloned()).unwrap();
    let state = tg_platform::build_state(config).await.unwrap();
    spawn_router(ticketgw::app(&state), state, db).await
}

async fn organizer(app: &TestApp, name: &str) -> (Uuid, String) {
    user_with_token(
        &app.state,
        &format!("{name}-{}@idem.test", Uuid::new_v4().simple()),
        &[Role::User, Role::Organizer],
    )
    .await
}

fn event_body(title: &str) -> Value {
    json!({"title": title, "venue": "Hall", "city": "Porto", "category": "music",
           "timezone": "Europe/Lisbon", "starts_at": days_from_now(3), "ends_at": days_from_now(4)})
}

/// The organizer's draft events titled `title`, counted in storage.
async fn events_titled(app: &TestApp, organizer: Uuid, title: &str) -> usize {
    let events = app
        .state
        .store
        .list_events(&EventFilter {
            q: Some(title.to_string()),
            city: None,
            category: None,
            from: Utc::now() - Duration::days(1),
            to: None,
            status: EventStatus::Draft,
            organizer_id: Some(organizer),
            after: None,
            limit: 1000,
        })
        .await
        .unwrap();
    events.iter().filter(|e| e.title == title).count()
}

/// One response as a client sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Answer {
    status: u16,
    content_type: Option<String>,
    location: Option<String>,
    body: Vec<u8>,
    replayed: bool,
}

async fn answer(r: reqwest::Response) -> Answer {
    let header = |name: &str| {
        r.headers()
            .get(name)
            .map(|v| v.to_str().unwrap().to_string())
    };
    let content_type = header("content-type");
    let location = header("location");
    let replayed = match header("idempotent-replayed").as_deref() {
        None => false,
        Some("true") => true,
        Some(other) => panic!("Idempotent-Replayed: {other}"),
    };
    Answer {
        status: r.status().as_u16(),
        content_type,
        location,
        body: r.bytes().await.unwrap().to_vec(),
        replayed,
    }
}

fn code(a: &Answer) -> String {
    serde_json::from_slice::<Value>(&a.body).unwrap()["code"]
        .as_str()
        .unwrap_or("")
        .to_string()
}

/// POST `path` with `body` as `token`, with `key` if given.
async fn post_once(
    app: &TestApp,
    path: &str,
    token: Option<&str>,
    key: Option<&str>,
    body: &Value,
) -> Answer {
    let mut req = app.request(Method::POST, path).json(body);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    if let Some(k) = key {
        req = req.header("Idempotency-Key", k);
    }
    answer(req.send().await.unwrap()).await
}

/// A client that retries while the first request with its key is still
/// running (409 `idempotency_in_progress`), as a client should.
async fn post_until_settled(
    app: &TestApp,
    path: &str,
    token: &str,
    key: Option<&str>,
    body: &Value,
) -> Answer {
    for _ in 0..2000 {
        let a = post_once(app, path, Some(token), key, body).await;
        if a.status == 409 && code(&a) == "idempotency_in_progress" {
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
            continue;
        }
        return a;
    }
    panic!("the key stayed in progress");
}

/// `total` POSTs of one body, `at_once` in flight at a time.
async fn storm(
    app: &Arc<TestApp>,
    token: &str,
    key: Option<&str>,
    body: &Value,
    total: usize,
    at_once: usize,
) -> Vec<Answer> {
    let mut workers = Vec::new();
    for w in 0..at_once {
        let (app, token, key, body) = (
            app.clone(),
            token.to_string(),
            key.map(str::to_string),
            body.clone(),
        );
        let n = total / at_once + usize::from(w < total % at_once);
        workers.push(tokio::spawn(async move {
            let mut answers = Vec::new();
            for _ in 0..n {
                answers.push(
                    post_until_settled(&app, "/v1/events", &token, key.as_deref(), &body).await,
                );
            }
            answers
        }));
    }
    let mut answers = Vec::new();
    for w in workers {
        answers.extend(w.await.unwrap());
    }
    assert_eq!(answers.len(), total);
    answers
}

#[tokio::test]
async fn one_key_retried_a_thousand_times_creates_one_event() {
    for db in TestDb::all().await {
        let backend = db.backend;
        let app = Arc::new(platform(db).await);
        let (org, token) = organizer(&app, "storm").await;
        let body = event_body("Storm Night");
        let answers = storm(&app, &token, Some("storm-key-1"), &body, 1000, 50).await;

        assert_eq!(
            events_titled(&app, org, "Storm Night").await,
            1,
            "{backend:?}: exactly one event"
        );
        let first = &answers[0];
        assert_eq!(first.status, 201, "{backend:?}: {first:?}");
        assert_eq!(first.content_type.as_deref(), Some("application/json"));
        assert!(first.location.is_some(), "Location is kept");
        for a in &answers {
            assert_eq!(
                (a.status, &a.content_type, &a.location, &a.body),
                (
                    first.status,
                    &first.content_type,
                    &first.location,
                    &first.body
                ),
                "{backend:?}: every answer is the first one, byte for byte"
            );
        }
        assert_eq!(
            answers.iter().filter(|a| !a.replayed).count(),
            1,
            "{backend:?}: one original, 999 replays"
        );
        let id = serde_json::from_slice::<Value>(&first.body).unwrap()["id"].clone();
        assert_eq!(
            first.location.as_deref(),
            Some(format!("/v1/events/{}", id.as_str().unwrap()).as_str())
        );
    }
}

#[tokio::test]
async fn without_a_key_the_same_storm_creates_many_events() {
    // Negative control: the harness above can fail. Without the header the
    // same 50-at-once retries all run.
    for db in TestDb::all().await {
        let app = Arc::new(platform(db).await);
        let (org, token) = organizer(&app, "nokey").await;
        let answers = storm(&app, &token, None, &event_body("Keyless"), 50, 50).await;
        assert!(answers.iter().all(|a| a.status == 201 && !a.replayed));
        let n = events_titled(&app, org, "Keyless").await;
        assert!(n > 1, "without a key every retry creates an event ({n})");
        assert_eq!(n, 50);
    }
}

#[tokio::test]
async fn the_key_with_a_different_request_is_refused() {
    for db in TestDb::all().await {
        let app = platform(db).await;
        let (org, token) = organizer(&app, "mismatch").await;
        // One body, sent again byte for byte (its times are fixed here).
        let first_body = event_body("First");
        let first = post_once(&app, "/v1/events", Some(&token), Some("k-1"), &first_body).await;
        assert_eq!(first.status, 201);

        // A path no route matches is a 404 before any key is looked at.
        let r = app
            .request(Method::POST, "/v1/events/")
            .bearer_auth(&token)
            .header("Idempotency-Key", "k-1")
            .json(&first_body)
            .send()
            .await
            .unwrap();
        assert_eq!(problem(r, 404).await["code"], "not_found");
        for (path, body) in [
            ("/v1/events", event_body("Second")),
            ("/v1/events?x=1", first_body.clone()),
        ] {
            let r = app
                .request(Method::POST, path)
                .bearer_auth(&token)
                .header("Idempotency-Key", "k-1")
                .json(&body)
                .send()
                .await
                .unwrap();
            let p = problem(r, 422).await;
            assert_eq!(p["code"], "idempotency_mismatch");
        }
        assert_eq!(
            events_titled(&app, org, "Second").await,
            0,
            "nothing written"
        );
        assert_eq!(events_titled(&app, org, "First").await, 1);

        // The original request still replays.
        let again = post_once(&app, "/v1/events", Some(&token), Some("k-1"), &first_body).await;
        assert!(again.replayed);
        assert_eq!(again.body, first.body);
    }
}

#[tokio::test]
async fn keys_are_scoped_to_the_caller() {
    for db in TestDb::all().await {
        let app = platform(db).await;
        let (x, token_x) = organizer(&app, "x").await;
        let (y, token_y) = organizer(&app, "y").await;
        let body = event_body("Shared Key Fest");
        let a = post_once(&app, "/v1/events", Some(&token_x), Some("same"), &body).await;
        let b = post_once(&app, "/v1/events", Some(&token_y), Some("same"), &body).await;
        assert_eq!((a.status, b.status), (201, 201));
        assert!(!b.replayed, "another caller's key is not replayed");
        assert_ne!(a.body, b.body, "each caller gets its own event");
        assert_eq!(events_titled(&app, x, "Shared Key Fest").await, 1);
        assert_eq!(events_titled(&app, y, "Shared Key Fest").await, 1);
        // Each caller's retry replays its own answer.
        let b2 = post_once(&app, "/v1/events", Some(&token_y), Some("same"), &body).await;
        assert!(b2.replayed);
        assert_eq!(b2.body, b.body);
    }
}

#[tokio::test]
async fn malformed_keys_are_refused_and_other_requests_pass_through() {
    for db in TestDb::all().await {
        let app = platform(db).await;
        let (org, token) = organizer(&app, "malformed").await;
        let long = "k".repeat(256);
        let bad: [&[u8]; 4] = [b"", long.as_bytes(), b"two words", b"caf\xc3\xa9"];
        for key in bad {
            let r = app
                .request(Method::POST, "/v1/events")
                .bearer_auth(&token)
                .header(
                    "Idempotency-Key",
                    reqwest::header::HeaderValue::from_bytes(key).unwrap(),
                )
                .json(&event_body("Malformed"))
                .send()
                .await
                .unwrap();
            let p = problem(r, 400).await;
            assert_eq!(p["code"], "validation_failed");
            assert_eq!(p["errors"][0]["field"], "Idempotency-Key");
        }
        assert_eq!(events_titled(&app, org, "Malformed").await, 0);
        let ok = post_once(
            &app,
            "/v1/events",
            Some(&token),
            Some(&"k".repeat(255)),
            &event_body("Malformed"),
        )
        .await;
        assert_eq!(ok.status, 201, "255 characters are fine");

        // Reads ignore the header.
        let r = app
            .request(Method::GET, "/v1/events")
            .header("Idempotency-Key", "")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        assert!(r.headers().get("idempotent-replayed").is_none());

        // A token that does not verify: the handler answers 401 each time,
        // nothing is kept.
        for _ in 0..2 {
            let a = post_once(
                &app,
                "/v1/events",
                Some("not-a-token"),
                Some("bad-token"),
                &event_body("Nope"),
            )
            .await;
            assert_eq!(a.status, 401);
            assert!(!a.replayed);
        }
    }
}

#[tokio::test]
async fn anonymous_requests_replay_only_to_the_identical_request() {
    for db in TestDb::all().await {
        let app = platform(db).await;
        let body =
            json!({"email": "anon@idem.test", "password": "correct horse battery", "name": "Anon"});
        let first = post_once(&app, "/v1/auth/register", None, Some("signup-1"), &body).await;
        assert_eq!(first.status, 201, "{first:?}");
        let again = post_once(&app, "/v1/auth/register", None, Some("signup-1"), &body).await;
        assert!(again.replayed, "the same body replays (no 409 email_taken)");
        assert_eq!((again.status, &again.body), (201, &first.body));
        // Someone else choosing the same key gets their own answer, never
        // the first one's (nor a mismatch).
        let other = json!({"email": "other@idem.test", "password": "correct horse battery", "name": "Other"});
        let b = post_once(&app, "/v1/auth/register", None, Some("signup-1"), &other).await;
        assert_eq!(b.status, 201);
        assert!(!b.replayed);
        assert_ne!(b.body, first.body);
    }
}

/// A POST route that signals when it is entered and waits for `release`.
fn slow_routes(calls: Arc<AtomicUsize>, entered: Arc<Notify>, release: Arc<Notify>) -> Router {
    Router::new().route(
        "/slow",
        post(move || async move {
            let n = calls.fetch_add(1, Ordering::SeqCst);
            entered.notify_one();
            release.notified().await;
            (StatusCode::CREATED, axum::Json(json!({"call": n})))
        }),
    )
}

#[tokio::test]
async fn a_retry_while_the_first_request_runs_is_told_to_wait() {
    for db in TestDb::all().await {
        let calls = Arc::new(AtomicUsize::new(0));
        let (entered, release) = (Arc::new(Notify::new()), Arc::new(Notify::new()));
        let app = Arc::new(
            spawn_app(db, {
                let (calls, entered, release) = (calls.clone(), entered.clone(), release.clone());
                move |_| slow_routes(calls, entered, release)
            })
            .await,
        );
        let token = app.admin_token.clone();
        let body = json!({"n": 1});
        let first = tokio::spawn({
            let (app, token, body) = (app.clone(), token.clone(), body.clone());
            async move { post_once(&app, "/slow", Some(&token), Some("slow-1"), &body).await }
        });
        entered.notified().await;

        let second = post_once(&app, "/slow", Some(&token), Some("slow-1"), &body).await;
        assert_eq!(second.status, 409, "{second:?}");
        assert_eq!(code(&second), "idempotency_in_progress");
        assert_eq!(
            second.content_type.as_deref(),
            Some("application/problem+json")
        );
        let other = post_once(
            &app,
            "/slow",
            Some(&token),
            Some("slow-1"),
            &json!({"n": 2}),
        )
        .await;
        assert_eq!(
            (other.status, code(&other).as_str()),
            (422, "idempotency_mismatch")
        );

        release.notify_one();
        let first = first.await.unwrap();
        assert_eq!(first.status, 201);
        assert!(!first.replayed);
        let third = post_once(&app, "/slow", Some(&token), Some("slow-1"), &body).await;
        assert!(third.replayed);
        assert_eq!((third.status, &third.body), (201, &first.body));
        assert_eq!(calls.load(Ordering::SeqCst), 1, "the handler ran once");
    }
}

#[tokio::test]
async fn failures_worth_retrying_are_not_kept() {
    for db in TestDb::all().await {
        let calls = Arc::new(AtomicUsize::new(0));
        let app = spawn_app(db, {
            let calls = calls.clone();
            move |_| {
                Router::new().route(
                    "/flaky",
                    post(move || async move {
                        match calls.fetch_add(1, Ordering::SeqCst) {
                            0 => Err(ApiError::internal(anyhow::anyhow!("boom"))),
                            1 => Err(ApiError::unavailable(anyhow::anyhow!("down"))),
                            2 => Err(ApiError::new(
                                StatusCode::TOO_MANY_REQUESTS,
                                "rate_limited",
                                "slow down",
                            )),
                            3 => panic!("handler bug"),
                            n => Ok((StatusCode::CREATED, axum::Json(json!({"call": n})))),
                        }
                    }),
                )
            }
        })
        .await;
        let token = app.admin_token.clone();
        let body = json!({});
        let mut statuses = Vec::new();
        for _ in 0..5 {
            // After a panic the claim is released in the background: wait
            // for that, as a client would.
            let a = post_until_settled(&app, "/flaky", &token, Some("flaky-1"), &body).await;
            assert!(!a.replayed, "{a:?}");
            statuses.push(a.status);
        }
        assert_eq!(
            statuses,
            [500, 503, 429, 500, 201],
            "each retry ran the handler (the fourth panicked)"
        );
        let kept = post_once(&app, "/flaky", Some(&token), Some("flaky-1"), &body).await;
        assert!(kept.replayed);
        assert_eq!(kept.status, 201);
        assert_eq!(
            serde_json::from_slice::<Value>(&kept.body).unwrap()["call"],
            4
        );
        assert_eq!(calls.load(Ordering::SeqCst), 5);
    }
}

#[tokio::test]
async fn storage_failing_at_the_start_answers_503_without_running_the_handler() {
    for db in TestDb::all().await {
        // An unmigrated database: there is no idempotency table.
        let calls = Arc::new(AtomicUsize::new(0));
        let app = spawn_app_with(
            db,
            {
                let calls = calls.clone();
                move |_| {
                    Router::new().route(
                        "/count",
                        post(move || async move {
                            calls.fetch_add(1, Ordering::SeqCst);
                            StatusCode::NO_CONTENT
                        }),
                    )
                }
            },
            &[
                ("TICKETGW_MIGRATE_ON_START", "false"),
                ("TICKETGW_BUILTIN_IDP", "false"),
            ],
        )
        .await;
        let r = app
            .request(Method::POST, "/count")
            .header("Idempotency-Key", "k")
            .send()
            .await
            .unwrap();
        let p = problem(r, 503).await;
        assert_eq!(p["code"], "service_unavailable");
        assert_eq!(calls.load(Ordering::SeqCst), 0, "the handler did not run");
        // Without the header nothing touches storage.
        let r = app.request(Method::POST, "/count").send().await.unwrap();
        assert_eq!(r.status(), 204);
        assert_eq!(calls.load(Ordering::SeqCst), 1);
    }
}
