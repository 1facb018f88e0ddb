//! Helpers for the pipeline tests against the real RabbitMQ.

#![allow(dead_code, clippy::unwrap_used)]

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::Router;
use futures_util::StreamExt;
use lapin::options::{BasicGetOptions, QueueBindOptions, QueueDeclareOptions, QueueDeleteOptions};
use lapin::types::{AMQPValue, FieldTable};
use lapin::{Channel, Connection, ConnectionProperties};

pub fn unique(prefix: &str) -> String {
    format!("{prefix}.{}", uuid::Uuid::new_v4().simple())
}

pub async fn channel(url: &str) -> (Connection, Channel) {
    let conn = Connection::connect(url, ConnectionProperties::default())
        .await
        .unwrap();
    let ch = conn.create_channel().await.unwrap();
    (conn, ch)
}

/// A durable queue bound to `exchange` with `#` (declares the exchange).
pub async fn tap(ch: &Channel, exchange: &str, queue: &str) {
    tg_events::publish::declare_exchange(ch, exchange)
        .await
        .unwrap();
    ch.queue_declare(
        queue.into(),
        QueueDeclareOptions {
            durable: true,
            ..Default::default()
        },
        FieldTable::default(),
    )
    .await
    .unwrap();
    ch.queue_bind(
        queue.into(),
        exchange.into(),
        "#".into(),
        QueueBindOptions::default(),
        FieldTable::default(),
    )
    .await
    .unwrap();
}

/// Every message in `queue` (removed): (message id, attempts header).
pub async fn drain(ch: &Channel, queue: &str) -> Vec<(String, Option<i64>)> {
    let mut out = Vec::new();
    while let Some(m) = ch
        .basic_get(queue.into(), BasicGetOptions { no_ack: true })
        .await
        .unwrap()
    {
        let id = m
            .delivery
            .properties
            .message_id()
            .as_ref()
            .map(|s| s.to_string())
            .unwrap_or_default();
        let attempts = m
            .delivery
            .properties
            .headers()
            .as_ref()
            .and_then(|h| h.inner().get(tg_events::dispatch::ATTEMPTS_HEADER).cloned())
            .and_then(|v| match v {
                AMQPValue::LongLongInt(n) => Some(n),
                _ => None,
            });
        out.push((id, attempts));
    }
    out
}

pub async fn delete_queues(ch: &Channel, queues: &[String]) {
    for q in queues {
        let _ = ch
            .queue_delete(q.as_str().into(), QueueDeleteOptions::default())
            .await;
    }
}

pub async fn delete_exchange(ch: &Channel, exchange: &str) {
    let _ = ch
        .exchange_delete(exchange.into(), Default::default())
        .await;
    let _ = ch
        .exchange_delete(
            format!("{exchange}{}", tg_events::publish::UNROUTED_SUFFIX)
                .as_str()
                .into(),
            Default::default(),
        )
        .await;
    let _ = ch
        .queue_delete(
            format!("{exchange}{}", tg_events::publish::UNROUTED_SUFFIX)
                .as_str()
                .into(),
            QueueDeleteOptions::default(),
        )
        .await;
}

/// Counts CloudEvent deliveries per `ce-id` reaching a router.
#[derive(Clone, Default)]
pub struct Deliveries(pub Arc<Mutex<HashMap<String, u32>>>);

impl Deliveries {
    pub fn layer(&self, router: Router) -> Router {
        let seen = self.0.clone();
        router.layer(axum::middleware::from_fn(
            move |req: axum::extract::Request, next: axum::middleware::Next| {
                let seen = seen.clone();
                async move {
                    if req.uri().path() == "/events"
                        && let Some(id) = req.headers().get("ce-id").and_then(|v| v.to_str().ok())
                    {
                        *seen.lock().unwrap().entry(id.to_owned()).or_default() += 1;
                    }
                    next.run(req).await
                }
            },
        ))
    }

    pub fn total(&self) -> u32 {
        self.0.lock().unwrap().values().sum()
    }

    pub fn unique(&self) -> usize {
        self.0.lock().unwrap().len()
    }

    pub fn of(&self, id: &str) -> u32 {
        self.0.lock().unwrap().get(id).copied().unwrap_or(0)
    }
}

/// Ignored: keeps `StreamExt` in use for tests that consume.
pub fn _stream_ext<S: StreamExt>(_: S) {}
