//! Where the relay publishes: RabbitMQ (a durable topic exchange, persistent
//! messages, publisher confirms), AWS SQS, an HTTP sink (the Knative
//! Broker's ingress, `K_SINK`), or a handler in the same process (the local
//! platform). Each reports an outcome per event; a row is marked sent only
//! for [`Outcome::Delivered`], which for RabbitMQ means the broker
//! confirmed it.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use lapin::Confirmation;
use lapin::options::{BasicPublishOptions, ConfirmSelectOptions, ExchangeDeclareOptions};
use lapin::types::{AMQPValue, FieldTable};
use lapin::{BasicProperties, Channel, Connection, ConnectionProperties, ExchangeKind};

use crate::CloudEvent;

/// What became of one event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Accepted by the broker or handled by the consumer.
    Delivered,
    /// Failed; try again later (counts an attempt).
    Retry(String),
    /// Failed for good (the consumer rejected it as malformed).
    Dead(String),
    /// Not tried: an earlier event of its partition failed in this batch.
    Deferred,
}

/// A destination for outbox events.
#[async_trait]
pub trait Publisher: Send + Sync {
    fn name(&self) -> &'static str;
    /// Publishes `events` (in outbox order) and reports one outcome per
    /// event. `Err` means the transport failed as a whole: no event of the
    /// batch may be taken as delivered.
    async fn publish(&mut self, events: &[CloudEvent]) -> anyhow::Result<Vec<Outcome>>;
}

// ---- RabbitMQ ----------------------------------------------------------------

/// Exchange unroutable events go to, so an event nobody has bound a queue
/// for yet is kept, not dropped.
pub const UNROUTED_SUFFIX: &str = ".unrouted";

/// Publishes to a durable topic exchange with the event type as routing
/// key, persistent, structured-mode body, and waits for the broker's
/// confirms.
pub struct AmqpPublisher {
    url: String,
    exchange: String,
    channel: Option<(Connection, Channel)>,
}

impl AmqpPublisher {
    pub fn new(url: &str, exchange: &str) -> Self {
        AmqpPublisher {
            url: url.to_owned(),
            exchange: exchange.to_owned(),
            channel: None,
        }
    }

    async fn channel(&mut self) -> anyhow::Result<Channel> {
        if let Some((conn, ch)) = &self.channel
            && conn.status().connected()
            && ch.status().connected()
        {
            return Ok(ch.clone());
        }
        self.channel = None;
        let conn = Connection::connect(
            &self.url,
            ConnectionProperties::default().with_connection_name("ticketgw-outbox-relay".into()),
        )
        .await?;
        let ch = conn.create_channel().await?;
        ch.confirm_select(ConfirmSelectOptions::default()).await?;
        declare_exchange(&ch, &self.exchange).await?;
        self.channel = Some((conn, ch.clone()));
        Ok(ch)
    }
}

/// Declares the durable topic exchange (with its alternate exchange and
/// the queue that keeps unroutable events).
pub async fn declare_exchange(ch: &Channel, exchange: &str) -> anyhow::Result<()> {
    let unrouted = format!("{exchange}{UNROUTED_SUFFIX}");
    ch.exchange_declare(
        unrouted.as_str().into(),
        ExchangeKind::Fanout,
        ExchangeDeclareOptions {
            durable: true,
            ..Default::default()
        },
        FieldTable::default(),
    )
    .await?;
    let mut qargs = FieldTable::default();
    // Kept a week, at most 100,000: for replay by an operator.
    qargs.insert(
        "x-message-ttl".into(),
        AMQPValue::LongInt(7 * 24 * 3600 * 1000),
    );
    qargs.insert("x-max-length".into(), AMQPValue::LongInt(100_000));
    ch.queue_declare(
        unrouted.as_str().into(),
        lapin::options::QueueDeclareOptions {
            durable: true,
            ..Default::default()
        },
        qargs,
    )
    .await?;
    ch.queue_bind(
        unrouted.as_str().into(),
        unrouted.as_str().into(),
        "".into(),
        lapin::options::QueueBindOptions::default(),
        FieldTable::default(),
    )
    .await?;
    let mut args = FieldTable::default();
    args.insert(
        "alternate-exchange".into(),
        AMQPValue::LongString(unrouted.as_str().into()),
    );
    ch.exchange_declare(
        exchange.into(),
        ExchangeKind::Topic,
        ExchangeDeclareOptions {
            durable: true,
            ..Default::default()
        },
        args,
    )
    .await?;
    Ok(())
}

/// The AMQP properties of an event message.
pub fn amqp_properties(e: &CloudEvent) -> BasicProperties {
    BasicProperties::default()
        .with_content_type(crate::cloudevent::STRUCTURED.into())
        .with_delivery_mode(2)
        .with_message_id(e.id.as_str().into())
        .with_type(e.ty.as_str().into())
        .with_app_id("ticketgw".into())
}

#[async_trait]
impl Publisher for AmqpPublisher {
    fn name(&self) -> &'static str {
        "amqp"
    }

    async fn publish(&mut self, events: &[CloudEvent]) -> anyhow::Result<Vec<Outcome>> {
        let result = async {
            let ch = self.channel().await?;
            let mut confirms = Vec::with_capacity(events.len());
            for e in events {
                let confirm = ch
                    .basic_publish(
                        self.exchange.as_str().into(),
                        e.ty.as_str().into(),
                        BasicPublishOptions::default(),
                        &e.to_structured(),
                        amqp_properties(e),
                    )
                    .await?;
                confirms.push(confirm);
            }
            let mut out = Vec::with_capacity(events.len());
            for c in confirms {
                out.push(match c.await? {
                    Confirmation::Ack(_) => Outcome::Delivered,
                    Confirmation::Nack(_) => {
                        Outcome::Retry("the broker refused the message".into())
                    }
                    Confirmation::NotRequested => {
                        anyhow::bail!("publisher confirms are not enabled on the channel")
                    }
                });
            }
            Ok(out)
        }
        .await;
        if result.is_err() {
            self.channel = None;
        }
        result
    }
}

// ---- SQS -------------------------------------------------------------------

/// Publishes to an SQS queue, structured-mode bodies. On a FIFO queue
/// (`.fifo`) the partition key is the message group (per-booking order)
/// and the event id the deduplication id.
pub struct SqsPublisher {
    client: aws_sdk_sqs::Client,
    queue_url: String,
}

impl SqsPublisher {
    pub fn new(client: aws_sdk_sqs::Client, queue_url: &str) -> Self {
        SqsPublisher {
            client,
            queue_url: queue_url.to_owned(),
        }
    }
}

/// An SQS client from the standard AWS environment variables
/// (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`,
/// `AWS_REGION`) and an optional endpoint (a local SQS-compatible server).
pub fn sqs_client(endpoint: Option<&str>) -> anyhow::Result<aws_sdk_sqs::Client> {
    let region = std::env::var("AWS_REGION")
        .or_else(|_| std::env::var("AWS_DEFAULT_REGION"))
        .unwrap_or_else(|_| "us-east-1".into());
    let key = std::env::var("AWS_ACCESS_KEY_ID")
        .map_err(|_| anyhow::anyhow!("AWS_ACCESS_KEY_ID is not set"))?;
    let secret = std::env::var("AWS_SECRET_ACCESS_KEY")
        .map_err(|_| anyhow::anyhow!("AWS_SECRET_ACCESS_KEY is not set"))?;
    let token = std::env::var("AWS_SESSION_TOKEN").ok();
    Ok(sqs_client_with(endpoint, &region, &key, &secret, token))
}

/// An SQS client with explicit credentials.
pub fn sqs_client_with(
    endpoint: Option<&str>,
    region: &str,
    key: &str,
    secret: &str,
    token: Option<String>,
) -> aws_sdk_sqs::Client {
    let creds = aws_sdk_sqs::config::Credentials::new(key, secret, token, None, "ticketgw");
    let mut b = aws_sdk_sqs::Config::builder()
        .behavior_version(aws_sdk_sqs::config::BehaviorVersion::latest())
        .region(aws_sdk_sqs::config::Region::new(region.to_owned()))
        .credentials_provider(creds);
    if let Some(ep) = endpoint {
        b = b.endpoint_url(ep);
    }
    aws_sdk_sqs::Client::from_conf(b.build())
}

#[async_trait]
impl Publisher for SqsPublisher {
    fn name(&self) -> &'static str {
        "sqs"
    }

    async fn publish(&mut self, events: &[CloudEvent]) -> anyhow::Result<Vec<Outcome>> {
        let fifo = self.queue_url.ends_with(".fifo");
        let mut out = vec![Outcome::Deferred; events.len()];
        let mut failed_partitions = std::collections::HashSet::new();
        // Ten per call (the SQS limit); a later chunk never overtakes a
        // failed event of its partition.
        for (chunk_no, chunk) in events.chunks(10).enumerate() {
            let base = chunk_no * 10;
            let mut entries = Vec::new();
            for (i, e) in chunk.iter().enumerate() {
                if failed_partitions.contains(&e.partition_key()) {
                    continue;
                }
                let mut entry = aws_sdk_sqs::types::SendMessageBatchRequestEntry::builder()
                    .id(format!("m{}", base + i))
                    .message_body(String::from_utf8_lossy(&e.to_structured()).into_owned())
                    .message_attributes(
                        "ce_type",
                        aws_sdk_sqs::types::MessageAttributeValue::builder()
                            .data_type("String")
                            .string_value(e.ty.clone())
                            .build()?,
                    );
                if fifo {
                    entry = entry
                        .message_group_id(e.partition_key())
                        .message_deduplication_id(e.id.clone());
                }
                entries.push(entry.build()?);
            }
            if entries.is_empty() {
                continue;
            }
            let resp = self
                .client
                .send_message_batch()
                .queue_url(&self.queue_url)
                .set_entries(Some(entries))
                .send()
                .await
                .map_err(|e| {
                    anyhow::anyhow!(
                        "SQS SendMessageBatch: {}",
                        aws_sdk_sqs::error::DisplayErrorContext(e)
                    )
                })?;
            for ok in resp.successful() {
                if let Some(i) = ok
                    .id()
                    .strip_prefix('m')
                    .and_then(|s| s.parse::<usize>().ok())
                    && i < out.len()
                {
                    out[i] = Outcome::Delivered;
                }
            }
            for bad in resp.failed() {
                if let Some(i) = bad
                    .id()
                    .strip_prefix('m')
                    .and_then(|s| s.parse::<usize>().ok())
                    && i < out.len()
                {
                    out[i] = Outcome::Retry(format!(
                        "SQS refused the message: {}",
                        bad.message().unwrap_or(bad.code())
                    ));
                    failed_partitions.insert(events[i].partition_key());
                }
            }
        }
        Ok(out)
    }
}

// ---- HTTP sink and in-process handler -----------------------------------------

/// Why a consumer did not take an event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeliveryError {
    /// Try again later (5xx, 429, 408, timeouts, connection errors).
    Retryable(String),
    /// Never going to work (4xx: malformed).
    Permanent(String),
}

/// A consumer the relay hands events to directly (the local platform) or
/// over HTTP.
#[async_trait]
pub trait EventSink: Send + Sync {
    async fn deliver(&self, event: &CloudEvent) -> Result<(), DeliveryError>;
}

/// Posts events in binary content mode to a URL (the Knative Broker's
/// ingress, from `K_SINK`), as Knative's sources do.
pub struct HttpSink {
    pub client: reqwest::Client,
    pub url: String,
}

impl HttpSink {
    pub fn new(url: &str, timeout: Duration) -> anyhow::Result<Self> {
        Ok(HttpSink {
            client: reqwest::Client::builder().timeout(timeout).build()?,
            url: url.to_owned(),
        })
    }
}

/// Classifies an HTTP answer as Knative does: 2xx done; 5xx, 404, 408, 409,
/// 429 retried; other 4xx permanent.
pub fn classify_status(status: u16, body: &str) -> Result<(), DeliveryError> {
    let detail = || {
        format!(
            "HTTP {status}: {}",
            body.chars().take(300).collect::<String>()
        )
    };
    match status {
        200..=299 => Ok(()),
        404 | 408 | 409 | 429 | 500..=599 => Err(DeliveryError::Retryable(detail())),
        _ => Err(DeliveryError::Permanent(detail())),
    }
}

#[async_trait]
impl EventSink for HttpSink {
    async fn deliver(&self, event: &CloudEvent) -> Result<(), DeliveryError> {
        let (mut headers, body) = event.to_binary();
        // W3C trace context for HTTP, as Knative propagates it.
        if let Some(tp) = event
            .extension("traceparent")
            .and_then(|v| http::HeaderValue::from_str(&v).ok())
        {
            headers.insert("traceparent", tp);
        }
        let resp = self
            .client
            .post(&self.url)
            .headers(headers)
            .body(body)
            .send()
            .await
            .map_err(|e| DeliveryError::Retryable(format!("POST {}: {e}", self.url)))?;
        let status = resp.status().as_u16();
        let text = resp.text().await.unwrap_or_default();
        classify_status(status, &text)
    }
}

/// Hands events to an [`EventSink`], partitions concurrently, each
/// partition in order, stopping a partition at its first failure.
pub struct SinkPublisher {
    sink: Arc<dyn EventSink>,
    name: &'static str,
    concurrency: usize,
}

impl SinkPublisher {
    pub fn new(sink: Arc<dyn EventSink>, name: &'static str) -> Self {
        SinkPublisher {
            sink,
            name,
            concurrency: 16,
        }
    }
}

#[async_trait]
impl Publisher for SinkPublisher {
    fn name(&self) -> &'static str {
        self.name
    }

    async fn publish(&mut self, events: &[CloudEvent]) -> anyhow::Result<Vec<Outcome>> {
        use futures_util::StreamExt;
        // Partitions in order of first appearance, each with its indexes.
        let mut order: Vec<String> = Vec::new();
        let mut groups: std::collections::HashMap<String, Vec<usize>> = Default::default();
        for (i, e) in events.iter().enumerate() {
            let k = e.partition_key();
            groups
                .entry(k.clone())
                .or_insert_with(|| {
                    order.push(k);
                    Vec::new()
                })
                .push(i);
        }
        let sink = self.sink.clone();
        let results: Vec<Vec<(usize, Outcome)>> =
            futures_util::stream::iter(order.into_iter().map(|k| {
                let idx = groups.remove(&k).unwrap_or_default();
                let sink = sink.clone();
                async move {
                    let mut out = Vec::with_capacity(idx.len());
                    let mut stopped = false;
                    for i in idx {
                        if stopped {
                            out.push((i, Outcome::Deferred));
                            continue;
                        }
                        let o = match sink.deliver(&events[i]).await {
                            Ok(()) => Outcome::Delivered,
                            Err(DeliveryError::Retryable(m)) => {
                                stopped = true;
                                Outcome::Retry(m)
                            }
                            Err(DeliveryError::Permanent(m)) => Outcome::Dead(m),
                        };
                        out.push((i, o));
                    }
                    out
                }
            }))
            .buffer_unordered(self.concurrency)
            .collect()
            .await;
        let mut out = vec![Outcome::Deferred; events.len()];
        for (i, o) in results.into_iter().flatten() {
            out[i] = o;
        }
        Ok(out)
    }
}
