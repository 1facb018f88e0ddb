//! Payments (one provider payment per booking) and refunds.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::Currency;

/// Our record of the provider payment's state. It only moves forward (see
/// [`PaymentState::rank`]), so a late or replayed event cannot undo a newer
/// one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PaymentState {
    RequiresPayment,
    Processing,
    Failed,
    Canceled,
    Succeeded,
    PartiallyRefunded,
    Refunded,
    Disputed,
}

impl PaymentState {
    pub const ALL: [PaymentState; 8] = [
        PaymentState::RequiresPayment,
        PaymentState::Processing,
        PaymentState::Failed,
        PaymentState::Canceled,
        PaymentState::Succeeded,
        PaymentState::PartiallyRefunded,
        PaymentState::Refunded,
        PaymentState::Disputed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            PaymentState::RequiresPayment => "requires_payment",
            PaymentState::Processing => "processing",
            PaymentState::Failed => "failed",
            PaymentState::Canceled => "canceled",
            PaymentState::Succeeded => "succeeded",
            PaymentState::PartiallyRefunded => "partially_refunded",
            PaymentState::Refunded => "refunded",
            PaymentState::Disputed => "disputed",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|v| v.as_str() == s)
    }

    /// Progress: a change to a lower rank is stale and ignored. Failing and
    /// retrying with another card move between equal ranks.
    pub fn rank(self) -> u8 {
        match self {
            PaymentState::RequiresPayment => 0,
            PaymentState::Processing | PaymentState::Failed | PaymentState::Canceled => 1,
            PaymentState::Succeeded => 2,
            PaymentState::PartiallyRefunded => 3,
            PaymentState::Refunded => 4,
            PaymentState::Disputed => 5,
        }
    }

    /// Money was taken (and may be partly or fully given back).
    pub fn is_paid(self) -> bool {
        self.rank() >= 2
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Payment {
    pub id: Uuid,
    pub booking_id: Uuid,
    /// The booking's buyer.
    pub user_id: Uuid,
    pub event_id: Uuid,
    pub organizer_id: Uuid,
    pub provider: String,
    pub provider_payment_id: String,
    pub status: PaymentState,
    pub amount_cents: i64,
    /// Refunds requested and not failed (pending or done).
    pub refunded_cents: i64,
    pub currency: Currency,
    pub client_secret: Option<String>,
    pub redirect_url: Option<String>,
    pub last_error: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub succeeded_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone)]
pub struct NewPayment {
    pub booking_id: Uuid,
    pub provider: String,
    pub provider_payment_id: String,
    pub status: PaymentState,
    pub amount_cents: i64,
    pub currency: Currency,
    pub client_secret: Option<String>,
    pub redirect_url: Option<String>,
}

/// What a provider said about a payment (from a verified webhook, or from
/// asking it during reconciliation).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PaymentSignal {
    Processing,
    Succeeded,
    Failed(Option<String>),
    Canceled,
    /// The provider's total refunded so far.
    Refunded {
        amount_refunded: i64,
    },
    Disputed,
}

impl PaymentSignal {
    pub fn kind(&self) -> &'static str {
        match self {
            PaymentSignal::Processing => "processing",
            PaymentSignal::Succeeded => "succeeded",
            PaymentSignal::Failed(_) => "failed",
            PaymentSignal::Canceled => "canceled",
            PaymentSignal::Refunded { .. } => "refunded",
            PaymentSignal::Disputed => "disputed",
        }
    }
}

#[derive(Debug, Clone)]
pub struct ProviderEvent {
    pub provider: String,
    /// The provider's event id: each is applied at most once.
    pub event_id: String,
    pub provider_payment_id: String,
    pub signal: PaymentSignal,
    /// When the provider says it happened (its event's `created`).
    pub occurred_at: DateTime<Utc>,
    pub now: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum EventOutcome {
    /// This event id was applied before: nothing changed.
    Duplicate,
    /// No payment of ours has this provider id (not recorded).
    UnknownPayment,
    /// Older than what we know: recorded, nothing changed.
    Stale(Payment),
    Applied {
        payment: Payment,
        /// The booking became confirmed by this event.
        confirmed: bool,
        /// A refund this event made necessary (paid but no tickets left);
        /// the caller asks the provider for it.
        refund: Option<Refund>,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum RefundState {
    Pending,
    Succeeded,
    Failed,
}

impl RefundState {
    pub fn as_str(self) -> &'static str {
        match self {
            RefundState::Pending => "pending",
            RefundState::Succeeded => "succeeded",
            RefundState::Failed => "failed",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [
            RefundState::Pending,
            RefundState::Succeeded,
            RefundState::Failed,
        ]
        .into_iter()
        .find(|v| v.as_str() == s)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refund {
    pub id: Uuid,
    pub payment_id: Uuid,
    pub amount_cents: i64,
    pub status: RefundState,
    pub reason: String,
    pub requested_by: Option<Uuid>,
    pub provider_refund_id: Option<String>,
    pub last_error: Option<String>,
    pub attempts: i32,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// How asking the provider for a refund went.
#[derive(Debug, Clone)]
pub enum RefundResult {
    Done {
        provider_refund_id: String,
    },
    /// Try again later (provider down or slow).
    Retry(String),
    /// The provider refused it for good.
    Refused(String),
}

/// The simulated provider's own ledger entry (local mode).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimulatedPayment {
    pub id: String,
    pub booking_id: Uuid,
    pub amount_cents: i64,
    pub currency: String,
    pub status: String,
    pub refunded_cents: i64,
}

/// CloudEvents `source` of events about payments.
pub const PAYMENTS_SOURCE: &str = "/ticketgw/payments";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payment_states_round_trip_through_their_stored_names() {
        let names: Vec<&str> = PaymentState::ALL.iter().map(|s| s.as_str()).collect();
        assert_eq!(
            names,
            [
                "requires_payment",
                "processing",
                "failed",
                "canceled",
                "succeeded",
                "partially_refunded",
                "refunded",
                "disputed"
            ]
        );
        for s in PaymentState::ALL {
            assert_eq!(PaymentState::parse(s.as_str()), Some(s));
            // The stored name is the serde name the API shows.
            assert_eq!(
                serde_json::to_value(s).ok(),
                Some(serde_json::Value::from(s.as_str()))
            );
        }
        for bad in ["", "xyzzy", "Succeeded", "succeeded "] {
            assert_eq!(PaymentState::parse(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn payment_states_only_move_forward() {
        use PaymentState as P;
        let ranks: Vec<u8> = P::ALL.iter().map(|s| s.rank()).collect();
        assert_eq!(ranks, [0, 1, 1, 1, 2, 3, 4, 5]);
        let paid: Vec<P> = P::ALL.into_iter().filter(|s| s.is_paid()).collect();
        assert_eq!(
            paid,
            [P::Succeeded, P::PartiallyRefunded, P::Refunded, P::Disputed]
        );
    }

    #[test]
    fn signal_kinds() {
        let kinds: Vec<&str> = [
            PaymentSignal::Processing,
            PaymentSignal::Succeeded,
            PaymentSignal::Failed(Some("card_declined".into())),
            PaymentSignal::Canceled,
            PaymentSignal::Refunded { amount_refunded: 1 },
            PaymentSignal::Disputed,
        ]
        .iter()
        .map(PaymentSignal::kind)
        .collect();
        assert_eq!(
            kinds,
            [
                "processing",
                "succeeded",
                "failed",
                "canceled",
                "refunded",
                "disputed"
            ]
        );
    }

    #[test]
    fn refund_states_round_trip_through_their_stored_names() {
        for (s, name) in [
            (RefundState::Pending, "pending"),
            (RefundState::Succeeded, "succeeded"),
            (RefundState::Failed, "failed"),
        ] {
            assert_eq!(s.as_str(), name);
            assert_eq!(RefundState::parse(name), Some(s));
        }
        for bad in ["", "xyzzy", "Pending"] {
            assert_eq!(RefundState::parse(bad), None, "{bad:?}");
        }
    }
}
