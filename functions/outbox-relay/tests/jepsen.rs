//! Jepsen-style count: 10,000 booking confirmations go from the outbox
//! (PostgreSQL) through two relay processes (killed with SIGKILL and
//! restarted at random moments) and RabbitMQ (every connection cut at
//! random moments) to the dispatcher, the notification function and a real
//! SMTP server (aiosmtpd). At the end the SMTP server's own record must
//! hold exactly one message per confirmation: lost = 0, duplicates sent = 0.
//!
//! The checker's negative controls: a relay that marks rows before the
//! broker's confirm loses events (`amqp.rs`), and a consumer without its
//! deduplication record sends a duplicate, which the count below detects.
//!
//! Knobs: `JEPSEN_CONFIRMATIONS` (default 10000; under `CI` it must be the
//! claimed 10,000). A run without at least one relay kill, one cut of the
//! relays' broker connections and one cut of the dispatcher's, and at least
//! five chaos events in all, is a failed run.

#![allow(clippy::unwrap_used)]

mod common;

use std::collections::HashMap;
use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::{Duration, Instant};

use common::*;
use tg_store::DynStore;
use tg_testkit::fixtures::{buyer, confirmed_booking, published_event};
use tg_testkit::peers::{ChaosProxy, SmtpSink, amqp_addr, amqp_url, amqp_via, free_port};
use tg_testkit::{TestDb, spawn_app_with};
use tokio::process::{Child, Command};

fn spawn_relay(db_url: &str, amqp: &str, exchange: &str, name: &str) -> Child {
    Command::new(env!("CARGO_BIN_EXE_outbox-relay"))
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("DATABASE_URL", db_url)
        .env("TICKETGW_RELAY_TARGET", "amqp")
        .env("TICKETGW_AMQP_URL", amqp)
        .env("TICKETGW_AMQP_EXCHANGE", exchange)
        .env("TICKETGW_RELAY_NAME", name)
        .env("TICKETGW_RELAY_LEASE_SECS", "2")
        .env("TICKETGW_RELAY_BATCH", "100")
        .env("TICKETGW_RELAY_POLL_MS", "20")
        .env("TICKETGW_MIGRATE_ON_START", "false")
        .env("TICKETGW_BIND", "127.0.0.1")
        .env("PORT", free_port().to_string())
        .env("RUST_LOG", "error")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("start the relay process")
}

async fn make_confirmations(store: &DynStore, n: usize) {
    let (event, tt) = published_event(store, "Jepsen Live", n as i64 + 10).await;
    let buyers: Vec<uuid::Uuid> = {
        let mut v = Vec::new();
        for i in 0..100 {
            v.push(buyer(store, &format!("buyer{i}@jepsen.test"), None).await);
        }
        v
    };
    let next = Arc::new(AtomicU32::new(0));
    let mut tasks = Vec::new();
    for _ in 0..16 {
        let (store, next, buyers) = (store.clone(), next.clone(), buyers.clone());
        tasks.push(tokio::spawn(async move {
            loop {
                let i = next.fetch_add(1, Ordering::SeqCst) as usize;
                if i >= n {
                    break;
                }
                confirmed_booking(&store, buyers[i % buyers.len()], event, tt, 1).await;
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn ten_thousand_confirmations_survive_kills_and_cuts_exactly_once() {
    const CLAIMED: usize = 10_000;
    let Some(url) = amqp_url() else { return };
    let Some(db) = TestDb::postgres().await else {
        return;
    };
    let Some(sink) = SmtpSink::start(false).await else {
        return;
    };
    let n: usize = std::env::var("JEPSEN_CONFIRMATIONS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(CLAIMED);
    if n != CLAIMED {
        assert!(
            std::env::var_os("CI").is_none(),
            "JEPSEN_CONFIRMATIONS={n}: CI runs the claimed {CLAIMED}"
        );
        eprintln!("jepsen: WARNING {n} confirmations, not the claimed {CLAIMED}");
    }
    let db_url = db.url.clone();
    let deliveries = Deliveries::default();
    let d = deliveries.clone();
    let smtp = sink.url();
    let app = spawn_app_with(
        db,
        move |s| {
            let cfg = notifications::NotifyConfig::from_lookup(
                |k| match k {
                    "TICKETGW_SMTP_URL" => Some(smtp.clone()),
                    "TICKETGW_NOTIFY_DAILY_CAP" => Some("0".into()),
                    _ => None,
                },
                &s.config,
            )
            .unwrap();
            d.layer(notifications::router_with(Arc::new(
                notifications::Notifier::new(s.store.clone(), cfg).unwrap(),
            )))
        },
        &[],
    )
    .await;
    let store = app.state.store.clone();
    let started = Instant::now();
    make_confirmations(&store, n).await;
    eprintln!(
        "jepsen: {n} confirmations written in {:?}",
        started.elapsed()
    );

    let (_c, ch) = channel(&url).await;
    let exchange = unique("tgtest.jepsen");
    // Two proxies: one for the relays, one for the dispatcher.
    let relay_proxy = Arc::new(ChaosProxy::start(amqp_addr(&url)).await);
    let dispatch_proxy = Arc::new(ChaosProxy::start(amqp_addr(&url)).await);
    let mut config = tg_events::dispatch::DispatchConfig::in_process(
        &amqp_via(&url, dispatch_proxy.addr),
        &exchange,
    );
    config.queue = format!("{exchange}.notifications");
    config.prefetch = 32;
    config.backoff_base = Duration::from_millis(100);
    config.backoff_max = Duration::from_secs(2);
    config.max_attempts = 50;
    let (target, dls) = {
        let mut c = config.clone();
        c.target = Some(format!("{}/events", app.base));
        c.dead_letter_url = Some(format!("{}/deadletters", app.base));
        tg_events::dispatch::http_sinks(&c).unwrap()
    };
    let stop = Arc::new(tokio::sync::Notify::new());
    let s2 = stop.clone();
    let dispatcher = tokio::spawn(tg_events::dispatch::run(
        config.clone(),
        target,
        dls,
        async move { s2.notified().await },
    ));
    // The queue must exist before the first publish (or events go to the
    // unrouted queue, as any unbound event does).
    tokio::time::sleep(Duration::from_millis(800)).await;

    let relay_url = amqp_via(&url, relay_proxy.addr);
    let mut relays = vec![
        spawn_relay(&db_url, &relay_url, &exchange, "jepsen-a"),
        spawn_relay(&db_url, &relay_url, &exchange, "jepsen-b"),
    ];

    // Chaos: SIGKILL a relay, or cut every broker connection, at random
    // moments, until the outbox has drained (and for at least 10 s).
    let chaos_on = Arc::new(AtomicBool::new(true));
    let kills = Arc::new(AtomicU32::new(0));
    let cuts = Arc::new(AtomicU32::new(0));
    let (mut relay_cuts, mut dispatch_cuts) = (0u32, 0u32);
    let mut round = 0u32;
    let deadline = Instant::now() + Duration::from_secs(420);
    let chaos_start = Instant::now();
    loop {
        tokio::time::sleep(Duration::from_millis(fastrand::u64(200..1200))).await;
        // The first three events are one of each kind, then at random.
        let kind = if round < 3 {
            round as u8
        } else {
            fastrand::u8(0..3)
        };
        round += 1;
        match kind {
            0 => {
                let i = fastrand::usize(0..relays.len());
                let _ = relays[i].start_kill();
                let _ = relays[i].wait().await;
                kills.fetch_add(1, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(fastrand::u64(0..400))).await;
                relays[i] = spawn_relay(
                    &db_url,
                    &relay_url,
                    &exchange,
                    if i == 0 { "jepsen-a" } else { "jepsen-b" },
                );
            }
            1 => {
                relay_proxy.cut();
                relay_cuts += 1;
                cuts.fetch_add(1, Ordering::SeqCst);
            }
            _ => {
                dispatch_proxy.cut();
                dispatch_cuts += 1;
                cuts.fetch_add(1, Ordering::SeqCst);
            }
        }
        let pending = store.outbox_stats().await.unwrap().pending;
        if pending == 0 && chaos_start.elapsed() > Duration::from_secs(10) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the outbox did not drain under chaos ({pending} left)"
        );
    }
    chaos_on.store(false, Ordering::SeqCst);
    eprintln!(
        "jepsen: outbox drained after {:?} with {} relay kills and {} connection cuts",
        chaos_start.elapsed(),
        kills.load(Ordering::SeqCst),
        cuts.load(Ordering::SeqCst)
    );

    // Let the consumers finish: wait until the SMTP record stops growing.
    let mut last = (0, Instant::now());
    loop {
        let count = sink.records().len();
        if count != last.0 {
            last = (count, Instant::now());
        }
        if count >= n && last.1.elapsed() > Duration::from_secs(3) {
            break;
        }
        if last.1.elapsed() > Duration::from_secs(60) || Instant::now() > deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }

    let records = sink.records();
    let mut per_id: HashMap<String, u32> = HashMap::new();
    for r in &records {
        *per_id
            .entry(r.message_id.clone().unwrap_or_default())
            .or_default() += 1;
    }
    let duplicates_sent: u32 = per_id.values().map(|c| c - 1).sum();
    let lost = n.saturating_sub(per_id.len());
    eprintln!(
        "jepsen: confirmations {n}, messages at the SMTP server {}, unique {}, lost {lost}, duplicates sent {duplicates_sent}; \
         deliveries to the consumer {} (unique events {}), duplicate deliveries absorbed {}",
        records.len(),
        per_id.len(),
        deliveries.total(),
        deliveries.unique(),
        deliveries.total() as usize - deliveries.unique()
    );
    let killed = kills.load(Ordering::SeqCst);
    assert!(killed >= 1, "no relay was killed: not a chaos run");
    assert!(
        relay_cuts >= 1,
        "the relays' broker connections were never cut"
    );
    assert!(
        dispatch_cuts >= 1,
        "the dispatcher's broker connection was never cut"
    );
    assert!(
        killed + relay_cuts + dispatch_cuts >= 5,
        "only {} chaos events",
        killed + relay_cuts + dispatch_cuts
    );
    assert_eq!(lost, 0, "lost confirmations");
    assert_eq!(duplicates_sent, 0, "duplicate messages");
    assert_eq!(records.len(), n, "messages at the SMTP server");
    assert_eq!(per_id.len(), n, "distinct confirmations at the SMTP server");
    assert_eq!(store.notification_count("sent").await.unwrap() as usize, n);

    // Negative control of the duplicate count: a consumer that forgot one
    // message (its dedup row gone) sends it again, and the count sees it.
    let any = store
        .outbox_after(0, 50)
        .await
        .unwrap()
        .into_iter()
        .find(|e| e.event_type == "booking.confirmed")
        .unwrap();
    let ev = tg_events::CloudEvent::from_outbox(&any);
    let pool = sqlx::PgPool::connect(&db_url).await.unwrap();
    sqlx::query("DELETE FROM notification_log WHERE event_id = $1")
        .bind(&ev.id)
        .execute(&pool)
        .await
        .unwrap();
    let (h, body) = ev.to_binary();
    let r = reqwest::Client::new()
        .post(format!("{}/events", app.base))
        .headers(h)
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let records = sink.records();
    let unique: std::collections::HashSet<_> =
        records.iter().map(|r| r.message_id.clone()).collect();
    assert_eq!(
        records.len() - unique.len(),
        1,
        "the checker detects a duplicate send"
    );

    stop.notify_waiters();
    for mut r in relays {
        let _ = r.start_kill();
        let _ = r.wait().await;
    }
    dispatcher.await.unwrap();
    delete_queues(
        &ch,
        &[
            config.queue.clone(),
            config.retry_queue(),
            config.dead_letter_queue(),
        ],
    )
    .await;
    delete_exchange(&ch, &exchange).await;
    sink.stop().await;
}
