//! The relay and the dispatcher against the real RabbitMQ
//! (`TEST_AMQP_URL`): a broker outage only delays events (the outbox keeps
//! them), marking rows before the broker's confirm loses them (negative
//! control), and a poison event reaches the dead-letter queue after N
//! attempts and alerts the operators.

#![allow(clippy::unwrap_used)]

mod common;

use std::sync::Arc;
use std::time::Duration;

use axum::http::StatusCode;
use chrono::Utc;
use common::*;
use serde_json::{Value, json};
use tg_events::publish::AmqpPublisher;
use tg_events::{Relay, RelayConfig};
use tg_store::DynStore;
use tg_testkit::peers::{ChaosProxy, FakeHttp, amqp_addr, amqp_url, amqp_via};
use tg_testkit::{TestDb, spawn_app_with};

fn relay_config(name: &str) -> RelayConfig {
    RelayConfig {
        name: name.into(),
        batch: 100,
        poll: Duration::from_millis(10),
        lease: Duration::from_secs(5),
        max_attempts: 5,
        retry_base: Duration::from_millis(50),
        retry_max: Duration::from_millis(500),
        unsafe_mark_before_publish: false,
    }
}

async fn emit(store: &DynStore, n: usize) -> Vec<String> {
    let mut ids = Vec::new();
    for i in 0..n {
        let id = store
            .outbox_emit(
                "test.event",
                "/tests",
                "t",
                &format!("k{}", i % 7),
                &json!({"n": i}),
                Utc::now(),
            )
            .await
            .unwrap();
        ids.push(id.to_string());
    }
    ids
}

async fn passes(relay: &mut Relay, store: &DynStore, until_empty: bool, max: Duration) {
    let deadline = tokio::time::Instant::now() + max;
    while tokio::time::Instant::now() < deadline {
        let _ = relay.pass().await;
        if until_empty && store.outbox_stats().await.unwrap().pending == 0 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn a_broker_outage_only_delays_events_and_marking_early_loses_them() {
    let Some(url) = amqp_url() else { return };
    let db = match TestDb::postgres().await {
        Some(db) => db,
        None => TestDb::sqlite().await,
    };
    let store = db.store().await;
    let (_c, ch) = channel(&url).await;
    let exchange = unique("tgtest.outage");
    let queue = format!("{exchange}.tap");
    tap(&ch, &exchange, &queue).await;
    let proxy = ChaosProxy::start(amqp_addr(&url)).await;
    let via = amqp_via(&url, proxy.addr);

    // The broker is unreachable: nothing leaves the outbox.
    proxy.set_down(true);
    let ids = emit(&store, 300).await;
    let mut relay = Relay::new(
        store.clone(),
        Box::new(AmqpPublisher::new(&via, &exchange)),
        relay_config("r1"),
    );
    passes(&mut relay, &store, false, Duration::from_millis(800)).await;
    assert_eq!(
        store.outbox_stats().await.unwrap().pending,
        300,
        "kept while the broker is down"
    );
    assert!(drain(&ch, &queue).await.is_empty());

    // It comes back: everything drains, each event confirmed by the broker.
    proxy.set_down(false);
    passes(&mut relay, &store, true, Duration::from_secs(30)).await;
    assert_eq!(store.outbox_stats().await.unwrap().pending, 0);
    let got: std::collections::HashSet<String> =
        drain(&ch, &queue).await.into_iter().map(|m| m.0).collect();
    let lost = ids.iter().filter(|id| !got.contains(*id)).count();
    assert_eq!(lost, 0, "nothing lost across the outage");

    // Negative control: a relay that marks rows sent before the broker
    // confirmed them loses every event published into the outage.
    let ids = emit(&store, 200).await;
    let mut unsafe_cfg = relay_config("r2");
    unsafe_cfg.unsafe_mark_before_publish = true;
    let mut bad = Relay::new(
        store.clone(),
        Box::new(AmqpPublisher::new(&via, &exchange)),
        unsafe_cfg,
    );
    proxy.set_down(true);
    passes(&mut bad, &store, false, Duration::from_millis(500)).await;
    proxy.set_down(false);
    passes(&mut bad, &store, true, Duration::from_secs(10)).await;
    let got: std::collections::HashSet<String> =
        drain(&ch, &queue).await.into_iter().map(|m| m.0).collect();
    let lost = ids.iter().filter(|id| !got.contains(*id)).count();
    assert!(
        lost > 0,
        "marking before the confirm must lose events (the check can fail)"
    );
    assert_eq!(
        store.outbox_stats().await.unwrap().pending,
        0,
        "...while the outbox believes they were sent"
    );

    delete_queues(&ch, &[queue]).await;
    delete_exchange(&ch, &exchange).await;
}

#[tokio::test]
async fn a_poison_event_is_dead_lettered_after_n_attempts_and_alerts() {
    let Some(url) = amqp_url() else { return };
    let telegram = FakeHttp::start(StatusCode::OK, r#"{"ok":true,"result":{}}"#).await;
    let db = TestDb::sqlite().await;
    let deliveries = Deliveries::default();
    let d = deliveries.clone();
    let tg_base = telegram.base.clone();
    let app = spawn_app_with(
        db,
        move |s| {
            let cfg = notifications::NotifyConfig::from_lookup(
                |k| match k {
                    "TICKETGW_TELEGRAM_BOT_TOKEN" => Some("1:T".into()),
                    "TICKETGW_TELEGRAM_CHAT_ID" => Some("-42".into()),
                    "TICKETGW_TELEGRAM_BASE_URL" => Some(tg_base.clone()),
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
    let (_c, ch) = channel(&url).await;
    let exchange = unique("tgtest.poison");
    let mut config = tg_events::dispatch::DispatchConfig::in_process(&url, &exchange);
    config.queue = format!("{exchange}.notifications");
    config.max_attempts = 3;
    config.backoff_base = Duration::from_millis(50);
    let (sink, dls) = {
        let mut c = config.clone();
        c.target = Some(format!("{}/events", app.base));
        c.dead_letter_url = Some(format!("{}/deadletters", app.base));
        tg_events::dispatch::http_sinks(&c).unwrap()
    };
    let stop = Arc::new(tokio::sync::Notify::new());
    let s2 = stop.clone();
    let dispatcher = tokio::spawn(tg_events::dispatch::run(
        config.clone(),
        sink,
        dls,
        async move { s2.notified().await },
    ));

    // A confirmation for a booking that does not exist: 503 every time.
    let poison = store
        .outbox_emit(
            "booking.confirmed",
            "/ticketgw/bookings",
            "bookings/x",
            "x",
            &json!({"booking_id": uuid::Uuid::new_v4()}),
            Utc::now(),
        )
        .await
        .unwrap()
        .to_string();
    // Unusable data: 422, dead-lettered at once.
    let malformed = store
        .outbox_emit(
            "booking.confirmed",
            "/ticketgw/bookings",
            "bookings/y",
            "y",
            &json!({"nothing": true}),
            Utc::now(),
        )
        .await
        .unwrap()
        .to_string();
    // Wait for the dispatcher's queue to exist before publishing.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let mut relay = Relay::new(
        store.clone(),
        Box::new(AmqpPublisher::new(&url, &exchange)),
        relay_config("p"),
    );
    passes(&mut relay, &store, true, Duration::from_secs(10)).await;

    let dlq = config.dead_letter_queue();
    let mut dead = Vec::new();
    for _ in 0..100 {
        dead.extend(drain(&ch, &dlq).await);
        if dead.len() >= 2 && telegram.requests().len() >= 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let p = dead
        .iter()
        .find(|m| m.0 == poison)
        .expect("the poison event is in the DLQ");
    assert_eq!(p.1, Some(3), "after three attempts");
    let m = dead
        .iter()
        .find(|m| m.0 == malformed)
        .expect("the malformed event is in the DLQ");
    assert_eq!(m.1, Some(1), "not retried");
    assert_eq!(deliveries.of(&poison), 3, "delivered three times");
    assert_eq!(deliveries.of(&malformed), 1);
    let alerts: Vec<Value> = telegram
        .requests()
        .iter()
        .map(|r| serde_json::from_slice(&r.body).unwrap())
        .collect();
    assert_eq!(alerts.len(), 2, "one alert per dead letter: {alerts:?}");
    assert!(
        alerts
            .iter()
            .any(|a| a["text"].as_str().unwrap().contains(&poison))
    );
    assert_eq!(
        drain(&ch, &config.queue).await.len(),
        0,
        "nothing left behind"
    );

    stop.notify_waiters();
    dispatcher.await.unwrap();
    delete_queues(&ch, &[config.queue.clone(), config.retry_queue(), dlq]).await;
    delete_exchange(&ch, &exchange).await;
}
