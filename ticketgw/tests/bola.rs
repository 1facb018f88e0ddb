//! The authorization (BOLA) matrix: every route of the platform x
//! {anonymous, user A, user B, organizer X, organizer Y, admin}, on every
//! backend. No read or write crosses owners; where existence would leak the
//! answer is 404, not 403; forbidden writes change nothing.

#![allow(clippy::unwrap_used)]

use std::collections::HashMap;

use reqwest::Method;
use serde_json::{Value, json};
use tg_store::Role;
use tg_testkit::{TestApp, TestDb, days_from_now, spawn_router, user_with_token};

const ACTORS: [&str; 6] = ["anon", "userA", "userB", "orgX", "orgY", "admin"];

struct World {
    app: TestApp,
    tokens: HashMap<&'static str, String>,
    ids: HashMap<&'static str, String>,
}

async fn world(db: TestDb) -> World {
    let dir = tempfile::tempdir().unwrap();
    let env: HashMap<&str, String> = HashMap::from([
        ("DATABASE_URL", db.url.clone()),
        ("TICKETGW_DATA_DIR", dir.path().display().to_string()),
        ("TICKETGW_AUTH_RATE_PER_IP", "100000".to_string()),
    ]);
    let config = ticketgw::local_config(|k| env.get(k).cloned()).unwrap();
    let state = tg_platform::build_state(config).await.unwrap();
    let app = spawn_router(ticketgw::app(&state), state.clone(), db).await;
    let mut tokens = HashMap::new();
    let mut ids = HashMap::new();
    for (name, roles) in [
        ("userA", vec![Role::User]),
        ("userB", vec![Role::User]),
        ("orgX", vec![Role::User, Role::Organizer]),
        ("orgY", vec![Role::User, Role::Organizer]),
        ("admin", vec![Role::User, Role::Organizer, Role::Admin]),
    ] {
        let (id, token) = user_with_token(&state, &format!("{name}@bola.test"), &roles).await;
        tokens.insert(name, token);
        ids.insert(name, id.to_string());
    }
    World { app, tokens, ids }
}

impl World {
    async fn call(
        &self,
        actor: &str,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut req = self.app.request(method, path);
        if let Some(t) = self.tokens.get(actor) {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let r = req.send().await.unwrap();
        let status = r.status().as_u16();
        let body = r.json::<Value>().await.unwrap_or(Value::Null);
        (status, body)
    }

    /// An event of `owner` with one ticket type: (event id, ticket type id).
    async fn event_of(&self, owner: &str, publish: bool) -> (String, String) {
        let (s, e) = self
            .call(owner, Method::POST, "/v1/events", Some(json!({"title": format!("{owner}'s"), "venue": "v", "city": "c",
                "category": "music", "timezone": "UTC", "starts_at": days_from_now(5), "ends_at": days_from_now(6)})))
            .await;
        assert_eq!(s, 201);
        let id = e["id"].as_str().unwrap().to_string();
        let (s, t) = self
            .call(
                owner,
                Method::POST,
                &format!("/v1/events/{id}/ticket-types"),
                Some(json!({"name": "GA", "price_cents": 100, "currency": "EUR", "capacity": 5})),
            )
            .await;
        assert_eq!(s, 201);
        if publish {
            assert_eq!(
                self.call(
                    owner,
                    Method::POST,
                    &format!("/v1/events/{id}/publish"),
                    None
                )
                .await
                .0,
                201 - 1
            );
        }
        (id, t["id"].as_str().unwrap().to_string())
    }
}

/// (actor -> expected status) in ACTORS order.
fn expect(statuses: [u16; 6]) -> [u16; 6] {
    statuses
}

/// Runs the matrix; returns the cells whose status differs from the
/// expectation, as "actor route: got N, want M".
async fn matrix(w: &World) -> Vec<String> {
    let mut wrong = Vec::new();
    fn cell(wrong: &mut Vec<String>, actor: &str, route: &str, got: u16, want: u16) {
        if got != want {
            wrong.push(format!("{actor} {route}: got {got}, want {want}"));
        }
    }
    macro_rules! check {
        ($actor:expr, $route:expr, $got:expr, $want:expr) => {{
            let got = $got;
            cell(&mut wrong, $actor, $route, got, $want)
        }};
    }
    let (draft, draft_tt) = w.event_of("orgX", false).await;
    let (public, _) = w.event_of("orgX", true).await;

    let reads: Vec<(String, [u16; 6])> = vec![
        ("/v1/events".into(), expect([200, 200, 200, 200, 200, 200])),
        (
            format!("/v1/events/{public}"),
            expect([200, 200, 200, 200, 200, 200]),
        ),
        (
            format!("/v1/events/{draft}"),
            expect([404, 404, 404, 200, 404, 200]),
        ),
        ("/v1/me".into(), expect([401, 200, 200, 200, 200, 200])),
        (
            "/v1/admin/users".into(),
            expect([401, 403, 403, 403, 403, 200]),
        ),
        (
            "/v1/admin/audit-log".into(),
            expect([401, 403, 403, 403, 403, 200]),
        ),
        (
            "/v1/organizer-applications".into(),
            expect([401, 403, 403, 403, 403, 200]),
        ),
    ];
    for (path, want) in &reads {
        for (i, actor) in ACTORS.iter().enumerate() {
            let (got, body) = w.call(actor, Method::GET, path, None).await;
            check!(actor, &format!("GET {path}"), got, want[i]);
            if path == "/v1/me" && got == 200 {
                // Only ever one's own profile.
                if body["id"].as_str() != w.ids.get(actor).map(|s| s.as_str()) {
                    wrong.push(format!("{actor} GET /v1/me returned someone else"));
                }
            }
        }
    }

    // Writes on orgX's draft: anonymous 401; users lack the role (403);
    // another organizer cannot see it (404); owner and admin may.
    let writes: Vec<(Method, String, Option<Value>, [u16; 6])> = vec![
        (
            Method::PATCH,
            format!("/v1/events/{draft}"),
            Some(json!({"title": "renamed"})),
            expect([401, 403, 403, 200, 404, 200]),
        ),
        (
            Method::POST,
            format!("/v1/events/{draft}/ticket-types"),
            Some(json!({"name": "N", "price_cents": 1, "currency": "EUR", "capacity": 1})),
            expect([401, 403, 403, 201, 404, 409]),
        ),
        (
            Method::PATCH,
            format!("/v1/events/{draft}/ticket-types/{draft_tt}"),
            Some(json!({"capacity": 9})),
            expect([401, 403, 403, 200, 404, 200]),
        ),
        (
            Method::POST,
            format!("/v1/events/{draft}/publish"),
            None,
            expect([401, 403, 403, 200, 404, 200]),
        ),
        (
            Method::POST,
            "/v1/events".into(),
            Some(
                json!({"title": "t", "venue": "v", "city": "c", "category": "music", "timezone": "UTC", "starts_at": days_from_now(5), "ends_at": days_from_now(6)}),
            ),
            expect([401, 403, 403, 201, 201, 201]),
        ),
        (
            Method::POST,
            format!("/v1/admin/users/{}/roles", w.ids["userB"]),
            Some(json!({"roles": ["user"]})),
            expect([401, 403, 403, 403, 403, 200]),
        ),
        (
            Method::POST,
            format!("/v1/admin/users/{}/suspend", w.ids["userB"]),
            None,
            expect([401, 403, 403, 403, 403, 200]),
        ),
        // userB was just suspended: its own token no longer works at all.
        (
            Method::POST,
            format!("/v1/admin/users/{}/reinstate", w.ids["userB"]),
            None,
            expect([401, 403, 401, 403, 403, 200]),
        ),
    ];
    for (method, path, body, want) in &writes {
        for (i, actor) in ACTORS.iter().enumerate() {
            let (got, _) = w.call(actor, method.clone(), path, body.clone()).await;
            check!(actor, &format!("{method} {path}"), got, want[i]);
        }
    }
    // Cancelling, last: Y (and users) cannot, X can.
    for (i, actor) in ACTORS.iter().enumerate() {
        let want = [401, 403, 403, 200, 404, 200][i];
        if *actor == "orgX" || *actor == "admin" {
            continue; // checked below once the others have tried
        }
        let (got, _) = w
            .call(
                actor,
                Method::POST,
                &format!("/v1/events/{public}/cancel"),
                None,
            )
            .await;
        check!(actor, "POST cancel", got, want);
    }
    let (_, e) = w
        .call("anon", Method::GET, &format!("/v1/events/{public}"), None)
        .await;
    if e["status"] != "published" {
        wrong.push("someone other than the owner cancelled the event".into());
    }
    check!(
        "orgX",
        "POST cancel",
        w.call(
            "orgX",
            Method::POST,
            &format!("/v1/events/{public}/cancel"),
            None
        )
        .await
        .0,
        200
    );

    // Applications: any signed-in user applies for themselves; only admins decide.
    let (s, app) = w
        .call(
            "userA",
            Method::POST,
            "/v1/organizer-applications",
            Some(json!({"note": "jazz"})),
        )
        .await;
    check!("userA", "POST application", s, 201);
    check!(
        "anon",
        "POST application",
        w.call(
            "anon",
            Method::POST,
            "/v1/organizer-applications",
            Some(json!({}))
        )
        .await
        .0,
        401
    );
    let app_id = app["id"].as_str().unwrap_or_default().to_string();
    for actor in ["anon", "userA", "userB", "orgX", "orgY"] {
        let want = if actor == "anon" { 401 } else { 403 };
        check!(
            actor,
            "POST approve",
            w.call(
                actor,
                Method::POST,
                &format!("/v1/organizer-applications/{app_id}/approve"),
                None
            )
            .await
            .0,
            want
        );
    }
    check!(
        "admin",
        "POST approve",
        w.call(
            "admin",
            Method::POST,
            &format!("/v1/organizer-applications/{app_id}/approve"),
            None
        )
        .await
        .0,
        200
    );
    wrong
}

#[tokio::test]
async fn no_read_or_write_crosses_owners() {
    for db in TestDb::all().await {
        let backend = db.backend;
        let w = world(db).await;
        let wrong = matrix(&w).await;
        assert!(wrong.is_empty(), "{backend:?}: {wrong:#?}");
        // Forbidden attempts left the draft as its owner made it, but for
        // the allowed changes.
        let (_, users) = w
            .call("admin", Method::GET, "/v1/admin/users?limit=100", None)
            .await;
        let b = users["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|u| u["email"] == "userB@bola.test")
            .unwrap()
            .clone();
        assert_eq!(b["status"], "active");
    }
}

#[tokio::test]
async fn negative_control_the_matrix_catches_a_crossing() {
    // orgY holding orgX's credentials stands for a broken ownership check:
    // the matrix must report it.
    let db = TestDb::sqlite().await;
    let mut w = world(db).await;
    let x = w.tokens["orgX"].clone();
    w.tokens.insert("orgY", x);
    let wrong = matrix(&w).await;
    assert!(
        wrong.iter().any(|c| c.starts_with("orgY GET /v1/events/")),
        "{wrong:#?}"
    );
    assert!(
        wrong
            .iter()
            .any(|c| c.starts_with("orgY PATCH /v1/events/")),
        "{wrong:#?}"
    );
}
