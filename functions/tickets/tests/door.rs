//! Tickets and the door, over HTTP on every backend.

#![allow(clippy::unwrap_used)]

#[path = "../../bookings/tests/common/mod.rs"]
mod common;

use common::{available, buyer, hold_body, pay, published_event, send};
use reqwest::Method;
use serde_json::{Value, json};
use tg_platform::AppState;
use tg_store::Role;
use tg_testkit::{Backend, TestApp, TestDb, spawn_app_with, user_with_token};
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

/// A paid booking of `n` tickets; returns (buyer token, booking id, tickets).
async fn paid(app: &TestApp, event: &str, tt: &str, n: i64) -> (String, String, Vec<Value>) {
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
    (token, booking, t.1["items"].as_array().unwrap().clone())
}

async fn scan(app: &TestApp, token: &str, body: Value) -> (u16, Value) {
    send(app, token, Method::POST, "/v1/checkins", Some(&body)).await
}

#[tokio::test]
async fn tickets_are_issued_shown_and_admitted_once() {
    for db in TestDb::all().await {
        let app = app(db).await;
        let (org, event, tts) = published_event(&app, &[("GA", 10, 4)], json!({})).await;
        // No tickets before payment.
        let (_, unpaid_token) = buyer(&app).await;
        let r = send(
            &app,
            &unpaid_token,
            Method::POST,
            "/v1/bookings",
            Some(&hold_body(&event, &[(&tts[0], 1)])),
        )
        .await;
        let unpaid = r.1["id"].as_str().unwrap().to_string();
        let r = send(
            &app,
            &unpaid_token,
            Method::GET,
            &format!("/v1/bookings/{unpaid}/tickets"),
            None,
        )
        .await;
        assert_eq!(r.1["items"].as_array().unwrap().len(), 0);

        let (token, booking, tickets) = paid(&app, &event, &tts[0], 2).await;
        assert_eq!(tickets.len(), 2);
        let t = &tickets[0];
        assert_eq!(t["status"], "valid");
        let code = t["code"].as_str().unwrap().to_string();
        assert!(
            code.len() < 300,
            "compact enough for a QR code: {}",
            code.len()
        );
        let id = t["id"].as_str().unwrap().to_string();
        assert_ne!(tickets[0]["code"], tickets[1]["code"]);
        // The QR and the PDF, for the holder (and the organizer), nobody else.
        let r = app
            .request(Method::GET, t["qr_svg_url"].as_str().unwrap())
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        assert_eq!(r.headers()["content-type"], "image/svg+xml");
        assert!(r.text().await.unwrap().contains("<svg"));
        let r = app
            .request(Method::GET, t["pdf_url"].as_str().unwrap())
            .bearer_auth(&org)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        assert_eq!(r.headers()["content-type"], "application/pdf");
        assert!(r.bytes().await.unwrap().starts_with(b"%PDF-"));
        let (_, stranger) = buyer(&app).await;
        let r = app
            .request(Method::GET, t["pdf_url"].as_str().unwrap())
            .bearer_auth(&stranger)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 404);
        assert_eq!(
            send(
                &app,
                &stranger,
                Method::GET,
                &format!("/v1/bookings/{booking}/tickets"),
                None
            )
            .await
            .0,
            404
        );
        // The holder names who goes in.
        let r = send(
            &app,
            &token,
            Method::PATCH,
            &format!("/v1/tickets/{id}"),
            Some(&json!({"attendee_name": "Ada Lovelace"})),
        )
        .await;
        assert_eq!(
            (r.0, r.1["attendee_name"].clone()),
            (200, json!("Ada Lovelace"))
        );
        let r = send(
            &app,
            &stranger,
            Method::PATCH,
            &format!("/v1/tickets/{id}"),
            Some(&json!({"attendee_name": "Mallory"})),
        )
        .await;
        assert_eq!(r.0, 404);
        let r = send(
            &app,
            &token,
            Method::PATCH,
            &format!("/v1/tickets/{id}"),
            Some(&json!({"attendee_name": ""})),
        )
        .await;
        assert_eq!(r.0, 422);

        // The offline key: the organizer's, not a buyer's.
        let r = send(
            &app,
            &org,
            Method::GET,
            &format!("/v1/events/{event}/ticket-key"),
            None,
        )
        .await;
        assert_eq!((r.0, r.1["alg"].clone()), (200, json!("Ed25519")));
        assert_eq!(
            send(
                &app,
                &token,
                Method::GET,
                &format!("/v1/events/{event}/ticket-key"),
                None
            )
            .await
            .0,
            404
        );

        // The door: in once; again is 409 with when and where; a retried
        // scan (same nonce) is the same answer.
        let r = scan(
            &app,
            &org,
            json!({"code": code, "gate": "A", "nonce": "scan-1"}),
        )
        .await;
        assert_eq!(
            (r.0, r.1["result"].clone(), r.1["ticket_id"].clone()),
            (200, json!("ok"), json!(id)),
            "{}",
            r.1
        );
        assert_eq!(r.1["attendee_name"], "Ada Lovelace");
        let r = scan(
            &app,
            &org,
            json!({"code": code, "gate": "A", "nonce": "scan-1"}),
        )
        .await;
        assert_eq!((r.0, r.1["replay"].clone()), (200, json!(true)));
        let r = scan(&app, &org, json!({"code": code, "gate": "B"})).await;
        assert_eq!(
            (r.0, r.1["code"].clone(), r.1["gate"].clone()),
            (409, json!("already_checked_in"), json!("A"))
        );
        assert!(r.1["checked_in_at"].is_string());
        // A forged code: 422.
        let mut forged = code.clone().into_bytes();
        let last = forged.len() - 3;
        forged[last] = if forged[last] == b'A' { b'B' } else { b'A' };
        let r = scan(
            &app,
            &org,
            json!({"code": String::from_utf8(forged).unwrap()}),
        )
        .await;
        assert_eq!(
            (r.0, r.1["code"].clone()),
            (422, json!("invalid_signature"))
        );
        // Names cannot change after check-in.
        let r = send(
            &app,
            &token,
            Method::PATCH,
            &format!("/v1/tickets/{id}"),
            Some(&json!({"attendee_name": "Late"})),
        )
        .await;
        assert_eq!(r.0, 409);

        // Door numbers.
        let d = send(
            &app,
            &org,
            Method::GET,
            &format!("/v1/events/{event}/door"),
            None,
        )
        .await
        .1;
        assert_eq!(
            (d["sold"].clone(), d["checked_in"].clone()),
            (json!(2), json!(1))
        );
        assert_eq!(d["ticket_types"][0]["by_gate"]["A"], 1);
        // The outbox has the check-in once.
        let outbox = app.state.store.outbox_after(0, 1000).await.unwrap();
        assert_eq!(
            outbox
                .iter()
                .filter(|e| e.event_type == "ticket.checked_in")
                .count(),
            1
        );
        let _ = available(&app, &event).await;
    }
}

#[tokio::test]
async fn staff_other_events_and_revoked_tickets() {
    for db in TestDb::all().await {
        let app = app(db).await;
        let (org, event, tts) = published_event(&app, &[("GA", 10, 4)], json!({})).await;
        let (_, other_event, other_tts) = published_event(&app, &[("GA", 10, 4)], json!({})).await;
        let (staff_id, staff) = user_with_token(
            &app.state,
            &format!("door-{}@test.example", Uuid::new_v4().simple()),
            &[Role::User],
        )
        .await;
        let (_, _, tickets) = paid(&app, &event, &tts[0], 2).await;
        let (_, _, others) = paid(&app, &other_event, &other_tts[0], 1).await;
        let code = |t: &Value| t["code"].as_str().unwrap().to_string();

        // Not staff yet: not this door (403 before anything about the ticket).
        let r = scan(&app, &staff, json!({"code": code(&tickets[0])})).await;
        assert_eq!((r.0, r.1["code"].clone()), (403, json!("forbidden")));
        let r = send(
            &app,
            &org,
            Method::POST,
            &format!("/v1/events/{event}/staff"),
            Some(&json!({"user_id": staff_id})),
        )
        .await;
        assert_eq!(r.0, 201, "{}", r.1);
        let r = scan(
            &app,
            &staff,
            json!({"code": code(&tickets[0]), "gate": "North", "event_id": event}),
        )
        .await;
        assert_eq!((r.0, r.1["result"].clone()), (200, json!("ok")));
        // A ticket of another event at this door.
        let r = scan(
            &app,
            &staff,
            json!({"code": code(&others[0]), "event_id": event}),
        )
        .await;
        assert_eq!((r.0, r.1["code"].clone()), (409, json!("wrong_event")));
        let r = scan(
            &app,
            &org,
            json!({"code": code(&others[0]), "event_id": event}),
        )
        .await;
        assert_eq!((r.0, r.1["code"].clone()), (409, json!("wrong_event")));

        // A refunded ticket is revoked.
        let booking: Uuid = tickets[1]["booking_id"].as_str().unwrap().parse().unwrap();
        let p = app
            .state
            .store
            .payment_for_booking(booking)
            .await
            .unwrap()
            .unwrap();
        let r = send(
            &app,
            &org,
            Method::POST,
            &format!("/v1/payments/{}/refund", p.id),
            None,
        )
        .await;
        assert_eq!(r.0, 201, "{}", r.1);
        let r = scan(&app, &staff, json!({"code": code(&tickets[1])})).await;
        assert_eq!((r.0, r.1["code"].clone()), (409, json!("revoked")));
        // Removing staff closes the door to them.
        let r = send(
            &app,
            &org,
            Method::DELETE,
            &format!("/v1/events/{event}/staff/{staff_id}"),
            None,
        )
        .await;
        assert_eq!(r.0, 204);
        let (_, _, more) = paid(&app, &event, &tts[0], 1).await;
        let r = scan(&app, &staff, json!({"code": code(&more[0])})).await;
        assert_eq!((r.0, r.1["code"].clone()), (403, json!("forbidden")));
    }
}

/// The door's verdict on simultaneous scans of one ticket: exactly one
/// admission (200), every other gate refused with 409.
fn one_admission(statuses: &[u16]) -> Result<(), String> {
    let ok = statuses.iter().filter(|s| **s == 200).count();
    let dup = statuses.iter().filter(|s| **s == 409).count();
    if ok == 1 && dup == statuses.len() - 1 {
        Ok(())
    } else {
        Err(format!("{ok} admitted, {dup} refused: {statuses:?}"))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn ten_gates_one_ticket_one_admission() {
    for db in TestDb::all().await {
        let backend = db.backend;
        let app = app(db).await;
        let (org, event, tts) = published_event(&app, &[("GA", 100, 10)], json!({})).await;
        for round in 0..10 {
            let (_, _, tickets) = paid(&app, &event, &tts[0], 1).await;
            let code = tickets[0]["code"].as_str().unwrap().to_string();
            let barrier = std::sync::Arc::new(tokio::sync::Barrier::new(10));
            let mut set = tokio::task::JoinSet::new();
            for gate in 0..10 {
                let req = app
                    .request(Method::POST, "/v1/checkins")
                    .bearer_auth(&org)
                    .json(&json!({"code": code, "gate": format!("G{gate}")}));
                let barrier = barrier.clone();
                set.spawn(async move {
                    barrier.wait().await;
                    req.send().await.unwrap().status().as_u16()
                });
            }
            let mut statuses = Vec::new();
            while let Some(s) = set.join_next().await {
                statuses.push(s.unwrap());
            }
            one_admission(&statuses).unwrap_or_else(|e| panic!("{backend:?} round {round}: {e}"));
        }
        let outbox = app.state.store.outbox_after(0, 10_000).await.unwrap();
        assert_eq!(
            outbox
                .iter()
                .filter(|e| e.event_type == "ticket.checked_in")
                .count(),
            10
        );

        // Negative control: a naive door (read the ticket, then mark it
        // checked in if it was free, without the `checked_in_at IS NULL`
        // guard in the UPDATE) runs against the same database. Ten gates
        // read before any of them writes (a barrier between the two
        // statements stands for the moment every scanner waits on the
        // network), each answers 200 if it let the holder in and 409 if
        // not, and the same verdict as above refuses the outcome.
        let (_, _, tickets) = paid(&app, &event, &tts[0], 1).await;
        let id: Uuid = tickets[0]["id"].as_str().unwrap().parse().unwrap();
        macro_rules! naive_door {
            ($pool:expr) => {{
                let pool = $pool;
                let read = std::sync::Arc::new(tokio::sync::Barrier::new(10));
                let mut set = tokio::task::JoinSet::new();
                for gate in 0..10 {
                    let (pool, read) = (pool.clone(), read.clone());
                    set.spawn(async move {
                        let (free,): (bool,) = sqlx::query_as(
                            "SELECT checked_in_at IS NULL FROM tickets WHERE id = $1",
                        )
                        .bind(id)
                        .fetch_one(&pool)
                        .await
                        .unwrap();
                        read.wait().await;
                        if !free {
                            return 409u16;
                        }
                        sqlx::query(
                            "UPDATE tickets SET checked_in_at = $2, gate = $3 WHERE id = $1",
                        )
                        .bind(id)
                        .bind(chrono::Utc::now())
                        .bind(format!("G{gate}"))
                        .execute(&pool)
                        .await
                        .unwrap();
                        200u16
                    });
                }
                let mut statuses = Vec::new();
                while let Some(r) = set.join_next().await {
                    statuses.push(r.unwrap());
                }
                statuses
            }};
        }
        let statuses = match backend {
            Backend::Postgres => naive_door!(sqlx::PgPool::connect(&app.db.url).await.unwrap()),
            Backend::Sqlite => naive_door!(
                sqlx::sqlite::SqlitePoolOptions::new()
                    .max_connections(10)
                    .connect_with(
                        app.db
                            .url
                            .parse::<sqlx::sqlite::SqliteConnectOptions>()
                            .unwrap()
                            .busy_timeout(std::time::Duration::from_secs(30))
                    )
                    .await
                    .unwrap()
            ),
        };
        assert!(
            one_admission(&statuses).is_err(),
            "{backend:?}: the naive door passed the check: {statuses:?}"
        );
    }
}

#[tokio::test]
async fn offline_gates_earliest_scan_wins() {
    for db in TestDb::all().await {
        let app = app(db).await;
        let (org, event, tts) = published_event(&app, &[("GA", 10, 4)], json!({})).await;
        let (_, _, tickets) = paid(&app, &event, &tts[0], 3).await;
        let code = |i: usize| tickets[i]["code"].as_str().unwrap().to_string();
        let t0 = chrono::Utc::now() - chrono::Duration::minutes(30);
        let at = |m: i64| (t0 + chrono::Duration::minutes(m)).to_rfc3339();
        // Ticket 2 was scanned online (now) before the offline gate uploads.
        let r = scan(&app, &org, json!({"code": code(2), "gate": "Online"})).await;
        assert_eq!(r.0, 200);
        let batch = json!({"gate": "East", "event_id": event, "scans": [
            {"code": code(0), "scanned_at": at(5), "nonce": "e-1"},
            {"code": code(0), "scanned_at": at(1), "nonce": "e-2"},   // earlier: wins
            {"code": code(1), "scanned_at": at(2), "nonce": "e-3"},
            {"code": code(2), "scanned_at": at(3), "nonce": "e-4"},   // earlier than online: wins
            {"code": "TG1.not-a-code", "scanned_at": at(4)},
        ]});
        let r = send(&app, &org, Method::POST, "/v1/checkins/batch", Some(&batch)).await;
        assert_eq!(r.0, 200, "{}", r.1);
        let items = r.1["items"].as_array().unwrap();
        let result = |i: usize| items.iter().find(|x| x["index"] == i).unwrap().clone();
        assert_eq!(result(1)["result"], "ok");
        assert_eq!(result(0)["result"], "already_checked_in");
        assert_eq!(result(0)["gate"], "East");
        assert_eq!(result(2)["result"], "ok");
        assert_eq!(result(3)["result"], "ok");
        assert_eq!(result(3)["superseded"]["gate"], "Online");
        assert_eq!(result(4)["result"], "invalid_signature");
        // Stored: the earliest scans.
        let t = send(
            &app,
            &org,
            Method::GET,
            &format!(
                "/v1/bookings/{}/tickets",
                tickets[0]["booking_id"].as_str().unwrap()
            ),
            None,
        )
        .await
        .1;
        let by_id = |i: usize| {
            t["items"]
                .as_array()
                .unwrap()
                .iter()
                .find(|x| x["id"] == tickets[i]["id"])
                .unwrap()
                .clone()
        };
        let stored: chrono::DateTime<chrono::Utc> =
            serde_json::from_value(by_id(0)["checked_in_at"].clone()).unwrap();
        assert!(
            (stored - (t0 + chrono::Duration::minutes(1)))
                .num_seconds()
                .abs()
                < 1
        );
        assert_eq!(by_id(2)["gate"], "East");
        // The same upload again (the gate retried): nothing changes.
        let r = send(&app, &org, Method::POST, "/v1/checkins/batch", Some(&batch)).await;
        let items = r.1["items"].as_array().unwrap();
        assert_eq!(
            items.iter().find(|x| x["index"] == 1).unwrap()["result"],
            "ok"
        );
        let r = send(
            &app,
            &org,
            Method::POST,
            "/v1/checkins/batch",
            Some(&json!({"scans": []})),
        )
        .await;
        assert_eq!(r.0, 422);
    }
}
