//! Per-IP limits behind a proxy cannot be dodged by writing
//! `X-Forwarded-For`: the client address is the entry the trusted proxy
//! appended (counted from the right), so thirty requests that each forge a
//! different left end still count against one address. The negative
//! control keys the same real rate limiter by the leftmost entry (the old
//! rule) and shows the same check fails.

#![allow(clippy::unwrap_used)]

use std::collections::HashMap;

use reqwest::Method;
use serde_json::{Value, json};
use tg_store::Role;
use tg_testkit::{TestApp, TestDb, spawn_router, user_with_token};

/// The address the proxy in front saw and appended.
const CLIENT: &str = "198.51.100.7";
const LIMIT: usize = 5;
const ATTEMPTS: usize = 30;

async fn platform(db: TestDb, env: &[(&str, &str)]) -> TestApp {
    let dir = tempfile::tempdir().unwrap();
    let mut vars: HashMap<&str, String> = HashMap::from([
        ("DATABASE_URL", db.url.clone()),
        ("TICKETGW_DATA_DIR", dir.path().display().to_string()),
    ]);
    for (k, v) in env {
        vars.insert(k, v.to_string());
    }
    let config = ticketgw::local_config(|k| vars.get(k).cloned()).unwrap();
    let state = tg_platform::build_state(config).await.unwrap();
    ticketgw::demo::load(state.store.as_ref()).await.unwrap();
    spawn_router(ticketgw::app(&state), state, db).await
}

/// A different forged left end per attempt, then what the proxy appended.
fn forged(i: usize) -> String {
    format!("203.0.113.{}, 10.{i}.0.1, {CLIENT}", i + 1)
}

/// The property: of `ATTEMPTS` requests from one client, at most `LIMIT`
/// get past the per-IP limit and every later one is refused with 429.
fn limited(statuses: &[u16]) -> Result<(), String> {
    let first_refusal = statuses.iter().position(|s| *s == 429);
    match first_refusal {
        Some(i) if i <= LIMIT && statuses[i..].iter().all(|s| *s == 429) => Ok(()),
        _ => Err(format!("not limited to {LIMIT}: {statuses:?}")),
    }
}

#[tokio::test]
async fn forged_forwarded_headers_share_one_login_budget() {
    for db in TestDb::all().await {
        let app = platform(
            db,
            &[
                ("TICKETGW_TRUST_FORWARDED", "true"),
                ("TICKETGW_AUTH_RATE_PER_IP", "5"),
            ],
        )
        .await;
        let mut statuses = Vec::new();
        for i in 0..ATTEMPTS {
            let r = app
                .request(Method::POST, "/v1/auth/login")
                .header("x-forwarded-for", forged(i))
                .json(&json!({"email": format!("nobody-{i}@test.example"), "password": "wrong-password-123"}))
                .send()
                .await
                .unwrap();
            statuses.push(r.status().as_u16());
        }
        assert!(statuses[..LIMIT].iter().all(|s| *s == 401), "{statuses:?}");
        limited(&statuses).unwrap();

        // Another client behind the same proxy still has its own budget.
        let r = app
            .request(Method::POST, "/v1/auth/login")
            .header("x-forwarded-for", "198.51.100.99")
            .json(&json!({"email": "nobody@test.example", "password": "wrong-password-123"}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 401);

        // Negative control: the old rule (leftmost entry) on the same real
        // limiter and store lets every forged attempt through.
        let mut naive = Vec::new();
        for i in 0..ATTEMPTS {
            let leftmost = forged(i).split(',').next().unwrap().trim().to_string();
            let key = format!("control:login:ip:{leftmost}");
            naive.push(
                match tg_platform::rate_limit::check(app.state.store.as_ref(), &key, 5).await {
                    Ok(()) => 401,
                    Err(e) => e.status().as_u16(),
                },
            );
        }
        assert!(limited(&naive).is_err(), "the control must fail: {naive:?}");
    }
}

#[tokio::test]
async fn forged_forwarded_headers_share_one_hold_budget() {
    for db in TestDb::all().await {
        let app = platform(
            db,
            &[
                ("TICKETGW_TRUST_FORWARDED", "true"),
                ("TICKETGW_HOLD_RATE_PER_IP", "5"),
                ("TICKETGW_MAX_HELD_PER_USER", "100"),
            ],
        )
        .await;
        let events: Value = app.get("/v1/events?limit=1").await.json().await.unwrap();
        let event = &events["items"][0];
        let body = json!({
            "event_id": event["id"],
            "items": [{"ticket_type_id": event["ticket_types"][0]["id"], "quantity": 1}],
        });
        let (_, token) = user_with_token(&app.state, "xff-buyer@test.example", &[Role::User]).await;
        let mut statuses = Vec::new();
        for i in 0..ATTEMPTS {
            let r = app
                .request(Method::POST, "/v1/bookings")
                .bearer_auth(&token)
                .header("x-forwarded-for", forged(i))
                .json(&body)
                .send()
                .await
                .unwrap();
            statuses.push(r.status().as_u16());
        }
        assert!(statuses[..LIMIT].iter().all(|s| *s == 201), "{statuses:?}");
        limited(&statuses).unwrap();

        let mut naive = Vec::new();
        for i in 0..ATTEMPTS {
            let leftmost = forged(i).split(',').next().unwrap().trim().to_string();
            let key = format!("control:hold:ip:{leftmost}");
            naive.push(
                match tg_platform::rate_limit::check(app.state.store.as_ref(), &key, 5).await {
                    Ok(()) => 201,
                    Err(e) => e.status().as_u16(),
                },
            );
        }
        assert!(limited(&naive).is_err(), "the control must fail: {naive:?}");
    }
}

#[tokio::test]
async fn trusted_networks_walk_past_the_proxies() {
    // The test client connects from 127.0.0.1: a trusted proxy here.
    let app = platform(
        TestDb::sqlite().await,
        &[
            ("TICKETGW_TRUST_FORWARDED", "true"),
            ("TICKETGW_TRUSTED_PROXIES", "127.0.0.1/32,10.0.0.0/8"),
            ("TICKETGW_AUTH_RATE_PER_IP", "5"),
        ],
    )
    .await;
    let mut statuses = Vec::new();
    for i in 0..ATTEMPTS {
        // forged left end, the client, then two proxies inside 10/8
        let xff = format!("203.0.113.{}, {CLIENT}, 10.1.2.3, 10.4.5.{i}", i + 1);
        let r = app
            .request(Method::POST, "/v1/auth/login")
            .header("x-forwarded-for", xff)
            .json(&json!({"email": format!("nobody-{i}@test.example"), "password": "wrong-password-123"}))
            .send()
            .await
            .unwrap();
        statuses.push(r.status().as_u16());
    }
    limited(&statuses).unwrap();
}
