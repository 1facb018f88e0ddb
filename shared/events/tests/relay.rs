//! The relay against real databases (SQLite always, PostgreSQL when
//! `TEST_DATABASE_URL` is set): per-partition order with many relays at
//! once (with a naive relay as negative control), retries and dead
//! letters, and leases handing a dead relay's rows to another.

#![allow(clippy::unwrap_used)]

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::Utc;
use serde_json::json;
use tg_events::publish::SinkPublisher;
use tg_events::{CloudEvent, DeliveryError, EventSink, Relay, RelayConfig};
use tg_store::DynStore;
use tg_testkit::{Backend, TestDb};

/// Records (partition, n) in delivery order; fails events marked poison.
#[derive(Default)]
struct Recorder {
    log: Mutex<Vec<(String, i64)>>,
    jitter: bool,
}

#[async_trait::async_trait]
impl EventSink for Recorder {
    async fn deliver(&self, e: &CloudEvent) -> Result<(), DeliveryError> {
        let d = e.data.clone().unwrap_or_default();
        if d["poison"].as_bool() == Some(true) {
            self.log.lock().unwrap().push((
                format!("fail:{}", d["partition"].as_str().unwrap_or("")),
                d["n"].as_i64().unwrap_or(-1),
            ));
            return Err(DeliveryError::Retryable("poison".into()));
        }
        if self.jitter {
            tokio::time::sleep(Duration::from_micros(fastrand::u64(0..1500))).await;
        }
        self.log.lock().unwrap().push((
            d["partition"].as_str().unwrap_or("").to_owned(),
            d["n"].as_i64().unwrap_or(-1),
        ));
        Ok(())
    }
}

fn config(name: &str) -> RelayConfig {
    RelayConfig {
        name: name.into(),
        batch: 50,
        poll: Duration::from_millis(5),
        lease: Duration::from_secs(30),
        max_attempts: 3,
        retry_base: Duration::from_millis(20),
        retry_max: Duration::from_millis(100),
        unsafe_mark_before_publish: false,
    }
}

/// `n` events over `partitions` partitions, interleaved; returns nothing
/// (each event's data carries its partition and its number in it).
async fn emit(store: &DynStore, n: usize, partitions: usize) {
    let mut next: HashMap<usize, i64> = HashMap::new();
    for i in 0..n {
        let p = i % partitions;
        let k = next.entry(p).or_insert(0);
        *k += 1;
        store
            .outbox_emit(
                "test.event",
                "/tests",
                &format!("p/{p}"),
                &format!("p{p}"),
                &json!({"partition": format!("p{p}"), "n": *k}),
                Utc::now(),
            )
            .await
            .unwrap();
    }
}

/// Partitions whose events were delivered out of order.
fn violations(log: &[(String, i64)]) -> usize {
    let mut last: HashMap<&str, i64> = HashMap::new();
    let mut bad = 0;
    for (p, n) in log {
        let prev = last.insert(p.as_str(), *n).unwrap_or(0);
        if *n <= prev {
            bad += 1;
        }
    }
    bad
}

async fn drain(store: &DynStore) {
    for _ in 0..2000 {
        if store.outbox_stats().await.unwrap().pending == 0 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("the outbox did not drain");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn many_relays_keep_each_partition_in_order_and_deliver_once() {
    for db in TestDb::all().await {
        let store = db.store().await;
        const N: usize = 1500;
        emit(&store, N, 60).await;
        let sink = Arc::new(Recorder {
            jitter: true,
            ..Default::default()
        });
        let stop = Arc::new(tokio::sync::Notify::new());
        let mut relays = Vec::new();
        for r in 0..4 {
            let relay = Relay::new(
                store.clone(),
                Box::new(SinkPublisher::new(sink.clone(), "test")),
                config(&format!("relay-{r}")),
            );
            let stop = stop.clone();
            relays.push(tokio::spawn(
                relay.run(async move { stop.notified().await }),
            ));
        }
        drain(&store).await;
        stop.notify_waiters();
        for r in relays {
            r.await.unwrap();
        }
        let log = sink.log.lock().unwrap().clone();
        assert_eq!(log.len(), N, "{:?}: every event exactly once", db.backend);
        assert_eq!(violations(&log), 0, "{:?}: partitions in order", db.backend);

        if db.backend == Backend::Postgres {
            // Negative control: relays claiming with plain SKIP LOCKED (no
            // partition guard) publish some partition out of order.
            emit(&store, N, 60).await;
            let pool = sqlx::PgPool::connect(&db.url).await.unwrap();
            let naive = Arc::new(Recorder {
                jitter: true,
                ..Default::default()
            });
            let mut tasks = Vec::new();
            for _ in 0..4 {
                let (pool, sink) = (pool.clone(), naive.clone());
                tasks.push(tokio::spawn(async move {
                    loop {
                        let mut tx = pool.begin().await.unwrap();
                        let rows: Vec<(i64, String)> = sqlx::query_as(
                            "SELECT seq, data FROM outbox WHERE sent_at IS NULL ORDER BY seq LIMIT 50 FOR UPDATE SKIP LOCKED",
                        )
                        .fetch_all(&mut *tx)
                        .await
                        .unwrap();
                        if rows.is_empty() {
                            break;
                        }
                        for (seq, data) in rows {
                            let mut e = CloudEvent::new("test.event", "/tests", serde_json::from_str(&data).unwrap());
                            e.id = seq.to_string();
                            sink.deliver(&e).await.unwrap();
                            sqlx::query("UPDATE outbox SET sent_at = now() WHERE seq = $1")
                                .bind(seq)
                                .execute(&mut *tx)
                                .await
                                .unwrap();
                        }
                        tx.commit().await.unwrap();
                    }
                }));
            }
            for t in tasks {
                t.await.unwrap();
            }
            let log = naive.log.lock().unwrap().clone();
            assert_eq!(log.len(), N);
            assert!(
                violations(&log) > 0,
                "the naive relay must reorder some partition (the test must be able to fail)"
            );
        }
    }
}

#[tokio::test]
async fn a_failing_event_is_retried_then_dead_lettered_and_holds_back_its_partition() {
    for db in TestDb::all().await {
        let store = db.store().await;
        let emit_one = |p: &'static str, n: i64, poison: bool| {
            let store = store.clone();
            async move {
                store
                    .outbox_emit(
                        "test.event",
                        "/tests",
                        p,
                        p,
                        &json!({"partition": p, "n": n, "poison": poison}),
                        Utc::now(),
                    )
                    .await
                    .unwrap()
            }
        };
        let bad = emit_one("a", 1, true).await;
        emit_one("a", 2, false).await;
        emit_one("b", 1, false).await;
        let sink = Arc::new(Recorder::default());
        let dead: Arc<Mutex<Vec<String>>> = Arc::default();
        let d = dead.clone();
        let log = sink.clone();
        let mut relay = Relay::new(
            store.clone(),
            Box::new(SinkPublisher::new(sink.clone(), "test")),
            config("r"),
        )
        .on_dead(Arc::new(move |e, _| {
            // Record where in the delivery log the dead letter happened.
            d.lock()
                .unwrap()
                .push(format!("{}@{}", e.id, log.log.lock().unwrap().len()));
        }));
        for _ in 0..400 {
            relay.pass().await.unwrap();
            if store.outbox_stats().await.unwrap().pending == 0 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let log = sink.log.lock().unwrap().clone();
        let fails = log.iter().filter(|(p, _)| p == "fail:a").count();
        assert_eq!(fails, 3, "{:?}: three attempts: {log:?}", db.backend);
        let a2 = log
            .iter()
            .position(|(p, n)| p == "a" && *n == 2)
            .expect("a2 delivered after the dead letter");
        let last_fail = log.iter().rposition(|(p, _)| p == "fail:a").unwrap();
        assert!(
            a2 > last_fail,
            "{:?}: a2 waited for a1 to be given up: {log:?}",
            db.backend
        );
        assert!(
            log.iter().position(|(p, _)| p == "b").unwrap() < last_fail,
            "b was not held back by a"
        );
        let dead = dead.lock().unwrap().clone();
        assert_eq!(dead.len(), 1, "one dead letter");
        assert!(dead[0].starts_with(&bad.to_string()));
        let row = store.outbox_get(bad).await.unwrap().unwrap();
        assert_eq!(row.attempts, 3);
        assert!(row.sent_at.is_none());
        assert_eq!(store.outbox_stats().await.unwrap().dead, 1);
    }
}

#[tokio::test]
async fn a_dead_relays_claim_returns_after_its_lease() {
    for db in TestDb::all().await {
        let store = db.store().await;
        emit(&store, 10, 3).await;
        let now = Utc::now();
        // Relay "a" claims everything, then dies without publishing.
        let claimed = store
            .outbox_claim("a", 100, now, now + chrono::Duration::milliseconds(800))
            .await
            .unwrap();
        assert_eq!(claimed.len(), 10);
        let sink = Arc::new(Recorder::default());
        let mut b = Relay::new(
            store.clone(),
            Box::new(SinkPublisher::new(sink.clone(), "test")),
            config("b"),
        );
        assert_eq!(
            b.pass().await.unwrap().claimed,
            0,
            "{:?}: leased rows are not taken",
            db.backend
        );
        tokio::time::sleep(Duration::from_millis(900)).await;
        let r = b.pass().await.unwrap();
        assert_eq!((r.claimed, r.delivered), (10, 10), "{:?}", db.backend);
        assert_eq!(violations(&sink.log.lock().unwrap()), 0);
    }
}

#[tokio::test]
async fn published_rows_and_old_notification_records_are_pruned() {
    for db in TestDb::all().await {
        let store = db.store().await;
        emit(&store, 3, 2).await;
        let now = Utc::now();
        let rows = store
            .outbox_claim("p", 10, now, now + chrono::Duration::seconds(30))
            .await
            .unwrap();
        let seqs: Vec<i64> = rows.iter().map(|r| r.seq).collect();
        store
            .outbox_mark_sent(&seqs, now - chrono::Duration::days(8))
            .await
            .unwrap();
        emit(&store, 1, 1).await; // unsent: never pruned
        assert_eq!(
            store
                .outbox_prune(now - chrono::Duration::days(7))
                .await
                .unwrap(),
            3,
            "{:?}",
            db.backend
        );
        assert_eq!(store.outbox_stats().await.unwrap().pending, 1);

        let old = now - chrono::Duration::days(40);
        let key = tg_store::NotificationKey {
            source: "/tests".into(),
            event_id: "1".into(),
            channel: "email".into(),
            recipient: "a@example.test".into(),
        };
        assert_eq!(
            store
                .notification_claim(&key, old, old + chrono::Duration::seconds(30))
                .await
                .unwrap(),
            tg_store::NotificationClaim::Claimed
        );
        store
            .notification_finish(&key, "sent", None, old)
            .await
            .unwrap();
        assert!(
            store
                .notification_quota_take("email:a@example.test", old.date_naive(), 5)
                .await
                .unwrap()
        );
        assert!(
            store
                .notification_prune(now - chrono::Duration::days(30))
                .await
                .unwrap()
                >= 2
        );
        assert_eq!(store.notification_count("sent").await.unwrap(), 0);
    }
}
