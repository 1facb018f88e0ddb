//! The events pipeline (see ARCHITECTURE.md, "Events"):
//!
//! * [`cloudevent`]: CloudEvents 1.0 and its HTTP binding (binary and
//!   structured modes), with an axum extractor;
//! * [`relay`]: publishes the transactional outbox through a
//!   [`publish::Publisher`] (RabbitMQ, SQS, an HTTP sink, or in process);
//! * [`dispatch`]: the RabbitMQ consumer that posts events to a subscriber
//!   with retries, backoff and dead-lettering (Knative's Broker does this in
//!   a cluster);
//! * [`sqs`]: the SQS-triggered Lambda batch handler.

pub mod cloudevent;
pub mod dispatch;
pub mod publish;
pub mod relay;
pub mod sqs;

pub use cloudevent::CloudEvent;
pub use publish::{DeliveryError, EventSink, Outcome, Publisher};
pub use relay::{Relay, RelayConfig};

/// The topic exchange events are published to.
pub const DEFAULT_EXCHANGE: &str = "ticketgw.events";

/// The event types the notification function subscribes to.
pub const NOTIFICATION_TYPES: [&str; 10] = [
    "booking.confirmed",
    "booking.cancelled",
    "booking.expired",
    "payment.refunded",
    "payment.disputed",
    "event.cancelled",
    "ops.alert",
    "booking.refunded",
    "account.verification_requested",
    "account.password_reset_requested",
];

/// Where the relay publishes (`TICKETGW_RELAY_TARGET`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RelayTarget {
    /// RabbitMQ: `TICKETGW_AMQP_URL`, `TICKETGW_AMQP_EXCHANGE`.
    Amqp { url: String, exchange: String },
    /// SQS: `TICKETGW_SQS_QUEUE_URL`, optional `TICKETGW_SQS_ENDPOINT`.
    Sqs {
        queue_url: String,
        endpoint: Option<String>,
    },
    /// HTTP in binary mode: `K_SINK` (Knative SinkBinding) or
    /// `TICKETGW_RELAY_SINK_URL`.
    Http { url: String },
    /// A handler in the same process (the local platform).
    InProcess,
}

impl RelayTarget {
    /// Reads the target; `default` applies when `TICKETGW_RELAY_TARGET` is
    /// unset.
    pub fn from_lookup(
        get: impl Fn(&str) -> Option<String>,
        default: &str,
    ) -> anyhow::Result<Self> {
        let get = |k: &str| get(k).filter(|v| !v.trim().is_empty());
        let target = get("TICKETGW_RELAY_TARGET").unwrap_or_else(|| default.to_owned());
        Ok(match target.as_str() {
            "amqp" | "rabbitmq" => RelayTarget::Amqp {
                url: get("TICKETGW_AMQP_URL")
                    .ok_or_else(|| anyhow::anyhow!("TICKETGW_AMQP_URL is required for the amqp relay target"))?,
                exchange: get("TICKETGW_AMQP_EXCHANGE").unwrap_or_else(|| DEFAULT_EXCHANGE.into()),
            },
            "sqs" => RelayTarget::Sqs {
                queue_url: get("TICKETGW_SQS_QUEUE_URL")
                    .ok_or_else(|| anyhow::anyhow!("TICKETGW_SQS_QUEUE_URL is required for the sqs relay target"))?,
                endpoint: get("TICKETGW_SQS_ENDPOINT"),
            },
            "http" => RelayTarget::Http {
                url: get("K_SINK").or_else(|| get("TICKETGW_RELAY_SINK_URL")).ok_or_else(|| {
                    anyhow::anyhow!("the http relay target needs K_SINK (a Knative SinkBinding) or TICKETGW_RELAY_SINK_URL")
                })?,
            },
            "inprocess" | "in-process" => RelayTarget::InProcess,
            other => anyhow::bail!(
                "TICKETGW_RELAY_TARGET: `{other}` is not one of amqp, sqs, http, inprocess"
            ),
        })
    }

    /// The publisher for this target (`sink` serves `InProcess`).
    pub fn publisher(
        &self,
        sink: Option<std::sync::Arc<dyn EventSink>>,
    ) -> anyhow::Result<Box<dyn Publisher>> {
        Ok(match self {
            RelayTarget::Amqp { url, exchange } => {
                Box::new(publish::AmqpPublisher::new(url, exchange))
            }
            RelayTarget::Sqs {
                queue_url,
                endpoint,
            } => Box::new(publish::SqsPublisher::new(
                publish::sqs_client(endpoint.as_deref())?,
                queue_url,
            )),
            RelayTarget::Http { url } => Box::new(publish::SinkPublisher::new(
                std::sync::Arc::new(publish::HttpSink::new(
                    url,
                    std::time::Duration::from_secs(30),
                )?),
                "http",
            )),
            RelayTarget::InProcess => Box::new(publish::SinkPublisher::new(
                sink.ok_or_else(|| {
                    anyhow::anyhow!("the inprocess relay target needs a handler in this process")
                })?,
                "inprocess",
            )),
        })
    }
}
