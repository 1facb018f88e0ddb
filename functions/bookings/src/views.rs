//! What clients send and get back.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tg_http::{ApiError, FieldError};
use tg_store::{Booking, BookingItem, BookingStatus, HoldItem, NewHold};
use utoipa::ToSchema;
use uuid::Uuid;

/// Most ticket types one booking may name.
pub const MAX_ITEMS: usize = 20;

/// Tickets to hold, across ticket types of one published event.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateBookingRequest {
    pub event_id: Uuid,
    /// 1 to 20 distinct ticket types.
    #[schema(min_items = 1, max_items = 20)]
    pub items: Vec<HoldItemRequest>,
    /// Required when the platform checks CAPTCHAs on bookings.
    #[serde(default)]
    pub captcha_token: Option<String>,
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct HoldItemRequest {
    pub ticket_type_id: Uuid,
    /// At least 1, at most the ticket type's `max_per_order`.
    #[schema(minimum = 1, maximum = 100, example = 2)]
    pub quantity: i64,
}

impl CreateBookingRequest {
    /// Checks the shape; the store checks it against the event.
    pub fn validate(
        self,
        user_id: Uuid,
        max_held_per_user: i64,
    ) -> Result<(NewHold, Option<String>), ApiError> {
        let mut errors = Vec::new();
        if self.items.is_empty() {
            errors.push(FieldError::new("items", "name at least one ticket type"));
        }
        if self.items.len() > MAX_ITEMS {
            errors.push(FieldError::new(
                "items",
                format!("at most {MAX_ITEMS} ticket types per booking"),
            ));
        }
        for (i, item) in self.items.iter().enumerate() {
            if !(1..=100).contains(&item.quantity) {
                errors.push(FieldError::new(
                    format!("items[{i}].quantity"),
                    "must be 1 to 100",
                ));
            }
            if self.items[..i]
                .iter()
                .any(|o| o.ticket_type_id == item.ticket_type_id)
            {
                errors.push(FieldError::new(
                    format!("items[{i}].ticket_type_id"),
                    "each ticket type may appear once",
                ));
            }
        }
        if !errors.is_empty() {
            return Err(ApiError::validation(errors));
        }
        Ok((
            NewHold {
                user_id,
                event_id: self.event_id,
                items: self
                    .items
                    .iter()
                    .map(|i| HoldItem {
                        ticket_type_id: i.ticket_type_id,
                        quantity: i.quantity,
                    })
                    .collect(),
                max_held_per_user,
                now: tg_store::now(),
            },
            self.captcha_token,
        ))
    }
}

/// A booking. `status` is what holds now: a lapsed hold reads `expired`
/// even before the expiry worker has released it.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct BookingView {
    pub id: Uuid,
    pub event_id: Uuid,
    pub user_id: Uuid,
    pub status: BookingStatus,
    /// When an unpaid hold lapses.
    pub expires_at: DateTime<Utc>,
    /// Sum of quantity x unit price, in minor units of `currency`.
    pub total_cents: i64,
    #[schema(example = "EUR")]
    pub currency: String,
    /// Admissions in all items.
    pub quantity: i64,
    pub items: Vec<BookingItemView>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub confirmed_at: Option<DateTime<Utc>>,
    pub closed_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct BookingItemView {
    pub ticket_type_id: Uuid,
    pub name: String,
    pub quantity: i64,
    pub unit_price_cents: i64,
}

impl From<BookingItem> for BookingItemView {
    fn from(i: BookingItem) -> Self {
        Self {
            ticket_type_id: i.ticket_type_id,
            name: i.name,
            quantity: i.quantity,
            unit_price_cents: i.unit_price_cents,
        }
    }
}

impl BookingView {
    pub fn new(b: Booking, now: DateTime<Utc>) -> Self {
        Self {
            status: b.effective_status(now),
            id: b.id,
            event_id: b.event_id,
            user_id: b.user_id,
            expires_at: b.expires_at,
            total_cents: b.total_cents,
            currency: b.currency.to_string(),
            quantity: b.quantity,
            items: b.items.into_iter().map(Into::into).collect(),
            created_at: b.created_at,
            updated_at: b.updated_at,
            confirmed_at: b.confirmed_at,
            closed_at: b.closed_at,
        }
    }
}
