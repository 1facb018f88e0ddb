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
