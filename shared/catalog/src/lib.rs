//! The catalog's HTTP types: what clients send (with the validation that
//! turns it into store models) and what they get back.

mod validate;

use chrono::{DateTime, FixedOffset, Utc};
use serde::{Deserialize, Serialize};
use tg_http::ApiError;
use tg_store::{
    Event, EventPatch, EventStatus, NewEvent, NewTicketType, TicketType, TicketTypePatch,
};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use validate::Check;

// ---------------------------------------------------------------- views --

/// An event with its ticket types and live availability.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct EventView {
    pub id: Uuid,
    pub title: String,
    pub description: String,
    pub venue: String,
    pub city: String,
    pub category: String,
    /// IANA time zone of the venue.
    #[schema(example = "Europe/Berlin")]
    pub timezone: String,
    pub image_url: Option<String>,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    pub status: EventStatus,
    pub organizer_id: Uuid,
    pub published_at: Option<DateTime<Utc>>,
    /// Minutes a booking holds its tickets before it expires unpaid.
    pub hold_minutes: i32,
    /// Buyers may cancel a paid booking for a refund until this many hours
    /// before the start; `null`: no buyer refunds.
    pub refund_cutoff_hours: Option<i32>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub ticket_types: Vec<TicketTypeView>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct TicketTypeView {
    pub id: Uuid,
    pub event_id: Uuid,
    pub name: String,
    /// Price in minor units of `currency` (cents for EUR, yen for JPY).
    pub price_cents: i64,
    /// ISO 4217 code.
    #[schema(example = "EUR")]
    pub currency: String,
    pub capacity: i64,
    /// capacity - sold - held, live.
    pub available: i64,
    pub max_per_order: i32,
    pub sales_start: Option<DateTime<Utc>>,
    pub sales_end: Option<DateTime<Utc>>,
}

impl From<TicketType> for TicketTypeView {
    fn from(t: TicketType) -> Self {
        Self {
            available: t.available(),
            id: t.id,
            event_id: t.event_id,
            name: t.name,
            price_cents: t.price_cents,
            currency: t.currency.to_string(),
            capacity: t.capacity,
            max_per_order: t.max_per_order,
            sales_start: t.sales_start,
            sales_end: t.sales_end,
        }
    }
}

impl From<Event> for EventView {
    fn from(e: Event) -> Self {
        Self {
            id: e.id,
            title: e.title,
            description: e.description,
            venue: e.venue,
            city: e.city,
            category: e.category,
            timezone: e.timezone,
            image_url: e.image_url,
            starts_at: e.starts_at,
            ends_at: e.ends_at,
            status: e.status,
            organizer_id: e.organizer_id,
            published_at: e.published_at,
            hold_minutes: e.hold_minutes,
            refund_cutoff_hours: e.refund_cutoff_hours,
            created_at: e.created_at,
            updated_at: e.updated_at,
            ticket_types: e.ticket_types.into_iter().map(Into::into).collect(),
        }
    }
}

// ------------------------------------------------------------- requests --

/// A new draft event. Unknown fields are rejected.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateEventRequest {
    #[schema(
        min_length = 1,
        max_length = 200,
        pattern = "^[^\\x00-\\x1f\\x7f-\\x9f]*[^\\s\\x00-\\x1f\\x7f-\\x9f][^\\x00-\\x1f\\x7f-\\x9f]*$"
    )]
    pub title: String,
    #[serde(default)]
    #[schema(max_length = 10000)]
    pub description: String,
    #[schema(
        min_length = 1,
        max_length = 200,
        pattern = "^[^\\x00-\\x1f\\x7f-\\x9f]*[^\\s\\x00-\\x1f\\x7f-\\x9f][^\\x00-\\x1f\\x7f-\\x9f]*$"
    )]
    pub venue: String,
    #[schema(
        min_length = 1,
        max_length = 100,
        pattern = "^[^\\x00-\\x1f\\x7f-\\x9f]*[^\\s\\x00-\\x1f\\x7f-\\x9f][^\\x00-\\x1f\\x7f-\\x9f]*$"
    )]
    pub city: String,
    #[schema(
        min_length = 1,
        max_length = 50,
        pattern = "^[^\\x00-\\x1f\\x7f-\\x9f]*[^\\s\\x00-\\x1f\\x7f-\\x9f][^\\x00-\\x1f\\x7f-\\x9f]*$"
    )]
    pub category: String,
    #[schema(example = "Europe/Berlin")]
    pub timezone: String,
    #[serde(default)]
    pub image_url: Option<String>,
    /// RFC 3339 with offset.
    pub starts_at: DateTime<FixedOffset>,
    /// RFC 3339 with offset; after `starts_at`.
    pub ends_at: DateTime<FixedOffset>,
    /// Minutes a booking holds its tickets unpaid, 1 to 60 (default 10).
    #[serde(default)]
    #[schema(minimum = 1, maximum = 60, example = 10)]
    pub hold_minutes: Option<i32>,
    /// Buyers may cancel a paid booking for a refund until this many hours
    /// before the start (0 to 8760); absent or null: no buyer refunds.
    #[serde(default)]
    #[schema(minimum = 0, maximum = 8760, example = 48)]
    pub refund_cutoff_hours: Option<i32>,
}

impl CreateEventRequest {
    pub fn validate(self) -> Result<NewEvent, ApiError> {
        let mut c = Check::default();
        let title = c.text("title", &self.title, 1, 200);
        let description = c.long_text("description", &self.description, 10_000);
        let venue = c.text("venue", &self.venue, 1, 200);
        let city = c.text("city", &self.city, 1, 100);
        let category = c.text("category", &self.category, 1, 50);
        let timezone = c.timezone("timezone", &self.timezone);
        let image_url = self.image_url.as_deref().map(|u| c.url("image_url", u));
        let starts_at = c.time("starts_at", self.starts_at);
        let ends_at = c.time("ends_at", self.ends_at);
        if ends_at <= starts_at {
            c.fail("ends_at", "must be after starts_at");
        }
        let hold_minutes = self.hold_minutes.unwrap_or(tg_store::DEFAULT_HOLD_MINUTES);
        c.range("hold_minutes", i64::from(hold_minutes), 1, 60);
        if let Some(h) = self.refund_cutoff_hours {
            c.range("refund_cutoff_hours", i64::from(h), 0, 8760);
        }
        c.finish()?;
        Ok(NewEvent {
            hold_minutes,
            refund_cutoff_hours: self.refund_cutoff_hours,
            title,
            description,
            venue,
            city,
            category,
            timezone,
            image_url,
            starts_at,
            ends_at,
        })
    }
}

/// A partial update; absent fields stay as they are, `image_url: null`
/// removes the image. `status`, `organizer_id` and ids cannot be set here.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateEventRequest {
    #[schema(
        min_length = 1,
        max_length = 200,
        pattern = "^[^\\x00-\\x1f\\x7f-\\x9f]*[^\\s\\x00-\\x1f\\x7f-\\x9f][^\\x00-\\x1f\\x7f-\\x9f]*$"
    )]
    #[serde(default, deserialize_with = "tg_http::patch::present")]
    #[schema(nullable = false)]
    pub title: Option<String>,
    #[serde(default, deserialize_with = "tg_http::patch::present")]
    #[schema(nullable = false)]
    pub description: Option<String>,
    #[schema(
        min_length = 1,
        max_length = 200,
        pattern = "^[^\\x00-\\x1f\\x7f-\\x9f]*[^\\s\\x00-\\x1f\\x7f-\\x9f][^\\x00-\\x1f\\x7f-\\x9f]*$"
    )]
    #[serde(default, deserialize_with = "tg_http::patch::present")]
    #[schema(nullable = false)]
    pub venue: Option<String>,
    #[schema(
        min_length = 1,
        max_length = 100,
        pattern = "^[^\\x00-\\x1f\\x7f-\\x9f]*[^\\s\\x00-\\x1f\\x7f-\\x9f][^\\x00-\\x1f\\x7f-\\x9f]*$"
    )]
    #[serde(default, deserialize_with = "tg_http::patch::present")]
    #[schema(nullable = false)]
    pub city: Option<String>,
    #[schema(
        min_length = 1,
        max_length = 50,
        pattern = "^[^\\x00-\\x1f\\x7f-\\x9f]*[^\\s\\x00-\\x1f\\x7f-\\x9f][^\\x00-\\x1f\\x7f-\\x9f]*$"
    )]
    #[serde(default, deserialize_with = "tg_http::patch::present")]
    #[schema(nullable = false)]
    pub category: Option<String>,
    #[serde(default, deserialize_with = "tg_http::patch::present")]
    #[schema(nullable = false)]
    pub timezone: Option<String>,
    #[serde(default, deserialize_with = "tg_http::patch::nullable")]
    #[schema(value_type = Option<String>)]
    pub image_url: Option<Option<String>>,
    #[serde(default, deserialize_with = "tg_http::patch::present")]
    #[schema(nullable = false)]
    pub starts_at: Option<DateTime<FixedOffset>>,
    #[serde(default, deserialize_with = "tg_http::patch::present")]
    #[schema(nullable = false)]
    pub ends_at: Option<DateTime<FixedOffset>>,
    #[schema(minimum = 1, maximum = 60)]
    #[serde(default, deserialize_with = "tg_http::patch::present")]
    #[schema(nullable = false)]
    pub hold_minutes: Option<i32>,
    /// `null` removes buyer refunds.
    #[serde(default, deserialize_with = "tg_http::patch::nullable")]
    #[schema(value_type = Option<i32>)]
    pub refund_cutoff_hours: Option<Option<i32>>,
}

impl UpdateEventRequest {
    pub fn validate(self) -> Result<EventPatch, ApiError> {
        let mut c = Check::default();
        let patch = EventPatch {
            title: self.title.map(|v| c.text("title", &v, 1, 200)),
            description: self
                .description
                .map(|v| c.long_text("description", &v, 10_000)),
            venue: self.venue.map(|v| c.text("venue", &v, 1, 200)),
            city: self.city.map(|v| c.text("city", &v, 1, 100)),
            category: self.category.map(|v| c.text("category", &v, 1, 50)),
            timezone: self.timezone.map(|v| c.timezone("timezone", &v)),
            image_url: self.image_url.map(|v| v.map(|u| c.url("image_url", &u))),
            starts_at: self.starts_at.map(|t| c.time("starts_at", t)),
            ends_at: self.ends_at.map(|t| c.time("ends_at", t)),
            hold_minutes: self.hold_minutes.inspect(|m| {
                c.range("hold_minutes", i64::from(*m), 1, 60);
            }),
            refund_cutoff_hours: self.refund_cutoff_hours.inspect(|h| {
                if let Some(h) = h {
                    c.range("refund_cutoff_hours", i64::from(*h), 0, 8760);
                }
            }),
        };
        if patch.is_empty() {
            c.fail("body", "name at least one field to change");
        }
        c.finish()?;
        Ok(patch)
    }
}

/// A new ticket type of an event.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateTicketTypeRequest {
    #[schema(
        min_length = 1,
        max_length = 100,
        pattern = "^[^\\x00-\\x1f\\x7f-\\x9f]*[^\\s\\x00-\\x1f\\x7f-\\x9f][^\\x00-\\x1f\\x7f-\\x9f]*$"
    )]
    pub name: String,
    /// Minor units, 0 (free) or more.
    #[schema(minimum = 0, maximum = 10_000_000_000_i64)]
    pub price_cents: i64,
    /// ISO 4217; every ticket type of an event uses the same currency.
    #[schema(value_type = tg_store::Currency)]
    pub currency: String,
    #[schema(minimum = 0, maximum = 10_000_000)]
    pub capacity: i64,
    /// 1 to 100 (default 10).
    #[serde(default)]
    #[schema(minimum = 1, maximum = 100)]
    pub max_per_order: Option<i32>,
    #[serde(default)]
    pub sales_start: Option<DateTime<FixedOffset>>,
    #[serde(default)]
    pub sales_end: Option<DateTime<FixedOffset>>,
}

pub const MAX_PRICE_CENTS: i64 = 10_000_000_000;
pub const MAX_CAPACITY: i64 = 10_000_000;
pub const DEFAULT_MAX_PER_ORDER: i32 = 10;

impl CreateTicketTypeRequest {
    pub fn validate(self) -> Result<NewTicketType, ApiError> {
        let mut c = Check::default();
        let name = c.text("name", &self.name, 1, 100);
        let currency = c.currency("currency", &self.currency);
        c.range("price_cents", self.price_cents, 0, MAX_PRICE_CENTS);
        c.range("capacity", self.capacity, 0, MAX_CAPACITY);
        let max_per_order = self.max_per_order.unwrap_or(DEFAULT_MAX_PER_ORDER);
        c.range("max_per_order", i64::from(max_per_order), 1, 100);
        let sales_start = self.sales_start.map(|t| c.time("sales_start", t));
        let sales_end = self.sales_end.map(|t| c.time("sales_end", t));
        if let (Some(s), Some(e)) = (sales_start, sales_end)
            && e <= s
        {
            c.fail("sales_end", "must be after sales_start");
        }
        c.finish()?;
        Ok(NewTicketType {
            name,
            price_cents: self.price_cents,
            currency: currency.ok_or_else(|| ApiError::invalid_field("currency", "is required"))?,
            capacity: self.capacity,
            max_per_order,
            sales_start,
            sales_end,
        })
    }
}

/// A partial update of a ticket type. The currency cannot change.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateTicketTypeRequest {
    #[schema(
        min_length = 1,
        max_length = 100,
        pattern = "^[^\\x00-\\x1f\\x7f-\\x9f]*[^\\s\\x00-\\x1f\\x7f-\\x9f][^\\x00-\\x1f\\x7f-\\x9f]*$"
    )]
    #[serde(default, deserialize_with = "tg_http::patch::present")]
    #[schema(nullable = false)]
    pub name: Option<String>,
    #[serde(default, deserialize_with = "tg_http::patch::present")]
    #[schema(nullable = false, minimum = 0, maximum = 10_000_000_000_i64)]
    pub price_cents: Option<i64>,
    #[serde(default, deserialize_with = "tg_http::patch::present")]
    #[schema(nullable = false, minimum = 0, maximum = 10_000_000)]
    pub capacity: Option<i64>,
    #[serde(default, deserialize_with = "tg_http::patch::present")]
    #[schema(nullable = false, minimum = 1, maximum = 100)]
    pub max_per_order: Option<i32>,
    #[serde(default, deserialize_with = "tg_http::patch::nullable")]
    #[schema(value_type = Option<DateTime<Utc>>)]
    pub sales_start: Option<Option<DateTime<FixedOffset>>>,
    #[serde(default, deserialize_with = "tg_http::patch::nullable")]
    #[schema(value_type = Option<DateTime<Utc>>)]
    pub sales_end: Option<Option<DateTime<FixedOffset>>>,
}

impl UpdateTicketTypeRequest {
    pub fn validate(self) -> Result<TicketTypePatch, ApiError> {
        let mut c = Check::default();
        let patch = TicketTypePatch {
            name: self.name.map(|v| c.text("name", &v, 1, 100)),
            price_cents: self
                .price_cents
                .inspect(|v| c.range("price_cents", *v, 0, MAX_PRICE_CENTS)),
            capacity: self
                .capacity
                .inspect(|v| c.range("capacity", *v, 0, MAX_CAPACITY)),
            max_per_order: self
                .max_per_order
                .inspect(|v| c.range("max_per_order", i64::from(*v), 1, 100)),
            sales_start: self
                .sales_start
                .map(|v| v.map(|t| c.time("sales_start", t))),
            sales_end: self.sales_end.map(|v| v.map(|t| c.time("sales_end", t))),
        };
        let empty = patch.name.is_none()
            && patch.price_cents.is_none()
            && patch.capacity.is_none()
            && patch.max_per_order.is_none()
            && patch.sales_start.is_none()
            && patch.sales_end.is_none();
        if empty {
            c.fail("body", "name at least one field to change");
        }
        c.finish()?;
        Ok(patch)
    }
}

/// `GET /v1/events` filters.
#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListEventsQuery {
    /// Case-insensitive text search in title, description, venue and city.
    pub q: Option<String>,
    pub city: Option<String>,
    pub category: Option<String>,
    /// Events not ended by this time (default: now). RFC 3339.
    pub from: Option<DateTime<FixedOffset>>,
    /// Events starting at or before this time. RFC 3339.
    pub to: Option<DateTime<FixedOffset>>,
    /// 1 to 100, default 20.
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<u32>,
    pub cursor: Option<String>,
}

impl ListEventsQuery {
    /// Checks the filters (lengths, from <= to); returns a 400 naming the
    /// parameter.
    pub fn check(&self) -> Result<(), ApiError> {
        for (name, value, max) in [
            ("q", &self.q, 200),
            ("city", &self.city, 100),
            ("category", &self.category, 50),
        ] {
            if let Some(v) = value
                && v.chars().count() > max
            {
                return Err(bad_query(name, &format!("at most {max} characters")));
            }
        }
        if let (Some(from), Some(to)) = (self.from, self.to)
            && to < from
        {
            return Err(bad_query("to", "must not be before `from`"));
        }
        Ok(())
    }
}

fn bad_query(field: &str, message: &str) -> ApiError {
    ApiError::bad_request(
        "invalid_query",
        format!("query parameter `{field}`: {message}"),
    )
    .with_errors(vec![tg_http::FieldError::new(field, message)])
}

/// Keyset of the event list: the last event's (starts_at, id).
pub type EventCursor = (DateTime<Utc>, Uuid);
