//! The dispatcher: what Knative Eventing's RabbitMQ Broker does for a
//! Trigger, for places without Knative (the local platform with RabbitMQ,
//! tests, plain VMs). It consumes a durable queue bound to the events
//! exchange (manual acks, bounded prefetch), posts each event to the
//! subscriber in binary content mode, and
//! * acks on 2xx;
//! * on 5xx, 404, 408, 409, 429, timeouts and connection errors, republishes
//!   the event to `<queue>.retry` with a growing per-message TTL (it
//!   dead-letters back into `<queue>` when the TTL ends) and acks the
//!   original, until `max_attempts`;
//! * then, or at once on other 4xx, publishes it to `<queue>.dlq` and posts
//!   it to the dead-letter sink (which alerts), and acks.
//!
//! Every republish waits for the broker's confirm before the original is
//! acked, so a crash at any point redelivers rather than loses: the
//! subscriber sees a duplicate, which it absorbs.

use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use lapin::Confirmation;
use lapin::options::{
    BasicAckOptions, BasicConsumeOptions, BasicNackOptions, BasicPublishOptions, BasicQosOptions,
    ConfirmSelectOptions, QueueBindOptions, QueueDeclareOptions,
};
use lapin::types::{AMQPValue, FieldTable};
use lapin::{Channel, Connection, ConnectionProperties};

use crate::CloudEvent;
use crate::publish::{DeliveryError, EventSink, HttpSink, amqp_properties, declare_exchange};

/// Header counting delivery attempts across retries.
pub const ATTEMPTS_HEADER: &str = "x-ticketgw-attempts";
pub const ERROR_HEADER: &str = "x-ticketgw-error";

#[derive(Debug, Clone)]
pub struct DispatchConfig {
    pub amqp_url: String,
    pub exchange: String,
    /// The subscriber's queue (`ticketgw.notifications`).
    pub queue: String,
    /// Routing-key patterns bound to the queue (event types, `#`, `booking.*`).
    pub bindings: Vec<String>,
    /// Where events are posted (`http://notifications/events`); `None`
    /// when the caller hands the dispatcher a sink in process.
    pub target: Option<String>,
    /// The dead-letter sink (`http://notifications/deadletters`).
    pub dead_letter_url: Option<String>,
    pub prefetch: u16,
    pub max_attempts: u32,
    pub backoff_base: Duration,
    pub backoff_max: Duration,
    pub timeout: Duration,
}

impl DispatchConfig {
    /// From `TICKETGW_DISPATCH_*` and `TICKETGW_AMQP_*` variables.
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> anyhow::Result<Self> {
        let get = |k: &str| get(k).filter(|v| !v.trim().is_empty());
        let need = |k: &str| get(k).ok_or_else(|| anyhow::anyhow!("{k} is required"));
        let num = |k: &str, d: u64| -> anyhow::Result<u64> {
            match get(k) {
                Some(v) => v
                    .trim()
                    .parse()
                    .map_err(|_| anyhow::anyhow!("{k}: `{v}` is not a whole number")),
                None => Ok(d),
            }
        };
        let prefetch = num("TICKETGW_DISPATCH_PREFETCH", 32)?;
        anyhow::ensure!(
            (1..=1000).contains(&prefetch),
            "TICKETGW_DISPATCH_PREFETCH must be 1..=1000"
        );
        let max_attempts = num("TICKETGW_DISPATCH_MAX_ATTEMPTS", 8)?;
        anyhow::ensure!(
            max_attempts >= 1,
            "TICKETGW_DISPATCH_MAX_ATTEMPTS must be at least 1"
        );
        Ok(DispatchConfig {
            amqp_url: need("TICKETGW_AMQP_URL")?,
            exchange: get("TICKETGW_AMQP_EXCHANGE")
                .unwrap_or_else(|| crate::DEFAULT_EXCHANGE.into()),
            queue: get("TICKETGW_DISPATCH_QUEUE")
                .unwrap_or_else(|| "ticketgw.notifications".into()),
            bindings: get("TICKETGW_DISPATCH_BINDINGS")
                .unwrap_or_else(|| crate::NOTIFICATION_TYPES.join(","))
                .split(',')
                .map(|s| s.trim().to_owned())
                .filter(|s| !s.is_empty())
                .collect(),
            target: Some(need("TICKETGW_DISPATCH_TARGET")?),
            dead_letter_url: get("TICKETGW_DISPATCH_DEADLETTER_URL"),
            prefetch: prefetch as u16,
            max_attempts: max_attempts as u32,
            backoff_base: Duration::from_millis(num("TICKETGW_DISPATCH_BACKOFF_MS", 1000)?),
            backoff_max: Duration::from_secs(num("TICKETGW_DISPATCH_BACKOFF_MAX_SECS", 300)?),
            timeout: Duration::from_secs(num("TICKETGW_DISPATCH_TIMEOUT_SECS", 30)?),
        })
    }

    /// Defaults for a dispatcher inside another process (the local
    /// platform) consuming the notification types.
    pub fn in_process(amqp_url: &str, exchange: &str) -> Self {
        DispatchConfig {
            amqp_url: amqp_url.to_owned(),
            exchange: exchange.to_owned(),
            queue: "ticketgw.notifications".into(),
            bindings: crate::NOTIFICATION_TYPES
                .iter()
                .map(|s| (*s).to_owned())
                .collect(),
            target: None,
            dead_letter_url: None,
            prefetch: 32,
            max_attempts: 8,
            backoff_base: Duration::from_secs(1),
            backoff_max: Duration::from_secs(300),
            timeout: Duration::from_secs(30),
        }
    }

    fn backoff(&self, attempt: u32) -> Duration {
        self.backoff_base
            .saturating_mul(2u32.saturating_pow(attempt.saturating_sub(1).min(20)))
            .min(self.backoff_max)
    }

    pub fn retry_queue(&self) -> String {
        format!("{}.retry", self.queue)
    }

    pub fn dead_letter_queue(&self) -> String {
        format!("{}.dlq", self.queue)
    }
}

/// Declares the subscriber's queues and bindings (idempotent).
pub async fn declare_topology(ch: &Channel, c: &DispatchConfig) -> anyhow::Result<()> {
    declare_exchange(ch, &c.exchange).await?;
    let durable = QueueDeclareOptions {
        durable: true,
        ..Default::default()
    };
    ch.queue_declare(c.queue.as_str().into(), durable, FieldTable::default())
        .await?;
    for b in &c.bindings {
        ch.queue_bind(
            c.queue.as_str().into(),
            c.exchange.as_str().into(),
            b.as_str().into(),
            QueueBindOptions::default(),
            FieldTable::default(),
        )
        .await?;
    }
    // Waiting room: messages sit here for their TTL, then go back to the
    // queue through the default exchange.
    let mut retry_args = FieldTable::default();
    retry_args.insert(
        "x-dead-letter-exchange".into(),
        AMQPValue::LongString("".into()),
    );
    retry_args.insert(
        "x-dead-letter-routing-key".into(),
        AMQPValue::LongString(c.queue.as_str().into()),
    );
    ch.queue_declare(c.retry_queue().as_str().into(), durable, retry_args)
        .await?;
    ch.queue_declare(
        c.dead_letter_queue().as_str().into(),
        durable,
        FieldTable::default(),
    )
    .await?;
    Ok(())
}

fn attempts_of(props: &lapin::BasicProperties) -> u32 {
    props
        .headers()
        .as_ref()
        .and_then(|h| h.inner().get(ATTEMPTS_HEADER).cloned())
        .and_then(|v| match v {
            AMQPValue::LongLongInt(n) => Some(n.max(0) as u32),
            AMQPValue::LongInt(n) => Some(n.max(0) as u32),
            AMQPValue::ShortInt(n) => Some(n.max(0) as u32),
            AMQPValue::LongUInt(n) => Some(n),
            _ => None,
        })
        .unwrap_or(0)
}

/// The subscriber and the optional dead-letter sink.
pub type Sinks = (Arc<dyn EventSink>, Option<Arc<dyn EventSink>>);

/// Sinks for the configured URLs (the standalone dispatcher).
pub fn http_sinks(c: &DispatchConfig) -> anyhow::Result<Sinks> {
    let target = c
        .target
        .as_deref()
        .ok_or_else(|| anyhow::anyhow!("TICKETGW_DISPATCH_TARGET is required"))?;
    let sink: Arc<dyn EventSink> = Arc::new(HttpSink::new(target, c.timeout)?);
    let dls: Option<Arc<dyn EventSink>> = match &c.dead_letter_url {
        Some(u) => Some(Arc::new(HttpSink::new(u, c.timeout)?)),
        None => None,
    };
    Ok((sink, dls))
}

/// Runs the dispatcher until `stop` resolves, reconnecting after broker
/// failures: events go to `sink`, given-up ones to `dls` (the alerting
/// dead-letter sink).
pub async fn run(
    config: DispatchConfig,
    sink: Arc<dyn EventSink>,
    dls: Option<Arc<dyn EventSink>>,
    stop: impl std::future::Future<Output = ()>,
) {
    tokio::pin!(stop);
    let mut failures = 0u32;
    loop {
        let session = tokio::select! {
            _ = &mut stop => return,
            r = session(&config, sink.clone(), dls.clone()) => r,
        };
        failures = failures.saturating_add(1);
        let wait =
            Duration::from_millis(200u64.saturating_mul(2u64.saturating_pow(failures.min(5))));
        match session {
            Ok(()) => tracing::warn!("the broker ended the consumer; reconnecting"),
            Err(e) => tracing::warn!(
                error = format!("{e:#}"),
                retry_in_ms = wait.as_millis() as u64,
                "dispatcher lost the broker; reconnecting"
            ),
        }
        tokio::select! {
            _ = &mut stop => return,
            _ = tokio::time::sleep(wait) => {}
        }
    }
}

async fn session(
    c: &DispatchConfig,
    sink: Arc<dyn EventSink>,
    dls: Option<Arc<dyn EventSink>>,
) -> anyhow::Result<()> {
    let conn = Connection::connect(
        &c.amqp_url,
        ConnectionProperties::default().with_connection_name("ticketgw-dispatcher".into()),
    )
    .await?;
    let ch = conn.create_channel().await?;
    declare_topology(&ch, c).await?;
    ch.basic_qos(c.prefetch, BasicQosOptions::default()).await?;
    // Republishing (retry, dead letter) goes through its own confirmed channel.
    let out = conn.create_channel().await?;
    out.confirm_select(ConfirmSelectOptions::default()).await?;
    let mut consumer = ch
        .basic_consume(
            c.queue.as_str().into(),
            "".into(),
            BasicConsumeOptions::default(),
            FieldTable::default(),
        )
        .await?;
    tracing::info!(queue = %c.queue, "dispatcher consuming");
    while let Some(delivery) = consumer.next().await {
        let delivery = delivery?;
        let (c, sink, dls, out) = (c.clone(), sink.clone(), dls.clone(), out.clone());
        // Detached: a delivery in flight when the connection dies runs to
        // its end (its ack then fails and the broker redelivers: a
        // duplicate the subscriber absorbs), instead of being cut off
        // halfway. At most `prefetch` are in flight.
        tokio::spawn(async move {
            if let Err(e) = handle(&c, &*sink, dls.as_deref(), &out, delivery).await {
                tracing::warn!(
                    error = format!("{e:#}"),
                    "dispatch failed; the broker redelivers"
                );
            }
        });
    }
    Ok(())
}

async fn handle(
    c: &DispatchConfig,
    sink: &dyn EventSink,
    dls: Option<&dyn EventSink>,
    out: &Channel,
    d: lapin::message::Delivery,
) -> anyhow::Result<()> {
    let attempts = attempts_of(&d.properties) + 1;
    let event = match CloudEvent::from_structured(&d.data) {
        Ok(e) => e,
        Err(e) => {
            // Not an event at all: straight to the dead-letter queue.
            metrics::counter!("dispatcher_dead_letters_total").increment(1);
            republish_raw(
                out,
                "",
                &c.dead_letter_queue(),
                &d.data,
                attempts,
                &e.0,
                None,
            )
            .await?;
            d.acker.ack(BasicAckOptions::default()).await?;
            return Ok(());
        }
    };
    let result = sink.deliver(&event).await;
    match result {
        Ok(()) => {
            d.acker.ack(BasicAckOptions::default()).await?;
        }
        Err(DeliveryError::Retryable(err)) if attempts < c.max_attempts => {
            let ttl = c.backoff(attempts);
            tracing::info!(event = %event.id, r#type = %event.ty, attempts, retry_in_ms = ttl.as_millis() as u64, error = %err, "delivery failed; retrying");
            if let Err(e) = republish_raw(
                out,
                "",
                &c.retry_queue(),
                &d.data,
                attempts,
                &err,
                Some(ttl),
            )
            .await
            {
                d.acker
                    .nack(BasicNackOptions {
                        requeue: true,
                        ..Default::default()
                    })
                    .await?;
                return Err(e);
            }
            d.acker.ack(BasicAckOptions::default()).await?;
        }
        Err(DeliveryError::Retryable(err)) | Err(DeliveryError::Permanent(err)) => {
            tracing::error!(event = %event.id, r#type = %event.ty, attempts, error = %err, "event dead-lettered");
            metrics::counter!("dispatcher_dead_letters_total").increment(1);
            if let Err(e) = republish_raw(
                out,
                "",
                &c.dead_letter_queue(),
                &d.data,
                attempts,
                &err,
                None,
            )
            .await
            {
                d.acker
                    .nack(BasicNackOptions {
                        requeue: true,
                        ..Default::default()
                    })
                    .await?;
                return Err(e);
            }
            if let Some(dls) = dls {
                let mut dead = event.clone();
                // The extensions Knative puts on dead-lettered events.
                dead.set_extension(
                    "knativeerrordest",
                    c.target.clone().unwrap_or_else(|| c.queue.clone()),
                );
                dead.set_extension(
                    "knativeerrordata",
                    err.chars().take(1000).collect::<String>(),
                );
                dead.set_extension("ticketgwattempts", attempts.to_string());
                for _ in 0..3 {
                    match dls.deliver(&dead).await {
                        Ok(()) => break,
                        Err(e) => {
                            tracing::warn!(error = ?e, "dead-letter sink did not take the event");
                            tokio::time::sleep(Duration::from_millis(300)).await;
                        }
                    }
                }
            }
            d.acker.ack(BasicAckOptions::default()).await?;
        }
    }
    Ok(())
}

async fn republish_raw(
    ch: &Channel,
    exchange: &str,
    routing_key: &str,
    body: &[u8],
    attempts: u32,
    error: &str,
    ttl: Option<Duration>,
) -> anyhow::Result<()> {
    let mut headers = FieldTable::default();
    headers.insert(
        ATTEMPTS_HEADER.into(),
        AMQPValue::LongLongInt(i64::from(attempts)),
    );
    headers.insert(
        ERROR_HEADER.into(),
        AMQPValue::LongString(error.chars().take(500).collect::<String>().as_str().into()),
    );
    let mut props = match CloudEvent::from_structured(body) {
        Ok(e) => amqp_properties(&e),
        Err(_) => lapin::BasicProperties::default().with_delivery_mode(2),
    }
    .with_headers(headers);
    if let Some(ttl) = ttl {
        props = props.with_expiration(ttl.as_millis().max(1).to_string().as_str().into());
    }
    let confirm = ch
        .basic_publish(
            exchange.into(),
            routing_key.into(),
            BasicPublishOptions::default(),
            body,
            props,
        )
        .await?
        .await?;
    match confirm {
        Confirmation::Ack(_) => Ok(()),
        other => anyhow::bail!("the broker did not confirm the republish: {other:?}"),
    }
}
