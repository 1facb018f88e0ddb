//! Helpers shared by the bookings tests.

#![allow(dead_code, clippy::unwrap_used)]

use reqwest::Method;
use serde_json::{Value, json};
use tg_platform::AppState;
use tg_store::Role;
use tg_testkit::{Backend, TestApp, TestDb, days_from_now, spawn_app_with, user_with_token};
use uuid::Uuid;

/// The bookings and catalog functions together on `db`.
pub async fn app(db: TestDb, env: &[(&str, &str)]) -> TestApp {
    spawn_app_with(
        db,
        |s: AppState| {
            bookings::router(s.clone())
                .merge(catalog_query::router(s.clone()))
                .merge(catalog_manage::router(s))
        },
        env,
    )
    .await
}

/// An organizer with a published event: ticket types `(name, capacity,
/// max_per_order)`. Returns (organizer token, event id, ticket type ids).
pub async fn published_event(
    app: &TestApp,
    types: &[(&str, i64, i64)],
    extra: Value,
) -> (String, String, Vec<String>) {
    let (_, org) = user_with_token(
        &app.state,
        &format!("org-{}@test.example", uuid::Uuid::new_v4().simple()),
        &[Role::User, Role::Organizer],
    )
    .await;
    let mut body = json!({
        "title": "Concert", "venue": "Hall", "city": "Berlin", "category": "music",
        "timezone": "Europe/Berlin", "starts_at": days_from_now(10), "ends_at": days_from_now(11),
    });
    if let (Some(b), Some(e)) = (body.as_object_mut(), extra.as_object()) {
        for (k, v) in e {
            b.insert(k.clone(), v.clone());
        }
    }
    let r = send(app, &org, Method::POST, "/v1/events", Some(&body)).await;
    assert_eq!(r.0, 201, "{}", r.1);
    let event = r.1["id"].as_str().unwrap().to_string();
    let mut ids = Vec::new();
    for (name, capacity, max) in types {
        let r = send(
            app,
            &org,
            Method::POST,
            &format!("/v1/events/{event}/ticket-types"),
            Some(
                &json!({"name": name, "price_cents": 2500, "currency": "EUR",
                         "capacity": capacity, "max_per_order": max}),
            ),
        )
        .await;
        assert_eq!(r.0, 201, "{}", r.1);
        ids.push(r.1["id"].as_str().unwrap().to_string());
    }
    let r = send(
        app,
        &org,
        Method::POST,
        &format!("/v1/events/{event}/publish"),
        None,
    )
    .await;
    assert_eq!(r.0, 200, "{}", r.1);
    (org, event, ids)
}

pub async fn buyer(app: &TestApp) -> (uuid::Uuid, String) {
    user_with_token(
        &app.state,
        &format!("buyer-{}@test.example", uuid::Uuid::new_v4().simple()),
        &[Role::User],
    )
    .await
}

/// Sends a request with a bearer token; returns status and JSON body.
pub async fn send(
    app: &TestApp,
    token: &str,
    method: Method,
    path: &str,
    body: Option<&Value>,
) -> (u16, Value) {
    let mut req = app.request(method, path).bearer_auth(token);
    if let Some(b) = body {
        req = req.json(b);
    }
    let r = req.send().await.unwrap();
    let status = r.status().as_u16();
    let text = r.text().await.unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

pub fn hold_body(event: &str, items: &[(&str, i64)]) -> Value {
    json!({
        "event_id": event,
        "items": items.iter().map(|(t, q)| json!({"ticket_type_id": t, "quantity": q})).collect::<Vec<_>>(),
    })
}

/// `available` of each ticket type of the event, as the public read shows.
pub async fn available(app: &TestApp, event: &str) -> Vec<i64> {
    let e: Value = app
        .get(&format!("/v1/events/{event}"))
        .await
        .json()
        .await
        .unwrap();
    e["ticket_types"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["available"].as_i64().unwrap())
        .collect()
}

/// What the database says was taken, counted from the bookings themselves
/// (not from the counters under test): admissions of live holds and paid
/// bookings, against the ticket type's counters and capacity.
pub async fn audit(db: &TestDb, tt: Uuid) -> (i64, i64, i64, i64) {
    macro_rules! q {
        ($pool:expr) => {{
            let pool = $pool;
            let (taken,): (i64,) = sqlx::query_as(
                "SELECT CAST(COALESCE(SUM(bi.quantity), 0) AS BIGINT) FROM booking_items bi \
                 JOIN bookings b ON b.id = bi.booking_id \
                 WHERE bi.ticket_type_id = $1 AND b.status IN ('held', 'confirmed')",
            )
            .bind(tt)
            .fetch_one(&pool)
            .await
            .unwrap();
            let (sold, held, capacity): (i64, i64, i64) =
                sqlx::query_as("SELECT sold, held, capacity FROM ticket_types WHERE id = $1")
                    .bind(tt)
                    .fetch_one(&pool)
                    .await
                    .unwrap();
            pool.close().await;
            (taken, sold, held, capacity)
        }};
    }
    match db.backend {
        Backend::Postgres => q!(sqlx::PgPool::connect(&db.url).await.unwrap()),
        Backend::Sqlite => q!(sqlx::SqlitePool::connect(&db.url).await.unwrap()),
    }
}

/// The property: nothing taken beyond capacity, and the counters agree with
/// the bookings.
pub fn oversold((taken, sold, held, capacity): (i64, i64, i64, i64)) -> Option<String> {
    if taken > capacity || sold + held != taken {
        Some(format!(
            "taken {taken}, sold {sold} + held {held}, capacity {capacity}"
        ))
    } else {
        None
    }
}

/// Checks out a held booking and pays it with the simulated provider (the
/// platform must run with `TICKETGW_PAYMENT_PROVIDER=simulated`); returns the
/// checkout answer (`payment_id`, `redirect_url`, ...).
pub async fn pay(app: &TestApp, token: &str, booking: &str) -> (u16, Value) {
    let r = send(
        app,
        token,
        Method::POST,
        &format!("/v1/bookings/{booking}/checkout"),
        None,
    )
    .await;
    let sim = simulated_id(&r.1);
    let paid = app
        .request(
            Method::POST,
            &format!("/v1/payments/simulated/{sim}/succeed"),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(paid.status(), 200, "the simulated payment went through");
    r
}

/// The simulated provider's payment id, from a checkout answer.
pub fn simulated_id(checkout: &Value) -> String {
    checkout["redirect_url"]
        .as_str()
        .and_then(|u| u.rsplit('/').next())
        .unwrap()
        .to_string()
}
