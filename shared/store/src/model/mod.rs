//! The platform's stored types. Money is integer minor units plus an
//! ISO 4217 [`Currency`]; times are UTC instants; ids are UUIDs.

mod booking;
mod currency;
mod identity;
mod payment;
mod ticket;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

pub use booking::*;
pub use currency::Currency;
pub use identity::*;
pub use payment::*;
pub use ticket::*;

/// The `iss` stored for accounts of the built-in identity provider. Its
/// tokens carry the platform's public URL as `iss`; accounts are keyed by
/// this constant instead, so they survive a change of URL or port.
pub const BUILTIN_ISSUER: &str = "urn:ticketgw:builtin";

/// Platform roles. Everyone signed in is a `user`.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, ToSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    User,
    Organizer,
    Admin,
}

impl Role {
    pub const ALL: [Role; 3] = [Role::User, Role::Organizer, Role::Admin];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::User => "user",
            Role::Organizer => "organizer",
            Role::Admin => "admin",
        }
    }

    pub fn parse(s: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.as_str() == s)
    }
}

#[derive(Debug, Clone)]
pub struct NewUser {
    pub iss: String,
    pub sub: String,
    pub email: Option<String>,
    pub name: String,
    pub roles: Vec<Role>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub id: Uuid,
    pub iss: String,
    pub sub: String,
    pub email: Option<String>,
    pub name: String,
    /// E.164, e.g. `+4930123456`.
    pub phone: Option<String>,
    pub notify_email: bool,
    pub notify_sms: bool,
    /// Language of notifications (`en`, `de`).
    pub language: String,
    pub status: UserStatus,
    pub roles: Vec<Role>,
    pub created_at: DateTime<Utc>,
    /// The built-in provider confirmed the address (a link mailed to it
    /// was followed).
    pub email_verified: bool,
}

/// Event lifecycle: `draft` -> `published` -> `cancelled` (or draft -> cancelled).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum EventStatus {
    Draft,
    Published,
    Cancelled,
}

impl EventStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            EventStatus::Draft => "draft",
            EventStatus::Published => "published",
            EventStatus::Cancelled => "cancelled",
        }
    }

    pub fn parse(s: &str) -> Option<EventStatus> {
        match s {
            "draft" => Some(EventStatus::Draft),
            "published" => Some(EventStatus::Published),
            "cancelled" => Some(EventStatus::Cancelled),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    pub id: Uuid,
    pub organizer_id: Uuid,
    pub title: String,
    pub description: String,
    pub venue: String,
    pub city: String,
    pub category: String,
    /// IANA time zone of the venue, e.g. `Europe/Berlin`.
    pub timezone: String,
    pub image_url: Option<String>,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    pub status: EventStatus,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub published_at: Option<DateTime<Utc>>,
    /// How long a booking holds its tickets before it expires unpaid.
    pub hold_minutes: i32,
    /// Buyers may cancel a paid booking for a refund until this many hours
    /// before the start; `None`: no buyer refunds (organizers still can).
    pub refund_cutoff_hours: Option<i32>,
    /// In creation order.
    pub ticket_types: Vec<TicketType>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TicketType {
    pub id: Uuid,
    pub event_id: Uuid,
    pub name: String,
    pub price_cents: i64,
    pub currency: Currency,
    pub capacity: i64,
    /// Paid admissions.
    pub sold: i64,
    /// Admissions held by unexpired, unpaid bookings.
    pub held: i64,
    pub max_per_order: i32,
    pub sales_start: Option<DateTime<Utc>>,
    pub sales_end: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
}

impl TicketType {
    /// capacity - sold - held, never negative.
    pub fn available(&self) -> i64 {
        (self.capacity - self.sold - self.held).max(0)
    }
}

/// A validated new event (the handler has checked every field).
#[derive(Debug, Clone)]
pub struct NewEvent {
    pub title: String,
    pub description: String,
    pub venue: String,
    pub city: String,
    pub category: String,
    pub timezone: String,
    pub image_url: Option<String>,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    /// Minutes a booking holds its tickets unpaid (1 to 60).
    pub hold_minutes: i32,
    pub refund_cutoff_hours: Option<i32>,
}

/// Hold time of an event unless its organizer sets another.
pub const DEFAULT_HOLD_MINUTES: i32 = 10;

/// A validated partial update; `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct EventPatch {
    pub title: Option<String>,
    pub description: Option<String>,
    pub venue: Option<String>,
    pub city: Option<String>,
    pub category: Option<String>,
    pub timezone: Option<String>,
    /// `Some(None)` clears the image.
    pub image_url: Option<Option<String>>,
    pub starts_at: Option<DateTime<Utc>>,
    pub ends_at: Option<DateTime<Utc>>,
    pub hold_minutes: Option<i32>,
    /// `Some(None)` removes buyer refunds.
    pub refund_cutoff_hours: Option<Option<i32>>,
}

impl EventPatch {
    pub fn is_empty(&self) -> bool {
        self.title.is_none()
            && self.description.is_none()
            && self.venue.is_none()
            && self.city.is_none()
            && self.category.is_none()
            && self.timezone.is_none()
            && self.image_url.is_none()
            && self.starts_at.is_none()
            && self.hold_minutes.is_none()
            && self.refund_cutoff_hours.is_none()
            && self.ends_at.is_none()
    }

    /// Applies the patch to `event` in memory (used by both backends so the
    /// merge rules are written once).
    pub fn apply(&self, event: &mut Event) {
        macro_rules! set {
            ($($f:ident),*) => {$( if let Some(v) = &self.$f { event.$f = v.clone(); } )*};
        }
        set!(
            title,
            description,
            venue,
            city,
            category,
            timezone,
            image_url,
            starts_at,
            hold_minutes,
            refund_cutoff_hours,
            ends_at
        );
    }
}

#[derive(Debug, Clone)]
pub struct NewTicketType {
    pub name: String,
    pub price_cents: i64,
    pub currency: Currency,
    pub capacity: i64,
    pub max_per_order: i32,
    pub sales_start: Option<DateTime<Utc>>,
    pub sales_end: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, Default)]
pub struct TicketTypePatch {
    pub name: Option<String>,
    pub price_cents: Option<i64>,
    pub capacity: Option<i64>,
    pub max_per_order: Option<i32>,
    pub sales_start: Option<Option<DateTime<Utc>>>,
    pub sales_end: Option<Option<DateTime<Utc>>>,
}

impl TicketTypePatch {
    pub fn apply(&self, tt: &mut TicketType) {
        macro_rules! set {
            ($($f:ident),*) => {$( if let Some(v) = &self.$f { tt.$f = v.clone(); } )*};
        }
        set!(
            name,
            price_cents,
            capacity,
            max_per_order,
            sales_start,
            sales_end
        );
    }
}

/// Public catalog query. Text search is a case-insensitive substring match
/// on title, description, venue and city.
#[derive(Debug, Clone)]
pub struct EventFilter {
    pub q: Option<String>,
    /// Exact city, case-insensitive.
    pub city: Option<String>,
    /// Exact category, case-insensitive.
    pub category: Option<String>,
    /// Events that have not ended by this instant.
    pub from: DateTime<Utc>,
    /// Events starting at or before this instant.
    pub to: Option<DateTime<Utc>>,
    /// Only this status (the public list uses `Published`).
    pub status: EventStatus,
    /// Only this organizer's events.
    pub organizer_id: Option<Uuid>,
    /// Keyset cursor: events strictly after (starts_at, id).
    pub after: Option<(DateTime<Utc>, Uuid)>,
    pub limit: u32,
}

/// Escapes `%`, `_` and `\` for a LIKE pattern with `ESCAPE '\'`, and wraps
/// the text in `%...%`, lower-cased.
pub(crate) fn like_pattern(q: &str) -> String {
    let mut out = String::with_capacity(q.len() + 2);
    out.push('%');
    for c in q.to_lowercase().chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('%');
    out
}

/// The current instant at microsecond precision: what PostgreSQL stores,
/// so both backends hold and return identical times.
pub fn now() -> DateTime<Utc> {
    truncate_micros(Utc::now())
}

/// Drops sub-microsecond digits.
pub fn truncate_micros(t: DateTime<Utc>) -> DateTime<Utc> {
    use chrono::SubsecRound;
    t.trunc_subsecs(6)
}
