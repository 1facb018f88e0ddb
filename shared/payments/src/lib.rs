//! The payment-provider layer. The platform never sees card data: a client
//! pays the provider directly with the `client_secret` of a payment we
//! created, and the provider tells us the outcome by a signed webhook.
//!
//! [`PaymentProvider`] is what the payments function talks to;
//! [`stripe::StripeProvider`] implements it over Stripe's REST API, and
//! [`signature`] holds Stripe's webhook signature scheme. With the `fake`
//! feature, `fake::FakeStripe` is a local server speaking Stripe's wire
//! format for tests. No SQL lives here (the `simulated` provider keeps its
//! ledger through `tg_store`'s trait).

use std::fmt;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

mod hex;
pub mod signature;
pub mod simulated;
pub mod stripe;

#[cfg(feature = "fake")]
pub mod fake;

/// Where a payment stands, as far as the provider knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PaymentStatus {
    /// Waiting for the client to pay (or to complete an authentication step).
    RequiresPayment,
    /// Paid, the provider has not settled it yet.
    Processing,
    Succeeded,
    /// The last attempt failed. With Stripe this is not final: the client may
    /// try again with the same payment, which can still succeed.
    Failed,
    Canceled,
}

impl PaymentStatus {
    pub const ALL: [PaymentStatus; 5] = [
        PaymentStatus::RequiresPayment,
        PaymentStatus::Processing,
        PaymentStatus::Succeeded,
        PaymentStatus::Failed,
        PaymentStatus::Canceled,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            PaymentStatus::RequiresPayment => "requires_payment",
            PaymentStatus::Processing => "processing",
            PaymentStatus::Succeeded => "succeeded",
            PaymentStatus::Failed => "failed",
            PaymentStatus::Canceled => "canceled",
        }
    }

    /// The inverse of [`PaymentStatus::as_str`].
    pub fn parse(s: &str) -> Option<PaymentStatus> {
        PaymentStatus::ALL.into_iter().find(|st| st.as_str() == s)
    }
}

impl fmt::Display for PaymentStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A payment to create for a booking.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreatePayment {
    pub booking_id: Uuid,
    /// Minor units of `currency`.
    pub amount_cents: i64,
    pub currency: tg_store::Currency,
    /// Derived from the booking id by the caller, so a retry never creates a
    /// second payment.
    pub idempotency_key: String,
    pub description: String,
}

/// A payment as the provider reports it.
#[derive(Clone, PartialEq, Eq)]
pub struct ProviderPayment {
    /// The provider's id (Stripe: the PaymentIntent id, `pi_...`).
    pub id: String,
    pub status: PaymentStatus,
    pub amount_cents: i64,
    /// ISO 4217, upper case.
    pub currency: String,
    /// What the client needs to pay (Stripe: the PaymentIntent's
    /// `client_secret`). Hand it to the paying client only; never log it
    /// (this type's `Debug` redacts it).
    pub client_secret: Option<String>,
    /// Where to send the client to pay, for providers with hosted pages.
    pub redirect_url: Option<String>,
    /// The provider's message about the last failed attempt.
    pub last_error: Option<String>,
}

impl fmt::Debug for ProviderPayment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProviderPayment")
            .field("id", &self.id)
            .field("status", &self.status)
            .field("amount_cents", &self.amount_cents)
            .field("currency", &self.currency)
            .field(
                "client_secret",
                &self.client_secret.as_ref().map(|_| "[redacted]"),
            )
            .field("redirect_url", &self.redirect_url)
            .field("last_error", &self.last_error)
            .finish()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RefundStatus {
    Pending,
    Succeeded,
    Failed,
}

impl RefundStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            RefundStatus::Pending => "pending",
            RefundStatus::Succeeded => "succeeded",
            RefundStatus::Failed => "failed",
        }
    }

    pub fn parse(s: &str) -> Option<RefundStatus> {
        [
            RefundStatus::Pending,
            RefundStatus::Succeeded,
            RefundStatus::Failed,
        ]
        .into_iter()
        .find(|st| st.as_str() == s)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProviderRefund {
    pub id: String,
    pub amount_cents: i64,
    pub status: RefundStatus,
}

/// What a webhook event reports.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum WebhookKind {
    PaymentSucceeded,
    PaymentFailed,
    PaymentProcessing,
    PaymentCanceled,
    /// A charge was refunded, in full or in part (`amount_cents` is the
    /// total refunded so far).
    ChargeRefunded,
    DisputeCreated,
    /// Any other event type, as the provider names it.
    Other(String),
}

impl WebhookKind {
    /// A stable name: `payment_succeeded`, ..., or the provider's own type
    /// for [`WebhookKind::Other`].
    pub fn as_str(&self) -> &str {
        match self {
            WebhookKind::PaymentSucceeded => "payment_succeeded",
            WebhookKind::PaymentFailed => "payment_failed",
            WebhookKind::PaymentProcessing => "payment_processing",
            WebhookKind::PaymentCanceled => "payment_canceled",
            WebhookKind::ChargeRefunded => "charge_refunded",
            WebhookKind::DisputeCreated => "dispute_created",
            WebhookKind::Other(t) => t,
        }
    }
}

/// A verified webhook event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookEvent {
    /// The provider's event id: the dedupe key (providers deliver at least once).
    pub id: String,
    pub kind: WebhookKind,
    /// When the provider created the event, unix seconds. Events may arrive
    /// out of order.
    pub created: i64,
    /// The payment the event is about (Stripe: the PaymentIntent id).
    pub payment_id: Option<String>,
    pub amount_cents: Option<i64>,
    /// ISO 4217, upper case.
    pub currency: Option<String>,
    pub failure_reason: Option<String>,
    /// From the payment's metadata, when present and a UUID.
    pub booking_id: Option<Uuid>,
}

/// A provider API call that did not produce an answer we can use.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProviderError {
    /// The provider refused the request (4xx). Retrying the same request
    /// will not help.
    #[error("payment provider rejected the request ({status}{}): {message}", code.as_deref().map(|c| format!(" {c}")).unwrap_or_default())]
    Rejected {
        status: u16,
        code: Option<String>,
        message: String,
    },
    /// The provider could not be reached or failed (5xx, 429, timeout,
    /// connection). Retrying with the same idempotency key is safe.
    #[error("payment provider unavailable: {0}")]
    Unavailable(String),
    /// The provider answered something we could not understand.
    #[error("payment provider answered an invalid response: {0}")]
    Invalid(String),
}

impl ProviderError {
    pub fn is_retryable(&self) -> bool {
        matches!(self, ProviderError::Unavailable(_))
    }
}

/// Why a webhook was refused. Every variant means "do not act on it".
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WebhookError {
    #[error("missing signature header")]
    MissingSignature,
    #[error("malformed signature header: {0}")]
    Malformed(&'static str),
    #[error("signature timestamp outside the tolerance")]
    TimestampOutOfTolerance,
    #[error("no signature matches")]
    NoMatchingSignature,
    /// The signature verified but the body is not an event we understand.
    #[error("bad webhook payload: {0}")]
    BadPayload(String),
}

/// A payment provider.
#[async_trait::async_trait]
pub trait PaymentProvider: Send + Sync + 'static {
    /// A short stable name, e.g. `"stripe"`.
    fn name(&self) -> &'static str;

    /// Creates a payment for a booking, idempotently on
    /// `req.idempotency_key`.
    async fn create_payment(&self, req: &CreatePayment) -> Result<ProviderPayment, ProviderError>;

    async fn retrieve_payment(&self, id: &str) -> Result<ProviderPayment, ProviderError>;

    /// Refunds `amount_cents` of a payment, idempotently on `idempotency_key`.
    async fn refund(
        &self,
        payment_id: &str,
        amount_cents: i64,
        idempotency_key: &str,
    ) -> Result<ProviderRefund, ProviderError>;

    /// Checks a webhook's signature and, only if it verifies, parses it.
    /// `body` must be the raw request body, byte for byte.
    fn verify_webhook(
        &self,
        signature_header: Option<&str>,
        body: &[u8],
        now_unix: i64,
    ) -> Result<WebhookEvent, WebhookError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payment_status_round_trips() {
        for st in PaymentStatus::ALL {
            assert_eq!(PaymentStatus::parse(st.as_str()), Some(st));
            let json = serde_json::to_string(&st).unwrap();
            assert_eq!(json, format!("\"{}\"", st.as_str()));
            assert_eq!(serde_json::from_str::<PaymentStatus>(&json).unwrap(), st);
        }
        assert_eq!(PaymentStatus::parse("Succeeded"), None);
        assert_eq!(PaymentStatus::parse(""), None);
    }

    #[test]
    fn refund_status_round_trips() {
        for st in [
            RefundStatus::Pending,
            RefundStatus::Succeeded,
            RefundStatus::Failed,
        ] {
            assert_eq!(RefundStatus::parse(st.as_str()), Some(st));
        }
    }

    #[test]
    fn debug_redacts_client_secret() {
        let p = ProviderPayment {
            id: "pi_1".into(),
            status: PaymentStatus::RequiresPayment,
            amount_cents: 100,
            currency: "EUR".into(),
            client_secret: Some("pi_1_secret_abc".into()),
            redirect_url: None,
            last_error: None,
        };
        let s = format!("{p:?}");
        assert!(!s.contains("secret_abc"), "{s}");
        assert!(s.contains("[redacted]"));
    }

    #[test]
    fn only_unavailable_is_retryable() {
        assert!(ProviderError::Unavailable("x".into()).is_retryable());
        assert!(!ProviderError::Invalid("x".into()).is_retryable());
        let r = ProviderError::Rejected {
            status: 400,
            code: Some("amount_too_large".into()),
            message: "too much".into(),
        };
        assert!(!r.is_retryable());
        assert_eq!(
            r.to_string(),
            "payment provider rejected the request (400 amount_too_large): too much"
        );
    }
}
