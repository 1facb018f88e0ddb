//! No overselling under concurrency, over HTTP, on every backend: 1,000
//! hold requests at once for 100 tickets, 20 rounds each. And a negative
//! control: a deliberately racy read-then-write hold (in this test only)
//! that does oversell, proving the check below catches it.

#![allow(clippy::unwrap_used)]

mod common;

use std::collections::HashMap;

use common::*;
use reqwest::Method;
use serde_json::json;
use tg_testkit::{Backend, TestApp, TestDb};
use uuid::Uuid;

const CAPACITY: i64 = 100;
const REQUESTS: usize = 1_000;
const BUYERS: usize = 50;
const ROUNDS: usize = 20;

async fn buyers(app: &TestApp) -> Vec<String> {
    let mut tokens = Vec::new();
    for _ in 0..BUYERS {
        tokens.push(buyer(app).await.1);
    }
    tokens
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_thousand_buyers_for_a_hundred_tickets() {
    for db in TestDb::all().await {
        let backend = db.backend;
        let app = app(
            db,
            &[
                ("TICKETGW_MAX_HELD_PER_USER", "1000"),
                ("TICKETGW_HOLD_RATE_PER_IP", "0"),
                ("TICKETGW_BOOKING_MAX_INFLIGHT", "5000"),
            ],
        )
        .await;
        let tokens = buyers(&app).await;
        for round in 0..ROUNDS {
            let (_, event, tts) = published_event(&app, &[("GA", CAPACITY, 1)], json!({})).await;
            let body = hold_body(&event, &[(&tts[0], 1)]);
            let mut set = tokio::task::JoinSet::new();
            let barrier = std::sync::Arc::new(tokio::sync::Barrier::new(REQUESTS));
            for i in 0..REQUESTS {
                let req = app
                    .request(Method::POST, "/v1/bookings")
                    .bearer_auth(&tokens[i % BUYERS])
                    .json(&body);
                let barrier = barrier.clone();
                set.spawn(async move {
                    barrier.wait().await;
                    loop {
                        let r = req.try_clone().unwrap().send().await.unwrap();
                        let status = r.status().as_u16();
                        let body: serde_json::Value = r.json().await.unwrap();
                        // A busy machine may answer 503 (database pool
                        // exhausted): retry as a client honouring Retry-After would.
                        if status == 503 {
                            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                            continue;
                        }
                        break (status, body["code"].as_str().unwrap_or("").to_string());
                    }
                });
            }
            let mut outcomes: HashMap<(u16, String), usize> = HashMap::new();
            while let Some(r) = set.join_next().await {
                *outcomes.entry(r.unwrap()).or_default() += 1;
            }
            let held = outcomes.get(&(201, String::new())).copied().unwrap_or(0);
            let sold_out = outcomes
                .get(&(409, "sold_out".into()))
                .copied()
                .unwrap_or(0);
            assert_eq!(
                (held, sold_out),
                (CAPACITY as usize, REQUESTS - CAPACITY as usize),
                "{backend:?} round {round}: {outcomes:?}"
            );
            let tt: Uuid = tts[0].parse().unwrap();
            let counts = audit(&app.db, tt).await;
            assert_eq!(oversold(counts), None, "{backend:?} round {round}");
            assert_eq!(counts.0, CAPACITY);
            assert_eq!(available(&app, &event).await, vec![0]);
        }
    }
}

/// The negative control: the naive hold (read what is left, then write)
/// run just as concurrently oversells, and `oversold` reports it.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn negative_control_a_racy_hold_oversells() {
    for db in TestDb::all().await {
        let backend = db.backend;
        let app = app(db, &[]).await;
        let (_, event, tts) = published_event(&app, &[("GA", CAPACITY, 1)], json!({})).await;
        let users: Vec<Uuid> = {
            let mut v = Vec::new();
            for _ in 0..BUYERS {
                v.push(buyer(&app).await.0);
            }
            v
        };
        let event: Uuid = event.parse().unwrap();
        let tt: Uuid = tts[0].parse().unwrap();
        macro_rules! racy {
            ($pool:expr) => {{
                let pool = $pool;
                let mut set = tokio::task::JoinSet::new();
                for i in 0..REQUESTS {
                    let pool = pool.clone();
                    let user = users[i % BUYERS];
                    set.spawn(async move {
                        // Read, decide, write: a lost update on `held` and
                        // bookings beyond capacity.
                        let (left,): (i64,) = sqlx::query_as(
                            "SELECT capacity - sold - held FROM ticket_types WHERE id = $1",
                        )
                        .bind(tt)
                        .fetch_one(&pool)
                        .await
                        .unwrap();
                        if left < 1 {
                            return;
                        }
                        tokio::task::yield_now().await;
                        let id = Uuid::now_v7();
                        let now = chrono::Utc::now();
                        sqlx::query(
                            "INSERT INTO bookings (id, event_id, user_id, status, quantity, total_cents, currency, expires_at, created_at, updated_at) \
                             VALUES ($1, $2, $3, 'held', 1, 2500, 'EUR', $4, $5, $5)",
                        )
                        .bind(id)
                        .bind(event)
                        .bind(user)
                        .bind(now + chrono::Duration::minutes(10))
                        .bind(now)
                        .execute(&pool)
                        .await
                        .unwrap();
                        sqlx::query("INSERT INTO booking_items (booking_id, ticket_type_id, quantity, unit_price_cents) VALUES ($1, $2, 1, 2500)")
                            .bind(id)
                            .bind(tt)
                            .execute(&pool)
                            .await
                            .unwrap();
                        sqlx::query("UPDATE ticket_types SET held = $2 WHERE id = $1")
                            .bind(tt)
                            .bind(CAPACITY - left + 1)
                            .execute(&pool)
                            .await
                            .unwrap();
                    });
                }
                while let Some(r) = set.join_next().await {
                    r.unwrap();
                }
                pool.close().await;
            }};
        }
        match backend {
            Backend::Postgres => racy!(
                sqlx::postgres::PgPoolOptions::new()
                    .max_connections(20)
                    .connect(&app.db.url)
                    .await
                    .unwrap()
            ),
            Backend::Sqlite => racy!(
                sqlx::sqlite::SqlitePoolOptions::new()
                    .max_connections(8)
                    .connect_with(
                        app.db
                            .url
                            .parse::<sqlx::sqlite::SqliteConnectOptions>()
                            .unwrap()
                            .busy_timeout(std::time::Duration::from_secs(30)),
                    )
                    .await
                    .unwrap()
            ),
        }
        let counts = audit(&app.db, tt).await;
        assert!(
            oversold(counts).is_some(),
            "{backend:?}: the racy hold was expected to oversell: {counts:?}"
        );
        assert!(counts.0 > CAPACITY, "{backend:?}: {counts:?}");
    }
}
