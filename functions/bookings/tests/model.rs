//! Property test: random sequences of hold, cancel, expire and confirm,
//! each round's operations run concurrently, with the inventory invariant
//! checked after every round on every backend:
//!
//! * counters agree with the bookings: `held` = admissions of `held`
//!   bookings, `sold` = admissions of `confirmed` ones, and each buyer's
//!   hold counter = their held admissions;
//! * `sold + held <= capacity`, and the public read's `available` equals
//!   `capacity - sold - held` minus nothing but lapsed holds, never negative.

#![allow(clippy::unwrap_used)]

mod common;

use std::sync::Arc;

use chrono::{Duration, Utc};
use common::*;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use serde_json::json;
use tg_store::{DynStore, HoldItem, NewHold, Scope, StoreError};
use tg_testkit::{Backend, TestDb};
use uuid::Uuid;

#[derive(Debug, Clone)]
enum Op {
    /// Hold `qty` of ticket type `tt` as buyer `buyer`; `lapsed` holds were
    /// taken long enough ago that they have expired.
    Hold {
        buyer: usize,
        tt: usize,
        qty: i64,
        lapsed: bool,
    },
    Cancel {
        pick: usize,
    },
    Confirm {
        pick: usize,
    },
    Expire,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0..4usize, 0..2usize, 1..4i64, any::<bool>())
            .prop_map(|(buyer, tt, qty, lapsed)| Op::Hold { buyer, tt, qty, lapsed }),
        2 => any::<usize>().prop_map(|pick| Op::Cancel { pick }),
        2 => any::<usize>().prop_map(|pick| Op::Confirm { pick }),
        1 => Just(Op::Expire),
    ]
}

/// Outcomes a correct store may give; anything else fails the test.
fn expected(e: &StoreError) -> bool {
    matches!(
        e,
        StoreError::Conflict {
            code: "sold_out"
                | "hold_limit_reached"
                | "booking_expired"
                | "refund_required"
                | "booking_cancelled"
                | "booking_refunded",
            ..
        }
    )
}

struct World {
    store: DynStore,
    db_url: String,
    backend: Backend,
    event: Uuid,
    tts: Vec<Uuid>,
    buyers: Vec<Uuid>,
    bookings: tokio::sync::Mutex<Vec<Uuid>>,
}

async fn apply(w: Arc<World>, op: Op) {
    let now = Utc::now();
    let pick = |list: &Vec<Uuid>, i: usize| (!list.is_empty()).then(|| list[i % list.len()]);
    let result = match op {
        Op::Hold {
            buyer,
            tt,
            qty,
            lapsed,
        } => {
            let r = w
                .store
                .hold(&NewHold {
                    user_id: w.buyers[buyer],
                    event_id: w.event,
                    items: vec![HoldItem {
                        ticket_type_id: w.tts[tt],
                        quantity: qty,
                    }],
                    max_held_per_user: 6,
                    now: if lapsed {
                        now - Duration::minutes(11)
                    } else {
                        now
                    },
                })
                .await;
            if let Ok(b) = &r {
                w.bookings.lock().await.push(b.id);
            }
            r.map(|_| ())
        }
        Op::Cancel { pick: i } => {
            let Some(id) = pick(&*w.bookings.lock().await, i) else {
                return;
            };
            let b = w.store.get_booking(id).await.unwrap();
            w.store.cancel_booking(id, b.user_id, now).await.map(|_| ())
        }
        Op::Confirm { pick: i } => {
            let Some(id) = pick(&*w.bookings.lock().await, i) else {
                return;
            };
            w.store.confirm_booking(id, now).await.map(|_| ())
        }
        Op::Expire => w.store.expire_holds(now, 100).await.map(|_| ()),
    };
    if let Err(e) = result {
        assert!(expected(&e), "unexpected failure: {e:?}");
    }
}

async fn check(w: &World) {
    for tt in &w.tts {
        let counts = audit_url(w.backend, &w.db_url, *tt).await;
        assert_eq!(oversold(counts), None);
    }
    // Each buyer's hold counter equals their held admissions.
    let per_user = user_holds(w.backend, &w.db_url, w.event).await;
    for (counter, actual) in per_user {
        assert_eq!(counter, actual, "a buyer's hold counter drifted");
    }
    // The public read: available = capacity - sold - live held >= 0.
    let e = w.store.get_event(w.event, Scope::All).await.unwrap();
    for t in &e.ticket_types {
        assert!(t.available() >= 0 && t.held >= 0);
        assert_eq!(t.sold + t.held + t.available(), t.capacity);
    }
}

async fn audit_url(backend: Backend, url: &str, tt: Uuid) -> (i64, i64, i64, i64) {
    let db = TestDbRef { backend, url };
    audit_ref(&db, tt).await
}

struct TestDbRef<'a> {
    backend: Backend,
    url: &'a str,
}

async fn audit_ref(db: &TestDbRef<'_>, tt: Uuid) -> (i64, i64, i64, i64) {
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
            let (sold_rows,): (i64,) = sqlx::query_as(
                "SELECT CAST(COALESCE(SUM(bi.quantity), 0) AS BIGINT) FROM booking_items bi \
                 JOIN bookings b ON b.id = bi.booking_id \
                 WHERE bi.ticket_type_id = $1 AND b.status = 'confirmed'",
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
            assert_eq!(sold, sold_rows, "sold counter vs confirmed bookings");
            (taken, sold, held, capacity)
        }};
    }
    match db.backend {
        Backend::Postgres => q!(sqlx::PgPool::connect(db.url).await.unwrap()),
        Backend::Sqlite => q!(sqlx::SqlitePool::connect(db.url).await.unwrap()),
    }
}

/// (counter, held admissions) per buyer of the event.
async fn user_holds(backend: Backend, url: &str, event: Uuid) -> Vec<(i64, i64)> {
    let sql = "SELECT h.held, CAST(COALESCE((SELECT SUM(b.quantity) FROM bookings b \
               WHERE b.user_id = h.user_id AND b.event_id = h.event_id AND b.status = 'held'), 0) AS BIGINT) \
               FROM user_event_holds h WHERE h.event_id = $1";
    match backend {
        Backend::Postgres => {
            let pool = sqlx::PgPool::connect(url).await.unwrap();
            let r = sqlx::query_as(sql)
                .bind(event)
                .fetch_all(&pool)
                .await
                .unwrap();
            pool.close().await;
            r
        }
        Backend::Sqlite => {
            let pool = sqlx::SqlitePool::connect(url).await.unwrap();
            let r = sqlx::query_as(sql)
                .bind(event)
                .fetch_all(&pool)
                .await
                .unwrap();
            pool.close().await;
            r
        }
    }
}

#[test]
fn random_concurrent_operations_keep_the_invariant() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .enable_all()
        .build()
        .unwrap();
    let dbs = rt.block_on(TestDb::all());
    for db in dbs {
        let app = rt.block_on(app(db, &[]));
        let cases = if app.db.backend == Backend::Postgres {
            24
        } else {
            32
        };
        let mut runner = TestRunner::new(Config {
            cases,
            failure_persistence: None,
            ..Config::default()
        });
        let strategy = prop::collection::vec(prop::collection::vec(op(), 1..5), 1..10);
        runner
            .run(&strategy, |rounds| {
                rt.block_on(async {
                    let (_, event, tts) =
                        published_event(&app, &[("A", 8, 4), ("B", 5, 4)], json!({})).await;
                    let mut buyers = Vec::new();
                    for _ in 0..4 {
                        buyers.push(buyer(&app).await.0);
                    }
                    let w = Arc::new(World {
                        store: app.state.store.clone(),
                        db_url: app.db.url.clone(),
                        backend: app.db.backend,
                        event: event.parse().unwrap(),
                        tts: tts.iter().map(|t| t.parse().unwrap()).collect(),
                        buyers,
                        bookings: Default::default(),
                    });
                    for round in rounds {
                        let mut set = tokio::task::JoinSet::new();
                        for op in round {
                            set.spawn(apply(w.clone(), op));
                        }
                        while let Some(r) = set.join_next().await {
                            r.unwrap();
                        }
                        check(&w).await;
                    }
                });
                Ok(())
            })
            .unwrap();
    }
}
