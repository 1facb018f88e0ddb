//! The bookings HTTP contract on every backend: holds, reads, cancellation,
//! limits, and lapsed holds.

#![allow(clippy::unwrap_used)]

mod common;

use chrono::{Duration, Utc};
use common::*;
use reqwest::Method;
use serde_json::{Value, json};
use tg_store::{HoldItem, NewHold};
use tg_testkit::{TestDb, problem};
use uuid::Uuid;

#[tokio::test]
async fn hold_read_and_cancel() {
    for db in TestDb::all().await {
        let app = app(db, &[]).await;
        let (org, event, tts) =
            published_event(&app, &[("GA", 100, 10), ("VIP", 5, 2)], json!({})).await;
        let (buyer_id, buyer) = buyer(&app).await;

        let before = Utc::now();
        let r = app
            .request(Method::POST, "/v1/bookings")
            .bearer_auth(&buyer)
            .json(&hold_body(&event, &[(&tts[0], 3), (&tts[1], 1)]))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 201);
        let location = r.headers()["location"].to_str().unwrap().to_string();
        let b: Value = r.json().await.unwrap();
        assert_eq!(b["status"], "held");
        assert_eq!(b["total_cents"], 4 * 2500);
        assert_eq!(b["currency"], "EUR");
        assert_eq!(b["quantity"], 4);
        assert_eq!(b["user_id"], buyer_id.to_string());
        assert_eq!(b["items"].as_array().unwrap().len(), 2);
        let expires: chrono::DateTime<Utc> =
            serde_json::from_value(b["expires_at"].clone()).unwrap();
        let hold = expires - before;
        assert!(
            hold > Duration::minutes(9) && hold <= Duration::minutes(10) + Duration::seconds(5),
            "default hold is 10 minutes, got {hold}"
        );
        let id = b["id"].as_str().unwrap().to_string();
        assert_eq!(location, format!("/v1/bookings/{id}"));
        assert_eq!(available(&app, &event).await, vec![97, 4]);

        // Who may read it: buyer, organizer, admin. Another buyer: 404.
        assert_eq!(
            send(&app, &buyer, Method::GET, &location, None).await.0,
            200
        );
        assert_eq!(send(&app, &org, Method::GET, &location, None).await.0, 200);
        assert_eq!(
            send(&app, &app.admin_token, Method::GET, &location, None)
                .await
                .0,
            200
        );
        let (_, other) = common::buyer(&app).await;
        let r = send(&app, &other, Method::GET, &location, None).await;
        assert_eq!(r.0, 404);
        assert_eq!(r.1["code"], "not_found");
        // Someone else cannot cancel it either.
        let cancel = format!("/v1/bookings/{id}/cancel");
        assert_eq!(send(&app, &other, Method::POST, &cancel, None).await.0, 404);
        assert_eq!(send(&app, &org, Method::POST, &cancel, None).await.0, 404);

        // The buyer cancels: tickets are back at once; cancelling twice is fine.
        let r = send(&app, &buyer, Method::POST, &cancel, None).await;
        assert_eq!(r.0, 200, "{}", r.1);
        assert_eq!(r.1["status"], "cancelled");
        assert_eq!(available(&app, &event).await, vec![100, 5]);
        let r = send(&app, &buyer, Method::POST, &cancel, None).await;
        assert_eq!((r.0, r.1["status"].clone()), (200, json!("cancelled")));

        // The outbox has both events, about this booking, in order.
        let events = app.state.store.outbox_after(0, 100).await.unwrap();
        let mine: Vec<_> = events
            .iter()
            .filter(|e| e.partition_key == id)
            .map(|e| e.event_type.as_str())
            .collect();
        assert_eq!(mine, ["booking.held", "booking.cancelled"]);
        let held = events
            .iter()
            .find(|e| e.event_type == "booking.held")
            .unwrap();
        assert_eq!(held.source, "/ticketgw/bookings");
        assert_eq!(held.subject, format!("bookings/{id}"));
        assert_eq!(held.data["total_cents"], 10000);
    }
}

#[tokio::test]
async fn bad_requests_are_named_and_write_nothing() {
    for db in TestDb::all().await {
        let app = app(db, &[]).await;
        let (_, event, tts) = published_event(&app, &[("GA", 10, 4)], json!({})).await;
        let (_, other_event, other_tts) = published_event(&app, &[("GA", 10, 4)], json!({})).await;
        let (_, buyer) = buyer(&app).await;
        let post = |body: Value| {
            let app = &app;
            let buyer = buyer.clone();
            async move {
                app.request(Method::POST, "/v1/bookings")
                    .bearer_auth(&buyer)
                    .json(&body)
                    .send()
                    .await
                    .unwrap()
            }
        };
        let p = problem(post(json!({"event_id": event, "items": []})).await, 422).await;
        assert_eq!(p["errors"][0]["field"], "items");
        let p = problem(post(hold_body(&event, &[(&tts[0], 0)])).await, 422).await;
        assert_eq!(p["errors"][0]["field"], "items[0].quantity");
        let p = problem(
            post(hold_body(&event, &[(&tts[0], 1), (&tts[0], 1)])).await,
            422,
        )
        .await;
        assert_eq!(p["errors"][0]["field"], "items[1].ticket_type_id");
        let p = problem(post(hold_body(&event, &[(&tts[0], 5)])).await, 422).await;
        assert!(
            p["errors"][0]["message"]
                .as_str()
                .unwrap()
                .contains("at most 4"),
            "{p}"
        );
        let p = problem(post(hold_body(&event, &[(&other_tts[0], 1)])).await, 422).await;
        assert!(
            p["errors"][0]["message"]
                .as_str()
                .unwrap()
                .contains("not a ticket type of this event"),
            "{p}"
        );
        let p = problem(
            post(json!({"event_id": event, "items": [], "price": 1})).await,
            422,
        )
        .await;
        assert_eq!(p["code"], "validation_failed");
        let p = problem(post(json!({"event_id": "nope", "items": []})).await, 422).await;
        assert!(
            p["errors"][0]["field"]
                .as_str()
                .unwrap()
                .contains("event_id"),
            "{p}"
        );
        let r = post(hold_body(&Uuid::now_v7().to_string(), &[(&tts[0], 1)])).await;
        assert_eq!(r.status(), 404);
        // No token: 401.
        let r = app
            .post_json("/v1/bookings", &hold_body(&event, &[(&tts[0], 1)]))
            .await;
        assert_eq!(problem(r, 401).await["code"], "unauthorized");
        // Nothing was held anywhere.
        assert_eq!(available(&app, &event).await, vec![10]);
        assert_eq!(available(&app, &other_event).await, vec![10]);
        assert!(
            app.state
                .store
                .outbox_after(0, 100)
                .await
                .unwrap()
                .iter()
                .all(|e| e.event_type == "event.published"),
            "no booking event"
        );
    }
}

#[tokio::test]
async fn drafts_sales_windows_and_sold_out() {
    for db in TestDb::all().await {
        let app = app(db, &[]).await;
        let (_, buyer) = buyer(&app).await;
        // A draft is not for sale (and not visible).
        let (id, tt) = app.create_event("Draft", 5).await;
        let r = send(
            &app,
            &buyer,
            Method::POST,
            "/v1/bookings",
            Some(&hold_body(&id, &[(&tt, 1)])),
        )
        .await;
        assert_eq!(r.0, 404, "{}", r.1);

        let (org, event, _) = published_event(&app, &[("GA", 3, 3)], json!({})).await;
        let later = (Utc::now() + Duration::days(1)).to_rfc3339();
        let r = send(
            &app,
            &org,
            Method::POST,
            &format!("/v1/events/{event}/ticket-types"),
            Some(&json!({"name": "Late", "price_cents": 100, "currency": "EUR", "capacity": 5, "sales_start": later})),
        )
        .await;
        assert_eq!(r.0, 201, "{}", r.1);
        let late = r.1["id"].as_str().unwrap().to_string();
        let r = send(
            &app,
            &buyer,
            Method::POST,
            "/v1/bookings",
            Some(&hold_body(&event, &[(&late, 1)])),
        )
        .await;
        assert_eq!(
            (r.0, r.1["code"].clone()),
            (409, json!("sales_not_started"))
        );

        let e: Value = app
            .get(&format!("/v1/events/{event}"))
            .await
            .json()
            .await
            .unwrap();
        let ga = e["ticket_types"][0]["id"].as_str().unwrap().to_string();
        let r = send(
            &app,
            &buyer,
            Method::POST,
            "/v1/bookings",
            Some(&hold_body(&event, &[(&ga, 3)])),
        )
        .await;
        assert_eq!(r.0, 201, "{}", r.1);
        let (_, second) = common::buyer(&app).await;
        let r = send(
            &app,
            &second,
            Method::POST,
            "/v1/bookings",
            Some(&hold_body(&event, &[(&ga, 1)])),
        )
        .await;
        assert_eq!(
            (r.0, r.1["code"].clone()),
            (409, json!("sold_out")),
            "{}",
            r.1
        );
        assert_eq!(r.1["status"], 409);
    }
}

#[tokio::test]
async fn per_buyer_cap_and_per_ip_rate_limit() {
    for db in TestDb::all().await {
        let app = app(
            db,
            &[
                ("TICKETGW_MAX_HELD_PER_USER", "5"),
                ("TICKETGW_HOLD_RATE_PER_IP", "5"),
            ],
        )
        .await;
        let (_, event, tts) = published_event(&app, &[("GA", 100, 10)], json!({})).await;
        let (_, buyer) = buyer(&app).await;
        let hold = |n: i64| hold_body(&event, &[(&tts[0], n)]);
        assert_eq!(
            send(&app, &buyer, Method::POST, "/v1/bookings", Some(&hold(3)))
                .await
                .0,
            201
        );
        let r = send(&app, &buyer, Method::POST, "/v1/bookings", Some(&hold(3))).await;
        assert_eq!(
            (r.0, r.1["code"].clone()),
            (409, json!("hold_limit_reached"))
        );
        let r = send(&app, &buyer, Method::POST, "/v1/bookings", Some(&hold(2))).await;
        assert_eq!(r.0, 201, "up to the cap is fine: {}", r.1);
        // Cancelling frees the buyer's allowance.
        let mine = send(&app, &buyer, Method::GET, "/v1/me/bookings", None)
            .await
            .1;
        let id = mine["items"][0]["id"].as_str().unwrap();
        assert_eq!(
            send(
                &app,
                &buyer,
                Method::POST,
                &format!("/v1/bookings/{id}/cancel"),
                None
            )
            .await
            .0,
            200
        );
        let (_, other) = common::buyer(&app).await;
        assert_eq!(
            send(&app, &other, Method::POST, "/v1/bookings", Some(&hold(1)))
                .await
                .0,
            201
        );
        assert_eq!(
            send(&app, &other, Method::POST, "/v1/bookings", Some(&hold(1)))
                .await
                .0,
            201
        );
        // Five attempts from this address so far: the sixth is refused.
        let r = app
            .request(Method::POST, "/v1/bookings")
            .bearer_auth(&other)
            .json(&hold(1))
            .send()
            .await
            .unwrap();
        assert!(r.headers().get("retry-after").is_some());
        assert_eq!(problem(r, 429).await["code"], "rate_limited");
    }
}

#[tokio::test]
async fn lapsed_holds_never_count_and_are_released() {
    for db in TestDb::all().await {
        let app = app(db, &[]).await;
        let (_, event, tts) =
            published_event(&app, &[("GA", 10, 10)], json!({"hold_minutes": 5})).await;
        let (buyer_id, buyer) = buyer(&app).await;
        // A hold taken 6 minutes ago has lapsed (hold time 5 minutes).
        let event_id: Uuid = event.parse().unwrap();
        let tt: Uuid = tts[0].parse().unwrap();
        let old = app
            .state
            .store
            .hold(&NewHold {
                user_id: buyer_id,
                event_id,
                items: vec![HoldItem {
                    ticket_type_id: tt,
                    quantity: 10,
                }],
                max_held_per_user: 10,
                now: Utc::now() - Duration::minutes(6),
            })
            .await
            .unwrap();
        // Before any sweep: the read shows it all available, the booking expired.
        assert_eq!(available(&app, &event).await, vec![10]);
        let r = send(
            &app,
            &buyer,
            Method::GET,
            &format!("/v1/bookings/{}", old.id),
            None,
        )
        .await;
        assert_eq!(r.1["status"], "expired");
        // And a buyer gets the tickets (the lapsed hold is released on the way),
        // even the same buyer whose cap it filled.
        let r = send(
            &app,
            &buyer,
            Method::POST,
            "/v1/bookings",
            Some(&hold_body(&event, &[(&tts[0], 10)])),
        )
        .await;
        assert_eq!(r.0, 201, "{}", r.1);
        let held: chrono::DateTime<Utc> =
            serde_json::from_value(r.1["expires_at"].clone()).unwrap();
        assert!(
            held - Utc::now() <= Duration::minutes(5),
            "the event's hold time applies"
        );
        let types: Vec<String> = app
            .state
            .store
            .outbox_after(0, 100)
            .await
            .unwrap()
            .into_iter()
            .map(|e| e.event_type)
            .filter(|t| t.starts_with("booking."))
            .collect();
        assert_eq!(types, ["booking.held", "booking.expired", "booking.held"]);
        // Cancelling a lapsed hold says so.
        let r = send(
            &app,
            &buyer,
            Method::POST,
            &format!("/v1/bookings/{}/cancel", old.id),
            None,
        )
        .await;
        assert_eq!((r.0, r.1["code"].clone()), (409, json!("booking_expired")));
    }
}

#[tokio::test]
async fn expiry_worker_releases_and_is_idempotent() {
    for db in TestDb::all().await {
        let app = app(db, &[]).await;
        let (_, event, tts) = published_event(&app, &[("GA", 50, 10)], json!({})).await;
        let event_id: Uuid = event.parse().unwrap();
        let tt: Uuid = tts[0].parse().unwrap();
        for i in 0..5 {
            let (uid, _) = buyer(&app).await;
            app.state
                .store
                .hold(&NewHold {
                    user_id: uid,
                    event_id,
                    items: vec![HoldItem {
                        ticket_type_id: tt,
                        quantity: 2,
                    }],
                    max_held_per_user: 10,
                    now: Utc::now() - Duration::minutes(if i < 3 { 11 } else { 1 }),
                })
                .await
                .unwrap();
        }
        // Four workers at once: the three lapsed holds are released once.
        let mut set = tokio::task::JoinSet::new();
        for _ in 0..4 {
            let store = app.state.store.clone();
            set.spawn(async move { booking_expiry::sweep(&store).await.unwrap().expired });
        }
        let mut total = 0;
        while let Some(n) = set.join_next().await {
            total += n.unwrap();
        }
        assert_eq!(total, 3);
        assert_eq!(
            booking_expiry::sweep(&app.state.store)
                .await
                .unwrap()
                .expired,
            0
        );
        let e = app
            .state
            .store
            .get_event(event_id, tg_store::Scope::All)
            .await
            .unwrap();
        assert_eq!(
            (e.ticket_types[0].held, e.ticket_types[0].available()),
            (4, 46)
        );
    }
}

#[tokio::test]
async fn lists_are_paginated_and_scoped() {
    for db in TestDb::all().await {
        let app = app(db, &[]).await;
        let (org, event, tts) = published_event(&app, &[("GA", 100, 10)], json!({})).await;
        let (_, buyer) = buyer(&app).await;
        let mut ids = Vec::new();
        for _ in 0..3 {
            let r = send(
                &app,
                &buyer,
                Method::POST,
                "/v1/bookings",
                Some(&hold_body(&event, &[(&tts[0], 1)])),
            )
            .await;
            ids.push(r.1["id"].as_str().unwrap().to_string());
        }
        let (_, other) = common::buyer(&app).await;
        send(
            &app,
            &other,
            Method::POST,
            "/v1/bookings",
            Some(&hold_body(&event, &[(&tts[0], 1)])),
        )
        .await;

        // Mine, newest first, two pages.
        let p1 = send(&app, &buyer, Method::GET, "/v1/me/bookings?limit=2", None)
            .await
            .1;
        let got: Vec<&str> = p1["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|b| b["id"].as_str().unwrap())
            .collect();
        assert_eq!(got, [ids[2].as_str(), ids[1].as_str()]);
        let cursor = p1["next_cursor"].as_str().unwrap();
        let p2 = send(
            &app,
            &buyer,
            Method::GET,
            &format!("/v1/me/bookings?limit=2&cursor={cursor}"),
            None,
        )
        .await
        .1;
        assert_eq!(p2["items"][0]["id"], ids[0].as_str());
        assert!(p2["next_cursor"].is_null());
        let r = send(&app, &buyer, Method::GET, "/v1/me/bookings?limit=500", None).await;
        assert_eq!(r.0, 400);

        // The event's: its organizer and admins see all four.
        let path = format!("/v1/events/{event}/bookings");
        let r = send(&app, &org, Method::GET, &path, None).await;
        assert_eq!(r.1["items"].as_array().unwrap().len(), 4);
        let r = send(&app, &app.admin_token, Method::GET, &path, None).await;
        assert_eq!(r.1["items"].as_array().unwrap().len(), 4);
        // Another organizer: not found. A buyer: forbidden.
        let (other_org, _, _) = published_event(&app, &[("GA", 1, 1)], json!({})).await;
        assert_eq!(
            send(&app, &other_org, Method::GET, &path, None).await.0,
            404
        );
        assert_eq!(send(&app, &buyer, Method::GET, &path, None).await.0, 403);
    }
}

/// One request in flight per instance: the rest are shed with 503 and a
/// Retry-After, and a shed request writes nothing. The per-address hold rate
/// is off here (it has its own test) so that every answer is 201 or 503
/// however slow the machine is; a round in which the requests happened not to
/// overlap is run again (at most five rounds), never counted as a pass.
#[tokio::test]
async fn overload_is_shed_with_retry_after() {
    let app = app(
        TestDb::sqlite().await,
        &[
            ("TICKETGW_BOOKING_MAX_INFLIGHT", "1"),
            ("TICKETGW_HOLD_RATE_PER_IP", "0"),
        ],
    )
    .await;
    let (_, event, tts) = published_event(&app, &[("GA", 10_000, 1)], json!({})).await;
    let mut buyers = Vec::new();
    for _ in 0..200 {
        buyers.push(buyer(&app).await.1);
    }
    let mut created = 0;
    let mut shed = 0;
    for _round in 0..5 {
        let start = std::sync::Arc::new(tokio::sync::Barrier::new(buyers.len()));
        let mut set = tokio::task::JoinSet::new();
        for token in &buyers {
            let req = app
                .request(Method::POST, "/v1/bookings")
                .bearer_auth(token)
                .json(&hold_body(&event, &[(&tts[0], 1)]));
            let start = start.clone();
            set.spawn(async move {
                start.wait().await;
                let r = req.send().await.unwrap();
                (
                    r.status().as_u16(),
                    r.headers().get("retry-after").is_some(),
                )
            });
        }
        let mut counts = std::collections::HashMap::new();
        while let Some(r) = set.join_next().await {
            let (status, retry_after) = r.unwrap();
            if status == 503 {
                assert!(retry_after, "a 503 without Retry-After");
            }
            *counts.entry(status).or_insert(0) += 1;
        }
        assert_eq!(
            counts
                .keys()
                .filter(|s| ![201, 409, 503].contains(*s))
                .count(),
            0,
            "{counts:?}"
        );
        created += counts.get(&201).copied().unwrap_or(0);
        shed += counts.get(&503).copied().unwrap_or(0);
        let held = 10_000 - available(&app, &event).await[0];
        assert_eq!(
            held, created,
            "every 201 is a hold, every 503 wrote nothing"
        );
        if shed > 0 {
            break;
        }
    }
    assert!(shed > 0, "no request was shed in five rounds of 200");
}

/// One Idempotency-Key retried 1,000 times, 50 at once: exactly one
/// booking, every response identical.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn one_idempotency_key_one_booking() {
    for db in TestDb::all().await {
        let app = app(db, &[("TICKETGW_HOLD_RATE_PER_IP", "0")]).await;
        let (_, event, tts) = published_event(&app, &[("GA", 100, 10)], json!({})).await;
        let (buyer_id, buyer) = buyer(&app).await;
        let body = hold_body(&event, &[(&tts[0], 2)]);
        let gate = std::sync::Arc::new(tokio::sync::Semaphore::new(50));
        let mut set = tokio::task::JoinSet::new();
        for _ in 0..1_000 {
            let req = app
                .request(Method::POST, "/v1/bookings")
                .bearer_auth(&buyer)
                .header("idempotency-key", "hold-once-7f3a")
                .json(&body);
            let gate = gate.clone();
            set.spawn(async move {
                let _permit = gate.acquire_owned().await.unwrap();
                loop {
                    let r = req.try_clone().unwrap().send().await.unwrap();
                    let status = r.status().as_u16();
                    let bytes = r.bytes().await.unwrap();
                    // The first request may still be running: retry, as a client would.
                    if status == 409 && bytes.windows(23).any(|w| w == b"idempotency_in_progress") {
                        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
                        continue;
                    }
                    return (status, bytes);
                }
            });
        }
        let mut responses = Vec::new();
        while let Some(r) = set.join_next().await {
            responses.push(r.unwrap());
        }
        assert!(
            responses.iter().all(|r| r == &responses[0]),
            "identical responses"
        );
        assert_eq!(responses[0].0, 201);
        let mine = app
            .state
            .store
            .list_user_bookings(buyer_id, None, 100)
            .await
            .unwrap();
        assert_eq!(mine.len(), 1, "exactly one booking");
        assert_eq!(available(&app, &event).await, vec![98]);
    }
}
