//! Who may ask the door about a ticket, and reading an event's ticket key
//! without writing, over HTTP on every backend.
//!
//! A signed-in user who runs no door of the code's event gets 403 before
//! anything about the ticket is read: a genuine code, a forged one, an
//! admitted ticket and a revoked one all get the same answer, none naming
//! the ticket's event. The negative control runs the previous order (verify
//! the code, then ask who scans it) against the same store and shows the
//! same check catches it.

#![allow(clippy::unwrap_used)]

#[path = "../../bookings/tests/common/mod.rs"]
mod common;

use common::{buyer, hold_body, pay, published_event, send};
use reqwest::Method;
use serde_json::{Value, json};
use tg_platform::AppState;
use tg_store::{DynStore, Role, Scope};
use tg_testkit::{TestApp, TestDb, spawn_app_with, user_with_token};
use uuid::Uuid;

async fn app(db: TestDb) -> TestApp {
    spawn_app_with(
        db,
        |s: AppState| {
            bookings::router(s.clone())
                .merge(payments::router(s.clone()))
                .merge(tickets::router(s.clone()))
                .merge(catalog_query::router(s.clone()))
                .merge(catalog_manage::router(s))
        },
        &[
            ("TICKETGW_PAYMENT_PROVIDER", "simulated"),
            ("TICKETGW_HOLD_RATE_PER_IP", "0"),
        ],
    )
    .await
}

/// The codes of a paid booking of `n` tickets.
async fn paid_codes(app: &TestApp, event: &str, tt: &str, n: i64) -> Vec<String> {
    let (_, token) = buyer(app).await;
    let r = send(
        app,
        &token,
        Method::POST,
        "/v1/bookings",
        Some(&hold_body(event, &[(tt, n)])),
    )
    .await;
    assert_eq!(r.0, 201, "{}", r.1);
    let booking = r.1["id"].as_str().unwrap().to_string();
    pay(app, &token, &booking).await;
    let t = send(
        app,
        &token,
        Method::GET,
        &format!("/v1/bookings/{booking}/tickets"),
        None,
    )
    .await;
    assert_eq!(t.0, 200, "{}", t.1);
    t.1["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["code"].as_str().unwrap().to_string())
        .collect()
}

/// The same code with one signature character changed: structurally a
/// ticket code of the same event, but not genuine.
fn forged(code: &str) -> String {
    let mut b = code.as_bytes().to_vec();
    let last = b.len() - 2;
    b[last] = if b[last] == b'A' { b'B' } else { b'A' };
    String::from_utf8(b).unwrap()
}

/// The property: an outsider's answers about codes of `event` are all the
/// same refusal and never name the event.
fn reveals_nothing(answers: &[(u16, Value)], event: &str) -> Result<(), String> {
    for (status, body) in answers {
        if *status != 403 || body["code"] != "forbidden" {
            return Err(format!("expected 403 forbidden, got {status} {body}"));
        }
        if body.to_string().contains(event) {
            return Err(format!("the answer names the ticket's event: {body}"));
        }
    }
    Ok(())
}

/// The previous order, run on the real store: verify the code with its
/// event's key, then ask whether the caller runs that door.
async fn naive_checkin(store: &DynStore, caller: Uuid, code: &str) -> (u16, Value) {
    let Ok((claims, _)) = tg_tickets::code::parse(code) else {
        return (422, json!({"code": "invalid_signature"}));
    };
    let key = match store.event_public_key(claims.event_id).await.unwrap() {
        Some(k) => k,
        None => return (422, json!({"code": "invalid_signature"})),
    };
    if tg_tickets::code::verify(code, &key).is_err() {
        return (422, json!({"code": "invalid_signature"}));
    }
    let organizer = store
        .get_event(claims.event_id, Scope::Organizer(caller))
        .await
        .is_ok();
    if !organizer && !store.is_staff(claims.event_id, caller).await.unwrap() {
        return (
            409,
            json!({"code": "wrong_event", "ticket_event_id": claims.event_id}),
        );
    }
    (200, json!({"result": "ok"}))
}

#[tokio::test]
async fn outsiders_get_403_before_anything_about_the_ticket() {
    for db in TestDb::all().await {
        let app = app(db).await;
        let (org, event, tts) = published_event(&app, &[("GA", 10, 4)], json!({})).await;
        let codes = paid_codes(&app, &event, &tts[0], 3).await;
        // One admitted, one revoked (cancelled by a refund), one untouched.
        let r = send(
            &app,
            &org,
            Method::POST,
            "/v1/checkins",
            Some(&json!({"code": codes[0]})),
        )
        .await;
        assert_eq!(r.0, 200, "{}", r.1);
        let (outsider_id, outsider) = buyer(&app).await;
        // Another organizer, and staff of another event, are outsiders too.
        let (other_org, other_event, other_tts) =
            published_event(&app, &[("GA", 5, 2)], json!({})).await;
        let (staff_id, staff) = user_with_token(
            &app.state,
            &format!("door-{}@test.example", Uuid::new_v4().simple()),
            &[Role::User],
        )
        .await;
        let r = send(
            &app,
            &other_org,
            Method::POST,
            &format!("/v1/events/{other_event}/staff"),
            Some(&json!({"user_id": staff_id})),
        )
        .await;
        assert_eq!(r.0, 201, "{}", r.1);

        let probes = [
            codes[1].clone(),
            codes[0].clone(),
            forged(&codes[2]),
            codes[2].clone(),
        ];
        for token in [&outsider, &other_org, &staff] {
            let mut answers = Vec::new();
            for code in &probes {
                answers.push(scan(&app, token, json!({"code": code})).await);
                // Naming an event the caller does not run changes nothing.
                answers.push(scan(&app, token, json!({"code": code, "event_id": event})).await);
                answers.push(
                    send(
                        &app,
                        token,
                        Method::POST,
                        "/v1/checkins/batch",
                        Some(&json!({"scans": [{"code": code, "scanned_at": "2026-01-01T10:00:00Z"}]})),
                    )
                    .await,
                );
            }
            reveals_nothing(&answers, &event).unwrap();
        }
        // Staff of the other event naming their own door get `wrong_event`,
        // without the ticket's event.
        let r = scan(
            &app,
            &staff,
            json!({"code": codes[2], "event_id": other_event}),
        )
        .await;
        assert_eq!(
            (r.0, r.1["code"].clone()),
            (409, json!("wrong_event")),
            "{}",
            r.1
        );
        assert!(!r.1.to_string().contains(&event), "{}", r.1);
        // An upload mixing the staff's own event with a foreign one is
        // refused whole: nothing applied.
        let own = paid_codes(&app, &other_event, &other_tts[0], 1)
            .await
            .remove(0);
        let r = send(
            &app,
            &staff,
            Method::POST,
            "/v1/checkins/batch",
            Some(&json!({"scans": [
                {"code": own, "scanned_at": "2026-01-01T10:00:00Z"},
                {"code": codes[2], "scanned_at": "2026-01-01T10:00:01Z"},
            ]})),
        )
        .await;
        assert_eq!(
            (r.0, r.1["code"].clone()),
            (403, json!("forbidden")),
            "{}",
            r.1
        );
        for code in [&own, &codes[2]] {
            let id = tg_tickets::code::parse(code).unwrap().0.ticket_id;
            let t = app.state.store.get_ticket(id).await.unwrap();
            assert!(
                t.checked_in_at.is_none(),
                "nothing of a refused upload is applied"
            );
        }

        // Negative control: the previous order answers the outsider with
        // what the ticket is (a conflict naming its event, or a forgery).
        let mut naive = Vec::new();
        for code in &probes {
            naive.push(naive_checkin(&app.state.store, outsider_id, code).await);
        }
        let caught = reveals_nothing(&naive, &event);
        assert!(
            caught.is_err(),
            "the control must fail the same check: {naive:?}"
        );
    }
}

async fn scan(app: &TestApp, token: &str, body: Value) -> (u16, Value) {
    send(app, token, Method::POST, "/v1/checkins", Some(&body)).await
}

#[tokio::test]
async fn reading_a_ticket_key_never_writes() {
    for db in TestDb::all().await {
        let app = app(db).await;
        let admin = app.admin_token.clone();
        // No such event: 404 (was a 500 from a key insert failing its
        // foreign key), and nothing stored.
        let ghost = Uuid::new_v4();
        let r = send(
            &app,
            &admin,
            Method::GET,
            &format!("/v1/events/{ghost}/ticket-key"),
            None,
        )
        .await;
        assert_eq!(
            (r.0, r.1["code"].clone()),
            (404, json!("not_found")),
            "{}",
            r.1
        );
        assert!(
            app.state
                .store
                .event_public_key(ghost)
                .await
                .unwrap()
                .is_none()
        );

        // A draft has no key, and reading it makes none.
        let (_, org) = user_with_token(
            &app.state,
            &format!("org-{}@test.example", Uuid::new_v4().simple()),
            &[Role::User, Role::Organizer],
        )
        .await;
        let r = send(
            &app,
            &org,
            Method::POST,
            "/v1/events",
            Some(&json!({
                "title": "Draft", "venue": "Hall", "city": "Berlin", "category": "music",
                "timezone": "Europe/Berlin", "starts_at": tg_testkit::days_from_now(10),
                "ends_at": tg_testkit::days_from_now(11),
            })),
        )
        .await;
        assert_eq!(r.0, 201, "{}", r.1);
        let draft: Uuid = r.1["id"].as_str().unwrap().parse().unwrap();
        for token in [&org, &admin] {
            let r = send(
                &app,
                token,
                Method::GET,
                &format!("/v1/events/{draft}/ticket-key"),
                None,
            )
            .await;
            assert_eq!(
                (r.0, r.1["code"].clone()),
                (404, json!("no_ticket_key")),
                "{}",
                r.1
            );
        }
        assert!(
            app.state
                .store
                .event_public_key(draft)
                .await
                .unwrap()
                .is_none()
        );

        // Publishing makes the key; reads return it unchanged.
        let (org2, event, tts) = published_event(&app, &[("GA", 10, 4)], json!({})).await;
        let event_id: Uuid = event.parse().unwrap();
        let stored = app
            .state
            .store
            .event_public_key(event_id)
            .await
            .unwrap()
            .expect("published events have a key");
        let r = send(
            &app,
            &org2,
            Method::GET,
            &format!("/v1/events/{event}/ticket-key"),
            None,
        )
        .await;
        assert_eq!(r.0, 200, "{}", r.1);
        let codes = paid_codes(&app, &event, &tts[0], 1).await;
        let claims = tg_tickets::code::verify(&codes[0], &stored).unwrap();
        assert_eq!(claims.event_id, event_id);
        let again = send(
            &app,
            &admin,
            Method::GET,
            &format!("/v1/events/{event}/ticket-key"),
            None,
        )
        .await;
        assert_eq!(again.1["public_key"], r.1["public_key"]);
    }
}
