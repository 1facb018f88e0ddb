//! Bookings and inventory, written once for both backends (like `sql.rs`).
//!
//! The inventory invariant `sold + held <= capacity` is kept by the
//! database: a hold is one conditional `UPDATE ... WHERE sold + held + n <=
//! capacity` per ticket type, issued last in its transaction so the hot row
//! is locked only until the commit (and a `CHECK` constraint backs it up).
//! Every transaction takes its locks in one order (booking rows, then
//! `user_event_holds`, then ticket types sorted by id), so they cannot
//! deadlock each other.

use std::collections::BTreeMap;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::{ColumnIndex, Decode, Row, Type};
use uuid::Uuid;

use crate::{
    Booking, BookingStatus, Currency, NewHold, OutboxEvent, Scope, StoreError, StoreResult,
};

/// Storage for bookings; every [`crate::Store`] implements it.
#[async_trait]
pub trait BookingStore: Send + Sync {
    /// Takes the inventory and creates a `held` booking, atomically.
    /// Conflicts: `sold_out`, `hold_limit_reached`, `sales_not_started`,
    /// `sales_ended`, `event_cancelled`; a lapsed hold in the way is released
    /// first, so an expired hold never blocks a buyer.
    async fn hold(&self, hold: &NewHold) -> StoreResult<Booking>;
    async fn get_booking(&self, id: Uuid) -> StoreResult<Booking>;
    /// The user's bookings, newest first, at most `limit + 1`.
    async fn list_user_bookings(
        &self,
        user_id: Uuid,
        before: Option<Uuid>,
        limit: u32,
    ) -> StoreResult<Vec<Booking>>;
    /// An event's bookings, newest first, at most `limit + 1`; NotFound when
    /// the event is outside `scope`.
    async fn list_event_bookings(
        &self,
        event_id: Uuid,
        scope: Scope,
        before: Option<Uuid>,
        limit: u32,
    ) -> StoreResult<Vec<Booking>>;
    /// The buyer cancels a held booking: its tickets are back on sale in
    /// the same transaction. Cancelling twice returns the cancelled booking.
    async fn cancel_booking(
        &self,
        id: Uuid,
        user_id: Uuid,
        now: DateTime<Utc>,
    ) -> StoreResult<Booking>;
    /// Payment arrived: held tickets become sold. A booking whose hold
    /// lapsed takes its tickets again if they are still there (`sold_out`
    /// otherwise). Confirming twice returns the confirmed booking.
    async fn confirm_booking(&self, id: Uuid, now: DateTime<Utc>) -> StoreResult<Booking>;
    /// Releases up to `limit` lapsed holds (oldest first); returns their
    /// ids. Safe with many workers at once (`SKIP LOCKED`).
    async fn expire_holds(&self, now: DateTime<Utc>, limit: u32) -> StoreResult<Vec<Uuid>>;
    /// Outbox rows after `after_seq`, in order, at most `limit`.
    async fn outbox_after(&self, after_seq: i64, limit: u32) -> StoreResult<Vec<OutboxEvent>>;
    /// Deletes rate-limit windows and failed-login records older than
    /// `before`; returns the rows deleted.
    async fn prune_counters(&self, before: DateTime<Utc>) -> StoreResult<u64>;
}

pub(crate) const BOOKING_SELECT: &str = "SELECT b.id, b.event_id, e.organizer_id, b.user_id, \
     b.status, b.quantity, b.total_cents, b.currency, b.expires_at, b.created_at, b.updated_at, \
     b.confirmed_at, b.closed_at FROM bookings b JOIN events e ON e.id = b.event_id";

pub(crate) fn booking_from_row<'r, R>(row: &'r R) -> StoreResult<Booking>
where
    R: Row,
    &'r str: ColumnIndex<R>,
    Uuid: Decode<'r, R::Database> + Type<R::Database>,
    String: Decode<'r, R::Database> + Type<R::Database>,
    i64: Decode<'r, R::Database> + Type<R::Database>,
    DateTime<Utc>: Decode<'r, R::Database> + Type<R::Database>,
{
    let status: String = row.try_get("status")?;
    let currency: String = row.try_get("currency")?;
    Ok(Booking {
        id: row.try_get("id")?,
        event_id: row.try_get("event_id")?,
        organizer_id: row.try_get("organizer_id")?,
        user_id: row.try_get("user_id")?,
        status: BookingStatus::parse(&status)
            .ok_or_else(|| StoreError::Corrupt(format!("booking status {status:?}")))?,
        quantity: row.try_get("quantity")?,
        total_cents: row.try_get("total_cents")?,
        currency: Currency::parse(currency.trim())
            .ok_or_else(|| StoreError::Corrupt(format!("currency {currency:?}")))?,
        expires_at: row.try_get("expires_at")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
        confirmed_at: row.try_get("confirmed_at")?,
        closed_at: row.try_get("closed_at")?,
        items: Vec::new(),
    })
}

/// Why one attempt at a hold failed (some failures are retried once after
/// releasing lapsed holds).
pub(crate) enum HoldFailure {
    SoldOut(String),
    CapReached,
    /// A price changed between the read and the inventory update.
    PriceChanged,
    Other(StoreError),
}

impl From<sqlx::Error> for HoldFailure {
    fn from(e: sqlx::Error) -> Self {
        HoldFailure::Other(e.into())
    }
}

impl From<StoreError> for HoldFailure {
    fn from(e: StoreError) -> Self {
        HoldFailure::Other(e)
    }
}

pub(crate) fn sold_out(name: &str) -> StoreError {
    StoreError::conflict(
        "sold_out",
        format!("not enough tickets of `{name}` are left"),
    )
}

pub(crate) fn cap_reached(cap: i64) -> StoreError {
    StoreError::conflict(
        "hold_limit_reached",
        format!("one buyer may hold at most {cap} unpaid tickets of an event at once"),
    )
}

/// Sums quantities per key, in key order (the lock order).
pub(crate) fn per_key<K: Ord>(rows: impl IntoIterator<Item = (K, i64)>) -> BTreeMap<K, i64> {
    let mut m = BTreeMap::new();
    for (k, n) in rows {
        *m.entry(k).or_insert(0) += n;
    }
    m
}

pub(crate) fn event_data(b: &Booking) -> serde_json::Value {
    serde_json::json!({
        "booking_id": b.id,
        "event_id": b.event_id,
        "user_id": b.user_id,
        "status": b.status,
        "quantity": b.quantity,
        "total_cents": b.total_cents,
        "currency": b.currency.as_str(),
        "expires_at": b.expires_at,
        "items": b.items.iter().map(|i| serde_json::json!({
            "ticket_type_id": i.ticket_type_id,
            "quantity": i.quantity,
            "unit_price_cents": i.unit_price_cents,
        })).collect::<Vec<_>>(),
    })
}

/// Expands to `impl BookingStore for $store`. The backend module supplies
/// `begin_write()`, `pool` and `FOR_UPDATE`.
macro_rules! bookings_impl {
    ($store:ty, $db:ty) => {
        #[async_trait::async_trait]
        impl $crate::bookings::BookingStore for $store {
            #[tracing::instrument(skip(self, h), level = "debug", fields(event = %h.event_id))]
            async fn hold(&self, h: &$crate::NewHold) -> $crate::StoreResult<$crate::Booking> {
                use $crate::bookings::HoldFailure as F;
                if h.items.iter().map(|i| i.quantity).sum::<i64>() > h.max_held_per_user {
                    return Err($crate::bookings::cap_reached(h.max_held_per_user));
                }
                let mut swept = false;
                let mut price_retries = 0;
                loop {
                    match self.try_hold(h).await {
                        Ok(b) => return Ok(b),
                        Err(F::Other(e)) => return Err(e),
                        Err(F::PriceChanged) if price_retries < 3 => price_retries += 1,
                        Err(F::PriceChanged) => {
                            return Err($crate::StoreError::conflict("price_changed", "prices changed while booking; retry"))
                        }
                        // A lapsed hold may be in the way: release the
                        // event's (or this buyer's) lapsed holds and retry once.
                        Err(F::SoldOut(name)) => {
                            if swept || self.release_lapsed(h.now, Some(h.event_id), None, 1000).await?.is_empty() {
                                return Err($crate::bookings::sold_out(&name));
                            }
                            swept = true;
                        }
                        Err(F::CapReached) => {
                            if swept || self.release_lapsed(h.now, Some(h.event_id), Some(h.user_id), 1000).await?.is_empty() {
                                return Err($crate::bookings::cap_reached(h.max_held_per_user));
                            }
                            swept = true;
                        }
                    }
                }
            }

            #[tracing::instrument(skip(self), level = "debug")]
            async fn get_booking(&self, id: uuid::Uuid) -> $crate::StoreResult<$crate::Booking> {
                let mut conn = self.pool.acquire().await?;
                let sql = format!("{} WHERE b.id = $1", $crate::bookings::BOOKING_SELECT);
                let row = sqlx::query(&sql)
                    .bind(id)
                    .fetch_optional(&mut *conn)
                    .await?
                    .ok_or($crate::StoreError::NotFound("booking"))?;
                let mut b = vec![$crate::bookings::booking_from_row(&row)?];
                Self::load_items(&mut conn, &mut b).await?;
                Ok(b.remove(0))
            }

            #[tracing::instrument(skip(self), level = "debug")]
            async fn list_user_bookings(&self, user_id: uuid::Uuid, before: Option<uuid::Uuid>, limit: u32) -> $crate::StoreResult<Vec<$crate::Booking>> {
                self.list_bookings("b.user_id", user_id, before, limit).await
            }

            #[tracing::instrument(skip(self), level = "debug")]
            async fn list_event_bookings(&self, event_id: uuid::Uuid, scope: $crate::Scope, before: Option<uuid::Uuid>, limit: u32) -> $crate::StoreResult<Vec<$crate::Booking>> {
                {
                    let mut conn = self.pool.acquire().await?;
                    Self::event_row(&mut conn, event_id, scope, false).await?;
                }
                self.list_bookings("b.event_id", event_id, before, limit).await
            }

            #[tracing::instrument(skip(self), level = "debug")]
            async fn cancel_booking(&self, id: uuid::Uuid, user_id: uuid::Uuid, now: chrono::DateTime<chrono::Utc>) -> $crate::StoreResult<$crate::Booking> {
                let now = $crate::model::truncate_micros(now);
                let mut tx = self.begin_write().await?;
                let b = Self::booking_locked(&mut tx, id).await?;
                if b.user_id != user_id {
                    return Err($crate::StoreError::NotFound("booking"));
                }
                match b.status {
                    $crate::BookingStatus::Held if b.expires_at > now => {
                        Self::release_in(&mut tx, &[b], $crate::BookingStatus::Cancelled, now).await?;
                    }
                    $crate::BookingStatus::Held => {
                        // Lapsed: release it as expired, and say so.
                        Self::release_in(&mut tx, &[b], $crate::BookingStatus::Expired, now).await?;
                        tx.commit().await?;
                        return Err($crate::StoreError::conflict("booking_expired", "the hold has expired; its tickets are back on sale"));
                    }
                    $crate::BookingStatus::Cancelled => {}
                    $crate::BookingStatus::Expired => {
                        return Err($crate::StoreError::conflict("booking_expired", "the hold has expired; its tickets are back on sale"));
                    }
                    $crate::BookingStatus::Confirmed => {
                        return Err($crate::StoreError::conflict("refund_required", "a paid booking is cancelled by refunding its payment"));
                    }
                    $crate::BookingStatus::Refunded => {
                        return Err($crate::StoreError::conflict("booking_refunded", "the booking was refunded"));
                    }
                }
                tx.commit().await?;
                self.get_booking(id).await
            }

            #[tracing::instrument(skip(self), level = "debug")]
            async fn confirm_booking(&self, id: uuid::Uuid, now: chrono::DateTime<chrono::Utc>) -> $crate::StoreResult<$crate::Booking> {
                let now = $crate::model::truncate_micros(now);
                let mut tx = self.begin_write().await?;
                let b = Self::booking_locked(&mut tx, id).await?;
                match b.status {
                    $crate::BookingStatus::Confirmed => return self.get_booking(id).await,
                    $crate::BookingStatus::Held | $crate::BookingStatus::Expired => {
                        if !Self::confirm_in(&mut tx, &b, now).await? {
                            let name = b.items.first().map(|i| i.name.clone()).unwrap_or_default();
                            return Err($crate::bookings::sold_out(&name));
                        }
                    }
                    $crate::BookingStatus::Cancelled => {
                        return Err($crate::StoreError::conflict("booking_cancelled", "the booking was cancelled"));
                    }
                    $crate::BookingStatus::Refunded => {
                        return Err($crate::StoreError::conflict("booking_refunded", "the booking was refunded"));
                    }
                }
                tx.commit().await?;
                self.get_booking(id).await
            }

            #[tracing::instrument(skip(self), level = "debug")]
            async fn expire_holds(&self, now: chrono::DateTime<chrono::Utc>, limit: u32) -> $crate::StoreResult<Vec<uuid::Uuid>> {
                self.release_lapsed(now, None, None, limit).await
            }

            #[tracing::instrument(skip(self), level = "debug")]
            async fn outbox_after(&self, after_seq: i64, limit: u32) -> $crate::StoreResult<Vec<$crate::OutboxEvent>> {
                type R = (i64, uuid::Uuid, String, String, String, String, chrono::DateTime<chrono::Utc>, String, Option<chrono::DateTime<chrono::Utc>>, i32, Option<String>);
                let rows: Vec<R> = sqlx::query_as(
                    "SELECT seq, id, type, source, subject, partition_key, time, data, sent_at, attempts, traceparent FROM outbox WHERE seq > $1 ORDER BY seq LIMIT $2",
                )
                .bind(after_seq)
                .bind(i64::from(limit))
                .fetch_all(&self.pool)
                .await?;
                rows.into_iter()
                    .map(|(seq, id, event_type, source, subject, partition_key, time, data, sent_at, attempts, traceparent)| {
                        Ok($crate::OutboxEvent {
                            seq,
                            id,
                            event_type,
                            source,
                            subject,
                            partition_key,
                            time,
                            data: serde_json::from_str(&data).map_err(|e| $crate::StoreError::Corrupt(format!("outbox data: {e}")))?,
                            sent_at,
                            attempts,
                            traceparent,
                        })
                    })
                    .collect()
            }

            #[tracing::instrument(skip(self), level = "debug")]
            async fn prune_counters(&self, before: chrono::DateTime<chrono::Utc>) -> $crate::StoreResult<u64> {
                let a = sqlx::query("DELETE FROM rate_counters WHERE window_start < $1")
                    .bind(before)
                    .execute(&self.pool)
                    .await?
                    .rows_affected();
                let b = sqlx::query("DELETE FROM login_failures WHERE last_at < $1")
                    .bind(before)
                    .execute(&self.pool)
                    .await?
                    .rows_affected();
                Ok(a + b)
            }
        }

        impl $store {
            /// One attempt at a hold, in one transaction. The hot rows (the
            /// ticket types) are updated last so their locks are held for
            /// the shortest time.
            async fn try_hold(&self, h: &$crate::NewHold) -> Result<$crate::Booking, $crate::bookings::HoldFailure> {
                use $crate::bookings::HoldFailure as F;
                let now = $crate::model::truncate_micros(h.now);
                let mut tx = self.begin_write().await?;
                type Ev = (String, uuid::Uuid, chrono::DateTime<chrono::Utc>, i32, Option<String>);
                let ev: Option<Ev> = sqlx::query_as("SELECT status, organizer_id, ends_at, hold_minutes, currency FROM events WHERE id = $1")
                    .bind(h.event_id)
                    .fetch_optional(&mut *tx)
                    .await?;
                let Some((status, organizer_id, ends_at, hold_minutes, currency)) = ev else {
                    return Err(F::Other($crate::StoreError::NotFound("event")));
                };
                match status.as_str() {
                    "published" => {}
                    "cancelled" => return Err(F::Other($crate::StoreError::conflict("event_cancelled", "the event was cancelled"))),
                    _ => return Err(F::Other($crate::StoreError::NotFound("event"))),
                }
                if ends_at <= now {
                    return Err(F::Other($crate::StoreError::conflict("sales_ended", "the event is over")));
                }
                let currency = currency
                    .as_deref()
                    .and_then(|c| $crate::Currency::parse(c.trim()))
                    .ok_or_else(|| F::Other($crate::StoreError::Corrupt("published event without currency".into())))?;
                type Tt = (uuid::Uuid, String, i64, i32, Option<chrono::DateTime<chrono::Utc>>, Option<chrono::DateTime<chrono::Utc>>);
                let types: Vec<Tt> = sqlx::query_as(
                    "SELECT id, name, price_cents, max_per_order, sales_start, sales_end FROM ticket_types WHERE event_id = $1",
                )
                .bind(h.event_id)
                .fetch_all(&mut *tx)
                .await?;
                let mut items = Vec::with_capacity(h.items.len());
                for (i, item) in h.items.iter().enumerate() {
                    let Some((id, name, price, max, start, end)) = types.iter().find(|t| t.0 == item.ticket_type_id) else {
                        return Err(F::Other($crate::StoreError::Invalid {
                            field: "items",
                            message: format!("items[{i}].ticket_type_id is not a ticket type of this event"),
                        }));
                    };
                    if item.quantity > i64::from(*max) {
                        return Err(F::Other($crate::StoreError::Invalid {
                            field: "items",
                            message: format!("items[{i}].quantity: at most {max} of `{name}` per order"),
                        }));
                    }
                    if start.is_some_and(|s| now < s) {
                        return Err(F::Other($crate::StoreError::conflict("sales_not_started", format!("sales of `{name}` have not started yet"))));
                    }
                    if end.is_some_and(|e| now >= e) {
                        return Err(F::Other($crate::StoreError::conflict("sales_ended", format!("sales of `{name}` have ended"))));
                    }
                    items.push($crate::BookingItem { ticket_type_id: *id, name: name.clone(), quantity: item.quantity, unit_price_cents: *price });
                }
                items.sort_by_key(|i| i.ticket_type_id);
                let quantity: i64 = items.iter().map(|i| i.quantity).sum();
                let total: i64 = items.iter().map(|i| i.quantity * i.unit_price_cents).sum();

                // The per-buyer cap: one conditional upsert on the buyer's row.
                let capped: Option<(i64,)> = sqlx::query_as(
                    "INSERT INTO user_event_holds (user_id, event_id, held) VALUES ($1, $2, $3) \
                     ON CONFLICT (user_id, event_id) DO UPDATE SET held = user_event_holds.held + excluded.held \
                     WHERE user_event_holds.held + excluded.held <= $4 RETURNING held",
                )
                .bind(h.user_id)
                .bind(h.event_id)
                .bind(quantity)
                .bind(h.max_held_per_user)
                .fetch_optional(&mut *tx)
                .await?;
                if capped.is_none() {
                    return Err(F::CapReached);
                }

                let booking = $crate::Booking {
                    id: uuid::Uuid::now_v7(),
                    event_id: h.event_id,
                    organizer_id,
                    user_id: h.user_id,
                    status: $crate::BookingStatus::Held,
                    quantity,
                    total_cents: total,
                    currency,
                    expires_at: now + chrono::Duration::minutes(i64::from(hold_minutes)),
                    created_at: now,
                    updated_at: now,
                    confirmed_at: None,
                    closed_at: None,
                    items,
                };
                sqlx::query(
                    "INSERT INTO bookings (id, event_id, user_id, status, quantity, total_cents, currency, expires_at, created_at, updated_at) \
                     VALUES ($1, $2, $3, 'held', $4, $5, $6, $7, $8, $8)",
                )
                .bind(booking.id)
                .bind(booking.event_id)
                .bind(booking.user_id)
                .bind(booking.quantity)
                .bind(booking.total_cents)
                .bind(booking.currency.as_str())
                .bind(booking.expires_at)
                .bind(now)
                .execute(&mut *tx)
                .await?;
                let mut qb = sqlx::QueryBuilder::<$db>::new(
                    "INSERT INTO booking_items (booking_id, ticket_type_id, quantity, unit_price_cents) ",
                );
                qb.push_values(&booking.items, |mut b, i| {
                    b.push_bind(booking.id).push_bind(i.ticket_type_id).push_bind(i.quantity).push_bind(i.unit_price_cents);
                });
                qb.build().execute(&mut *tx).await?;
                Self::outbox_in(&mut tx, "booking.held", &booking, now).await?;

                // The inventory, last: a conditional update per ticket type in
                // id order. No row means not enough left.
                for item in &booking.items {
                    let row: Option<(i64,)> = sqlx::query_as(
                        "UPDATE ticket_types SET held = held + $2 WHERE id = $1 AND sold + held + $2 <= capacity RETURNING price_cents",
                    )
                    .bind(item.ticket_type_id)
                    .bind(item.quantity)
                    .fetch_optional(&mut *tx)
                    .await?;
                    match row {
                        None => return Err(F::SoldOut(item.name.clone())),
                        Some((price,)) if price != item.unit_price_cents => return Err(F::PriceChanged),
                        Some(_) => {}
                    }
                }
                tx.commit().await?;
                Ok(booking)
            }

            /// Releases lapsed holds (optionally of one event / one buyer)
            /// in one transaction; returns their ids.
            async fn release_lapsed(
                &self,
                now: chrono::DateTime<chrono::Utc>,
                event_id: Option<uuid::Uuid>,
                user_id: Option<uuid::Uuid>,
                limit: u32,
            ) -> $crate::StoreResult<Vec<uuid::Uuid>> {
                let now = $crate::model::truncate_micros(now);
                let mut tx = self.begin_write().await?;
                let mut qb = sqlx::QueryBuilder::<$db>::new("SELECT id FROM bookings WHERE status = 'held' AND expires_at <= ");
                qb.push_bind(now);
                if let Some(e) = event_id {
                    qb.push(" AND event_id = ").push_bind(e);
                }
                if let Some(u) = user_id {
                    qb.push(" AND user_id = ").push_bind(u);
                }
                qb.push(" ORDER BY expires_at LIMIT ").push_bind(i64::from(limit));
                if !FOR_UPDATE.is_empty() {
                    // Another worker's rows are skipped, not waited for.
                    qb.push(" FOR UPDATE SKIP LOCKED");
                }
                let ids: Vec<(uuid::Uuid,)> = qb.build_query_as().fetch_all(&mut *tx).await?;
                if ids.is_empty() {
                    return Ok(Vec::new());
                }
                let ids: Vec<uuid::Uuid> = ids.into_iter().map(|(id,)| id).collect();
                let mut bookings = Self::bookings_by_ids(&mut tx, &ids).await?;
                bookings.retain(|b| b.status == $crate::BookingStatus::Held);
                Self::release_in(&mut tx, &bookings, $crate::BookingStatus::Expired, now).await?;
                tx.commit().await?;
                Ok(bookings.into_iter().map(|b| b.id).collect())
            }

            /// Moves held `bookings` (locked by the caller) to `to`, giving
            /// their tickets back and writing one outbox event each.
            async fn release_in(
                conn: &mut <$db as sqlx::Database>::Connection,
                bookings: &[$crate::Booking],
                to: $crate::BookingStatus,
                now: chrono::DateTime<chrono::Utc>,
            ) -> $crate::StoreResult<()> {
                if bookings.is_empty() {
                    return Ok(());
                }
                let mut qb = sqlx::QueryBuilder::<$db>::new("UPDATE bookings SET status = ");
                qb.push_bind(to.as_str()).push(", closed_at = ").push_bind(now).push(", updated_at = ").push_bind(now);
                qb.push(" WHERE status = 'held' AND id IN (");
                let mut sep = qb.separated(", ");
                for b in bookings {
                    sep.push_bind(b.id);
                }
                qb.push(")");
                qb.build().execute(&mut *conn).await?;
                let per_user = $crate::bookings::per_key(bookings.iter().map(|b| ((b.user_id, b.event_id), b.quantity)));
                for ((user, event), n) in per_user {
                    Self::add_user_held(conn, user, event, -n).await?;
                }
                let per_tt = $crate::bookings::per_key(bookings.iter().flat_map(|b| b.items.iter().map(|i| (i.ticket_type_id, i.quantity))));
                for (tt, n) in per_tt {
                    sqlx::query("UPDATE ticket_types SET held = held - $2 WHERE id = $1")
                        .bind(tt)
                        .bind(n)
                        .execute(&mut *conn)
                        .await?;
                }
                let event_type = match to {
                    $crate::BookingStatus::Cancelled => "booking.cancelled",
                    _ => "booking.expired",
                };
                for b in bookings {
                    let mut after = b.clone();
                    after.status = to;
                    Self::outbox_in(conn, event_type, &after, now).await?;
                }
                Ok(())
            }

            /// Confirms a locked booking: held tickets become sold; a lapsed
            /// (expired or cancelled) booking takes its tickets again if they
            /// are all still there. `false`: not enough left, nothing changed.
            pub(crate) async fn confirm_in(
                conn: &mut <$db as sqlx::Database>::Connection,
                b: &$crate::Booking,
                now: chrono::DateTime<chrono::Utc>,
            ) -> $crate::StoreResult<bool> {
                let per_tt = $crate::bookings::per_key(b.items.iter().map(|i| (i.ticket_type_id, i.quantity)));
                match b.status {
                    $crate::BookingStatus::Held => {
                        Self::add_user_held(conn, b.user_id, b.event_id, -b.quantity).await?;
                        for (tt, n) in &per_tt {
                            sqlx::query("UPDATE ticket_types SET held = held - $2, sold = sold + $2 WHERE id = $1")
                                .bind(tt)
                                .bind(n)
                                .execute(&mut *conn)
                                .await?;
                        }
                    }
                    $crate::BookingStatus::Expired | $crate::BookingStatus::Cancelled => {
                        let mut taken: Vec<(uuid::Uuid, i64)> = Vec::new();
                        for (tt, n) in &per_tt {
                            let ok = sqlx::query("UPDATE ticket_types SET sold = sold + $2 WHERE id = $1 AND sold + held + $2 <= capacity")
                                .bind(tt)
                                .bind(n)
                                .execute(&mut *conn)
                                .await?
                                .rows_affected();
                            if ok == 0 {
                                for (t, m) in taken {
                                    sqlx::query("UPDATE ticket_types SET sold = sold - $2 WHERE id = $1")
                                        .bind(t)
                                        .bind(m)
                                        .execute(&mut *conn)
                                        .await?;
                                }
                                return Ok(false);
                            }
                            taken.push((*tt, *n));
                        }
                    }
                    $crate::BookingStatus::Confirmed | $crate::BookingStatus::Refunded => return Ok(false),
                }
                sqlx::query("UPDATE bookings SET status = 'confirmed', confirmed_at = $2, updated_at = $2, closed_at = NULL WHERE id = $1")
                    .bind(b.id)
                    .bind(now)
                    .execute(&mut *conn)
                    .await?;
                Self::issue_tickets_in(conn, b, now).await?;
                let mut after = b.clone();
                after.status = $crate::BookingStatus::Confirmed;
                Self::outbox_in(conn, "booking.confirmed", &after, now).await?;
                Ok(true)
            }

            /// A paid booking's tickets go back on sale (full refund, dispute).
            pub(crate) async fn unsell_in(
                conn: &mut <$db as sqlx::Database>::Connection,
                b: &$crate::Booking,
                to: $crate::BookingStatus,
                event_type: &str,
                now: chrono::DateTime<chrono::Utc>,
            ) -> $crate::StoreResult<()> {
                if b.status != $crate::BookingStatus::Confirmed {
                    return Ok(());
                }
                let per_tt = $crate::bookings::per_key(b.items.iter().map(|i| (i.ticket_type_id, i.quantity)));
                for (tt, n) in &per_tt {
                    sqlx::query("UPDATE ticket_types SET sold = sold - $2 WHERE id = $1")
                        .bind(tt)
                        .bind(n)
                        .execute(&mut *conn)
                        .await?;
                }
                sqlx::query("UPDATE bookings SET status = $2, closed_at = $3, updated_at = $3 WHERE id = $1")
                    .bind(b.id)
                    .bind(to.as_str())
                    .bind(now)
                    .execute(&mut *conn)
                    .await?;
                Self::revoke_tickets_in(conn, b.id, now).await?;
                let mut after = b.clone();
                after.status = to;
                Self::outbox_in(conn, event_type, &after, now).await?;
                Ok(())
            }

            pub(crate) async fn outbox_raw(
                conn: &mut <$db as sqlx::Database>::Connection,
                event_type: &str,
                source: &str,
                subject: &str,
                partition_key: &str,
                data: &serde_json::Value,
                now: chrono::DateTime<chrono::Utc>,
            ) -> $crate::StoreResult<()> {
                sqlx::query(
                    "INSERT INTO outbox (id, type, source, subject, partition_key, time, data, traceparent) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                )
                .bind(uuid::Uuid::now_v7())
                .bind(event_type)
                .bind(source)
                .bind(subject)
                .bind(partition_key)
                .bind(now)
                .bind(data.to_string())
                .bind($crate::traceparent())
                .execute(&mut *conn)
                .await?;
                Ok(())
            }

            async fn add_user_held(
                conn: &mut <$db as sqlx::Database>::Connection,
                user_id: uuid::Uuid,
                event_id: uuid::Uuid,
                delta: i64,
            ) -> $crate::StoreResult<()> {
                sqlx::query("UPDATE user_event_holds SET held = held + $3 WHERE user_id = $1 AND event_id = $2")
                    .bind(user_id)
                    .bind(event_id)
                    .bind(delta)
                    .execute(&mut *conn)
                    .await?;
                Ok(())
            }

            async fn outbox_in(
                conn: &mut <$db as sqlx::Database>::Connection,
                event_type: &str,
                b: &$crate::Booking,
                now: chrono::DateTime<chrono::Utc>,
            ) -> $crate::StoreResult<()> {
                Self::outbox_raw(
                    conn,
                    event_type,
                    $crate::BOOKINGS_SOURCE,
                    &format!("bookings/{}", b.id),
                    &b.id.to_string(),
                    &$crate::bookings::event_data(b),
                    now,
                )
                .await
            }

            /// The booking with its items, its row locked (PostgreSQL).
            pub(crate) async fn booking_locked(
                conn: &mut <$db as sqlx::Database>::Connection,
                id: uuid::Uuid,
            ) -> $crate::StoreResult<$crate::Booking> {
                let sql = format!(
                    "{} WHERE b.id = $1{}",
                    $crate::bookings::BOOKING_SELECT,
                    if FOR_UPDATE.is_empty() { "" } else { " FOR UPDATE OF b" }
                );
                let row = sqlx::query(&sql)
                    .bind(id)
                    .fetch_optional(&mut *conn)
                    .await?
                    .ok_or($crate::StoreError::NotFound("booking"))?;
                let mut b = vec![$crate::bookings::booking_from_row(&row)?];
                Self::load_items(conn, &mut b).await?;
                Ok(b.remove(0))
            }

            async fn bookings_by_ids(
                conn: &mut <$db as sqlx::Database>::Connection,
                ids: &[uuid::Uuid],
            ) -> $crate::StoreResult<Vec<$crate::Booking>> {
                let mut qb = sqlx::QueryBuilder::<$db>::new(format!("{} WHERE b.id IN (", $crate::bookings::BOOKING_SELECT));
                let mut sep = qb.separated(", ");
                for id in ids {
                    sep.push_bind(*id);
                }
                qb.push(") ORDER BY b.id");
                let rows = qb.build().fetch_all(&mut *conn).await?;
                let mut out = rows.iter().map($crate::bookings::booking_from_row).collect::<Result<Vec<_>, _>>()?;
                Self::load_items(conn, &mut out).await?;
                Ok(out)
            }

            async fn load_items(
                conn: &mut <$db as sqlx::Database>::Connection,
                bookings: &mut [$crate::Booking],
            ) -> $crate::StoreResult<()> {
                if bookings.is_empty() {
                    return Ok(());
                }
                let mut qb = sqlx::QueryBuilder::<$db>::new(
                    "SELECT bi.booking_id, bi.ticket_type_id, t.name, bi.quantity, bi.unit_price_cents \
                     FROM booking_items bi JOIN ticket_types t ON t.id = bi.ticket_type_id WHERE bi.booking_id IN (",
                );
                let mut sep = qb.separated(", ");
                for b in bookings.iter() {
                    sep.push_bind(b.id);
                }
                qb.push(") ORDER BY bi.ticket_type_id");
                let rows: Vec<(uuid::Uuid, uuid::Uuid, String, i64, i64)> = qb.build_query_as().fetch_all(&mut *conn).await?;
                for (booking_id, ticket_type_id, name, quantity, unit_price_cents) in rows {
                    if let Some(b) = bookings.iter_mut().find(|b| b.id == booking_id) {
                        b.items.push($crate::BookingItem { ticket_type_id, name, quantity, unit_price_cents });
                    }
                }
                Ok(())
            }

            async fn list_bookings(
                &self,
                column: &'static str,
                key: uuid::Uuid,
                before: Option<uuid::Uuid>,
                limit: u32,
            ) -> $crate::StoreResult<Vec<$crate::Booking>> {
                let mut conn = self.pool.acquire().await?;
                let mut qb = sqlx::QueryBuilder::<$db>::new(format!("{} WHERE {column} = ", $crate::bookings::BOOKING_SELECT));
                qb.push_bind(key);
                if let Some(b) = before {
                    qb.push(" AND b.id < ").push_bind(b);
                }
                qb.push(" ORDER BY b.id DESC LIMIT ").push_bind(i64::from(limit) + 1);
                let rows = qb.build().fetch_all(&mut *conn).await?;
                let mut out = rows.iter().map($crate::bookings::booking_from_row).collect::<Result<Vec<_>, _>>()?;
                Self::load_items(&mut conn, &mut out).await?;
                Ok(out)
            }

            /// Admissions held by lapsed (not yet released) holds, per ticket
            /// type of the given events: they do not count as held.
            async fn lapsed_held(
                conn: &mut <$db as sqlx::Database>::Connection,
                event_ids: &[uuid::Uuid],
                now: chrono::DateTime<chrono::Utc>,
            ) -> $crate::StoreResult<Vec<(uuid::Uuid, i64)>> {
                if event_ids.is_empty() {
                    return Ok(Vec::new());
                }
                let mut qb = sqlx::QueryBuilder::<$db>::new(
                    "SELECT bi.ticket_type_id, CAST(SUM(bi.quantity) AS BIGINT) FROM bookings b JOIN booking_items bi ON bi.booking_id = b.id \
                     WHERE b.status = 'held' AND b.expires_at <= ",
                );
                qb.push_bind(now).push(" AND b.event_id IN (");
                let mut sep = qb.separated(", ");
                for id in event_ids {
                    sep.push_bind(*id);
                }
                qb.push(") GROUP BY bi.ticket_type_id");
                Ok(qb.build_query_as().fetch_all(&mut *conn).await?)
            }
        }
    };
}

pub(crate) use bookings_impl;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn per_key_sums_in_key_order() {
        let m = per_key([(3, 1), (1, 2), (3, 4)]);
        assert_eq!(m.into_iter().collect::<Vec<_>>(), vec![(1, 2), (3, 5)]);
    }

    #[test]
    fn hold_refusals_carry_their_client_facing_codes() {
        match sold_out("Standing") {
            StoreError::Conflict { code, detail } => {
                assert_eq!(code, "sold_out");
                assert!(detail.contains("`Standing`"), "{detail}");
            }
            e => panic!("{e:?}"),
        }
        match cap_reached(6) {
            StoreError::Conflict { code, detail } => {
                assert_eq!(code, "hold_limit_reached");
                assert!(detail.contains("at most 6 "), "{detail}");
            }
            e => panic!("{e:?}"),
        }
    }

    #[test]
    #[allow(clippy::unwrap_used)]
    fn booking_event_data() {
        use crate::BookingItem;
        let t = DateTime::<Utc>::UNIX_EPOCH;
        let b = Booking {
            id: Uuid::from_u128(1),
            event_id: Uuid::from_u128(2),
            organizer_id: Uuid::from_u128(3),
            user_id: Uuid::from_u128(4),
            status: BookingStatus::Held,
            quantity: 3,
            total_cents: 2500,
            currency: Currency::parse("EUR").unwrap(),
            expires_at: t,
            created_at: t,
            updated_at: t,
            confirmed_at: None,
            closed_at: None,
            items: vec![BookingItem {
                ticket_type_id: Uuid::from_u128(5),
                name: "Standing".into(),
                quantity: 3,
                unit_price_cents: 833,
            }],
        };
        assert_eq!(
            event_data(&b),
            serde_json::json!({
                "booking_id": Uuid::from_u128(1),
                "event_id": Uuid::from_u128(2),
                "user_id": Uuid::from_u128(4),
                "status": "held",
                "quantity": 3,
                "total_cents": 2500,
                "currency": "EUR",
                "expires_at": t,
                "items": [{
                    "ticket_type_id": Uuid::from_u128(5),
                    "quantity": 3,
                    "unit_price_cents": 833,
                }],
            })
        );
    }
}
