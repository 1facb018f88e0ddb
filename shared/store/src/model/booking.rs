//! Bookings: a hold on tickets that becomes an order once paid.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::Currency;

/// `held` -> `confirmed` | `expired` | `cancelled`; `confirmed` ->
/// `refunded` | `cancelled`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum BookingStatus {
    Held,
    Confirmed,
    Expired,
    Cancelled,
    Refunded,
}

impl BookingStatus {
    pub const ALL: [BookingStatus; 5] = [
        BookingStatus::Held,
        BookingStatus::Confirmed,
        BookingStatus::Expired,
        BookingStatus::Cancelled,
        BookingStatus::Refunded,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            BookingStatus::Held => "held",
            BookingStatus::Confirmed => "confirmed",
            BookingStatus::Expired => "expired",
            BookingStatus::Cancelled => "cancelled",
            BookingStatus::Refunded => "refunded",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|v| v.as_str() == s)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Booking {
    pub id: Uuid,
    pub event_id: Uuid,
    /// The event's organizer (who may read the booking).
    pub organizer_id: Uuid,
    pub user_id: Uuid,
    /// As stored. A `held` booking past `expires_at` is already expired for
    /// every purpose; see [`Booking::effective_status`].
    pub status: BookingStatus,
    /// Admissions in all items.
    pub quantity: i64,
    pub total_cents: i64,
    pub currency: Currency,
    pub expires_at: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub confirmed_at: Option<DateTime<Utc>>,
    /// When it was cancelled, expired or refunded.
    pub closed_at: Option<DateTime<Utc>>,
    /// In ticket type order.
    pub items: Vec<BookingItem>,
}

impl Booking {
    /// The status a client sees: a lapsed hold is `expired` even before the
    /// expiry worker has released it.
    pub fn effective_status(&self, now: DateTime<Utc>) -> BookingStatus {
        if self.status == BookingStatus::Held && self.expires_at <= now {
            BookingStatus::Expired
        } else {
            self.status
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BookingItem {
    pub ticket_type_id: Uuid,
    pub name: String,
    pub quantity: i64,
    pub unit_price_cents: i64,
}

/// A request to hold tickets (validated for shape by the caller; the store
/// checks it against the event).
#[derive(Debug, Clone)]
pub struct NewHold {
    pub user_id: Uuid,
    pub event_id: Uuid,
    pub items: Vec<HoldItem>,
    /// Tickets one user may hold unpaid per event at once.
    pub max_held_per_user: i64,
    pub now: DateTime<Utc>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HoldItem {
    pub ticket_type_id: Uuid,
    pub quantity: i64,
}

/// A domain event as written to the outbox: the attributes of a CloudEvents
/// 1.0 envelope.
#[derive(Debug, Clone, PartialEq)]
pub struct OutboxEvent {
    /// Position in the outbox (publish order).
    pub seq: i64,
    pub id: Uuid,
    /// e.g. `booking.held`.
    pub event_type: String,
    pub source: String,
    pub subject: String,
    /// Events with one key are published in `seq` order (the booking id).
    pub partition_key: String,
    pub time: DateTime<Utc>,
    pub data: serde_json::Value,
    pub sent_at: Option<DateTime<Utc>>,
    /// Failed delivery attempts so far.
    pub attempts: i32,
    /// W3C trace context of the change.
    pub traceparent: Option<String>,
}

/// CloudEvents `source` of events about bookings.
pub const BOOKINGS_SOURCE: &str = "/ticketgw/bookings";

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use chrono::Duration;

    #[test]
    fn booking_statuses_round_trip_through_their_stored_names() {
        let names: Vec<&str> = BookingStatus::ALL.iter().map(|s| s.as_str()).collect();
        assert_eq!(
            names,
            ["held", "confirmed", "expired", "cancelled", "refunded"]
        );
        for s in BookingStatus::ALL {
            assert_eq!(BookingStatus::parse(s.as_str()), Some(s));
        }
        for bad in ["", "xyzzy", "Held", "canceled"] {
            assert_eq!(BookingStatus::parse(bad), None, "{bad:?}");
        }
    }

    fn booking(status: BookingStatus, expires_at: DateTime<Utc>) -> Booking {
        Booking {
            id: Uuid::nil(),
            event_id: Uuid::nil(),
            organizer_id: Uuid::nil(),
            user_id: Uuid::nil(),
            status,
            quantity: 1,
            total_cents: 1000,
            currency: Currency::parse("EUR").unwrap(),
            expires_at,
            created_at: expires_at,
            updated_at: expires_at,
            confirmed_at: None,
            closed_at: None,
            items: Vec::new(),
        }
    }

    #[test]
    fn a_hold_is_expired_from_its_expiry_instant() {
        let now = Utc::now();
        let held = |expires_at| booking(BookingStatus::Held, expires_at);
        let second = Duration::seconds(1);
        assert_eq!(
            held(now + second).effective_status(now),
            BookingStatus::Held
        );
        assert_eq!(held(now).effective_status(now), BookingStatus::Expired);
        assert_eq!(
            held(now - second).effective_status(now),
            BookingStatus::Expired
        );
        // Other statuses are final whatever the clock says.
        for status in BookingStatus::ALL {
            if status == BookingStatus::Held {
                continue;
            }
            for expires_at in [now - second, now + second] {
                assert_eq!(booking(status, expires_at).effective_status(now), status);
            }
        }
    }
}
