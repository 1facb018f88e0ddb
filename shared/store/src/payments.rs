//! Payments and refunds, written once for both backends (like `sql.rs`).
//!
//! A provider event is applied in one transaction with everything it causes:
//! the de-duplication record (one row per provider event id), the payment's
//! new state (forward only), the booking's confirmation with its inventory
//! and its `booking.confirmed` outbox event, or, when a payment arrives for
//! tickets that are gone, the refund it needs. Lock order: payment row,
//! then booking rows, then `user_event_holds`, then ticket types.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::{ColumnIndex, Decode, Row, Type};
use uuid::Uuid;

use crate::{
    Booking, Currency, EventOutcome, NewPayment, Payment, PaymentSignal, PaymentState,
    ProviderEvent, Refund, RefundResult, RefundState, SimulatedPayment, StoreError, StoreResult,
};

#[async_trait]
pub trait PaymentStore: Send + Sync {
    /// The buyer's booking, ready for checkout (held, unexpired), and its
    /// payment if checkout started before.
    async fn checkout_target(
        &self,
        booking_id: Uuid,
        user_id: Uuid,
        now: DateTime<Utc>,
    ) -> StoreResult<(Booking, Option<Payment>)>;
    /// Records the provider payment of a booking; a second record for the
    /// same booking returns the first.
    async fn insert_payment(&self, p: &NewPayment) -> StoreResult<Payment>;
    async fn get_payment(&self, id: Uuid) -> StoreResult<Payment>;
    async fn payment_for_booking(&self, booking_id: Uuid) -> StoreResult<Option<Payment>>;
    async fn find_payment(
        &self,
        provider: &str,
        provider_payment_id: &str,
    ) -> StoreResult<Option<Payment>>;
    /// Applies what a provider said, once per provider event id.
    async fn apply_provider_event(&self, ev: &ProviderEvent) -> StoreResult<EventOutcome>;
    /// Reserves a refund of `amount` (default: all that is left) of a paid
    /// payment. Conflicts: `not_paid`, `already_refunded`,
    /// `refund_exceeds_payment`.
    async fn request_refund(
        &self,
        payment_id: Uuid,
        amount: Option<i64>,
        reason: &str,
        requested_by: Option<Uuid>,
        now: DateTime<Utc>,
    ) -> StoreResult<Refund>;
    /// Records the provider's answer to a refund. A full refund gives the
    /// tickets back to sale and writes `payment.refunded`.
    async fn finish_refund(
        &self,
        refund_id: Uuid,
        result: &RefundResult,
        now: DateTime<Utc>,
    ) -> StoreResult<Refund>;
    async fn refunds_of(&self, payment_id: Uuid) -> StoreResult<Vec<Refund>>;
    /// Payments still open (not paid, not given up) last touched before
    /// `before`: reconciliation asks the provider about them.
    async fn open_payments(&self, before: DateTime<Utc>, limit: u32) -> StoreResult<Vec<Payment>>;
    /// Refunds still pending, requested before `before`.
    async fn pending_refunds(&self, before: DateTime<Utc>, limit: u32) -> StoreResult<Vec<Refund>>;
    /// Refunds still pending for payments of one event (after it was cancelled).
    async fn pending_refunds_of_event(&self, event_id: Uuid) -> StoreResult<Vec<Refund>>;

    // ---- the simulated provider's ledger (local mode) ----------------------

    async fn sim_insert(
        &self,
        p: &SimulatedPayment,
        now: DateTime<Utc>,
    ) -> StoreResult<SimulatedPayment>;
    async fn sim_get(&self, id: &str) -> StoreResult<Option<SimulatedPayment>>;
    async fn sim_set_status(&self, id: &str, status: &str, now: DateTime<Utc>) -> StoreResult<()>;
    /// Adds `amount` to the refunded total unless that passes the amount.
    async fn sim_refund(&self, id: &str, amount: i64, now: DateTime<Utc>) -> StoreResult<bool>;
}

pub(crate) const PAYMENT_SELECT: &str = "SELECT p.id, p.booking_id, b.user_id, b.event_id, \
     e.organizer_id, p.provider, p.provider_payment_id, p.status, p.amount_cents, p.refunded_cents, \
     p.currency, p.client_secret, p.redirect_url, p.last_error, p.created_at, p.updated_at, \
     p.succeeded_at FROM payments p JOIN bookings b ON b.id = p.booking_id \
     JOIN events e ON e.id = b.event_id";

pub(crate) const REFUND_COLS: &str = "id, payment_id, amount_cents, status, reason, requested_by, \
     provider_refund_id, last_error, attempts, created_at, updated_at";

pub(crate) fn payment_from_row<'r, R>(row: &'r R) -> StoreResult<Payment>
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
    Ok(Payment {
        id: row.try_get("id")?,
        booking_id: row.try_get("booking_id")?,
        user_id: row.try_get("user_id")?,
        event_id: row.try_get("event_id")?,
        organizer_id: row.try_get("organizer_id")?,
        provider: row.try_get("provider")?,
        provider_payment_id: row.try_get("provider_payment_id")?,
        status: PaymentState::parse(&status)
            .ok_or_else(|| StoreError::Corrupt(format!("payment status {status:?}")))?,
        amount_cents: row.try_get("amount_cents")?,
        refunded_cents: row.try_get("refunded_cents")?,
        currency: Currency::parse(currency.trim())
            .ok_or_else(|| StoreError::Corrupt(format!("currency {currency:?}")))?,
        client_secret: row.try_get("client_secret")?,
        redirect_url: row.try_get("redirect_url")?,
        last_error: row.try_get("last_error")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
        succeeded_at: row.try_get("succeeded_at")?,
    })
}

pub(crate) fn refund_from_row<'r, R>(row: &'r R) -> StoreResult<Refund>
where
    R: Row,
    &'r str: ColumnIndex<R>,
    Uuid: Decode<'r, R::Database> + Type<R::Database>,
    String: Decode<'r, R::Database> + Type<R::Database>,
    i64: Decode<'r, R::Database> + Type<R::Database>,
    i32: Decode<'r, R::Database> + Type<R::Database>,
    DateTime<Utc>: Decode<'r, R::Database> + Type<R::Database>,
{
    let status: String = row.try_get("status")?;
    Ok(Refund {
        id: row.try_get("id")?,
        payment_id: row.try_get("payment_id")?,
        amount_cents: row.try_get("amount_cents")?,
        status: RefundState::parse(&status)
            .ok_or_else(|| StoreError::Corrupt(format!("refund status {status:?}")))?,
        reason: row.try_get("reason")?,
        requested_by: row.try_get("requested_by")?,
        provider_refund_id: row.try_get("provider_refund_id")?,
        last_error: row.try_get("last_error")?,
        attempts: row.try_get("attempts")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}

/// How a payment row is found.
pub(crate) enum PaymentKey<'a> {
    Id(Uuid),
    Provider(&'a str, &'a str),
}

pub(crate) fn refund_data(p: &Payment, amount: i64, full: bool) -> serde_json::Value {
    serde_json::json!({
        "payment_id": p.id,
        "booking_id": p.booking_id,
        "event_id": p.event_id,
        "user_id": p.user_id,
        "amount_cents": amount,
        "refunded_cents": p.refunded_cents,
        "currency": p.currency.as_str(),
        "full": full,
    })
}

/// Whether a provider event about `pay` is older than what we know (it is
/// then recorded as stale and changes nothing): the payment state only moves
/// forward ([`PaymentState::rank`]). Among failures and retries (rank 1) the
/// newest the provider reports wins, judged by `occurred` against the
/// payment's `last_event_at`; a refund is stale unless it raises the
/// refunded total, and nothing about refunds moves a disputed payment.
pub(crate) fn is_stale(
    signal: &PaymentSignal,
    pay: &Payment,
    last_event_at: Option<DateTime<Utc>>,
    occurred: DateTime<Utc>,
) -> bool {
    use PaymentSignal as S;
    use PaymentState as P;
    match signal {
        S::Processing | S::Failed(_) | S::Canceled => {
            pay.status.rank() > 1 || last_event_at.is_some_and(|t| occurred < t)
        }
        S::Succeeded => pay.status.rank() >= 2,
        S::Refunded { amount_refunded } => {
            pay.status == P::Disputed
                || (matches!(pay.status, P::PartiallyRefunded | P::Refunded)
                    && *amount_refunded <= pay.refunded_cents)
        }
        S::Disputed => pay.status == P::Disputed,
    }
}

/// A refund or dispute can only be about money that was taken: arriving
/// before the success event, it implies it (the payment is marked succeeded
/// and the booking confirmed first).
pub(crate) fn implies_success(signal: &PaymentSignal, status: PaymentState) -> bool {
    matches!(
        signal,
        PaymentSignal::Refunded { .. } | PaymentSignal::Disputed
    ) && !status.is_paid()
}

/// Expands to `impl PaymentStore for $store` (after `bookings_impl!`, whose
/// helpers it uses).
macro_rules! payments_impl {
    ($store:ty, $db:ty) => {
        #[async_trait::async_trait]
        impl $crate::payments::PaymentStore for $store {
            async fn checkout_target(&self, booking_id: uuid::Uuid, user_id: uuid::Uuid, now: chrono::DateTime<chrono::Utc>) -> $crate::StoreResult<($crate::Booking, Option<$crate::Payment>)> {
                use $crate::bookings::BookingStore;
                let b = self.get_booking(booking_id).await?;
                if b.user_id != user_id {
                    return Err($crate::StoreError::NotFound("booking"));
                }
                let existing = self.payment_for_booking(booking_id).await?;
                match b.effective_status(now) {
                    $crate::BookingStatus::Held => Ok((b, existing)),
                    $crate::BookingStatus::Expired => Err($crate::StoreError::conflict("booking_expired", "the hold has expired; hold the tickets again")),
                    $crate::BookingStatus::Confirmed => Err($crate::StoreError::conflict("already_paid", "the booking is paid")),
                    $crate::BookingStatus::Cancelled => Err($crate::StoreError::conflict("booking_cancelled", "the booking was cancelled")),
                    $crate::BookingStatus::Refunded => Err($crate::StoreError::conflict("booking_refunded", "the booking was refunded")),
                }
            }

            async fn insert_payment(&self, p: &$crate::NewPayment) -> $crate::StoreResult<$crate::Payment> {
                let now = $crate::model::now();
                sqlx::query(
                    "INSERT INTO payments (id, booking_id, provider, provider_payment_id, status, amount_cents, currency, \
                     client_secret, redirect_url, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $10) \
                     ON CONFLICT (booking_id) DO NOTHING",
                )
                .bind(uuid::Uuid::now_v7())
                .bind(p.booking_id)
                .bind(&p.provider)
                .bind(&p.provider_payment_id)
                .bind(p.status.as_str())
                .bind(p.amount_cents)
                .bind(p.currency.as_str())
                .bind(&p.client_secret)
                .bind(&p.redirect_url)
                .bind(now)
                .execute(&self.pool)
                .await?;
                self.payment_for_booking(p.booking_id).await?.ok_or($crate::StoreError::NotFound("payment"))
            }

            async fn get_payment(&self, id: uuid::Uuid) -> $crate::StoreResult<$crate::Payment> {
                let sql = format!("{} WHERE p.id = $1", $crate::payments::PAYMENT_SELECT);
                let row = sqlx::query(&sql).bind(id).fetch_optional(&self.pool).await?.ok_or($crate::StoreError::NotFound("payment"))?;
                $crate::payments::payment_from_row(&row)
            }

            async fn payment_for_booking(&self, booking_id: uuid::Uuid) -> $crate::StoreResult<Option<$crate::Payment>> {
                let sql = format!("{} WHERE p.booking_id = $1", $crate::payments::PAYMENT_SELECT);
                let row = sqlx::query(&sql).bind(booking_id).fetch_optional(&self.pool).await?;
                row.as_ref().map($crate::payments::payment_from_row).transpose()
            }

            async fn find_payment(&self, provider: &str, provider_payment_id: &str) -> $crate::StoreResult<Option<$crate::Payment>> {
                let sql = format!("{} WHERE p.provider = $1 AND p.provider_payment_id = $2", $crate::payments::PAYMENT_SELECT);
                let row = sqlx::query(&sql).bind(provider).bind(provider_payment_id).fetch_optional(&self.pool).await?;
                row.as_ref().map($crate::payments::payment_from_row).transpose()
            }

            #[tracing::instrument(skip(self, ev), level = "debug", fields(event_id = %ev.event_id, kind = ev.signal.kind()))]
            async fn apply_provider_event(&self, ev: &$crate::ProviderEvent) -> $crate::StoreResult<$crate::EventOutcome> {
                use $crate::{PaymentSignal as S, PaymentState as P};
                let now = $crate::model::truncate_micros(ev.now);
                let mut tx = self.begin_write().await?;
                let Some(mut pay) = Self::payment_locked_where(&mut tx, "p.provider = $1 AND p.provider_payment_id = $2", $crate::payments::PaymentKey::Provider(&ev.provider, &ev.provider_payment_id)).await? else {
                    return Ok($crate::EventOutcome::UnknownPayment);
                };
                let fresh = sqlx::query(
                    "INSERT INTO payment_events (provider, event_id, payment_id, kind, outcome, received_at) \
                     VALUES ($1, $2, $3, $4, 'applied', $5) ON CONFLICT (provider, event_id) DO NOTHING",
                )
                .bind(&ev.provider)
                .bind(&ev.event_id)
                .bind(pay.id)
                .bind(ev.signal.kind())
                .bind(now)
                .execute(&mut *tx)
                .await?
                .rows_affected();
                if fresh == 0 {
                    return Ok($crate::EventOutcome::Duplicate);
                }
                let target = match &ev.signal {
                    S::Processing => P::Processing,
                    S::Succeeded => P::Succeeded,
                    S::Failed(_) => P::Failed,
                    S::Canceled => P::Canceled,
                    S::Refunded { .. } => P::Refunded,
                    S::Disputed => P::Disputed,
                };
                let (last_event_at,): (Option<chrono::DateTime<chrono::Utc>>,) = sqlx::query_as("SELECT last_event_at FROM payments WHERE id = $1")
                    .bind(pay.id)
                    .fetch_one(&mut *tx)
                    .await?;
                let occurred = $crate::model::truncate_micros(ev.occurred_at);
                let stale = $crate::payments::is_stale(&ev.signal, &pay, last_event_at, occurred);
                let implied_success = $crate::payments::implies_success(&ev.signal, pay.status);
                if stale {
                    sqlx::query("UPDATE payment_events SET outcome = 'stale' WHERE provider = $1 AND event_id = $2")
                        .bind(&ev.provider)
                        .bind(&ev.event_id)
                        .execute(&mut *tx)
                        .await?;
                    tx.commit().await?;
                    return Ok($crate::EventOutcome::Stale(pay));
                }
                sqlx::query("UPDATE payments SET last_event_at = $2 WHERE id = $1 AND (last_event_at IS NULL OR last_event_at < $2)")
                    .bind(pay.id)
                    .bind(occurred)
                    .execute(&mut *tx)
                    .await?;
                let mut confirmed = false;
                let mut refund = None;
                if matches!(ev.signal, S::Succeeded) || implied_success {
                        sqlx::query("UPDATE payments SET status = 'succeeded', succeeded_at = $2, updated_at = $2 WHERE id = $1")
                            .bind(pay.id)
                            .bind(now)
                            .execute(&mut *tx)
                            .await?;
                        pay.status = P::Succeeded;
                        let b = Self::booking_locked(&mut tx, pay.booking_id).await?;
                        match b.status {
                            $crate::BookingStatus::Confirmed => {}
                            _ => {
                                confirmed = Self::confirm_in(&mut tx, &b, now).await?;
                                if !confirmed {
                                    // Paid, but the tickets are gone: never "paid but
                                    // no ticket". The money goes back, with the reason.
                                    let reason = match b.status {
                                        $crate::BookingStatus::Cancelled => "the booking was cancelled before the payment arrived",
                                        $crate::BookingStatus::Refunded => "the booking was already refunded",
                                        _ => "the hold expired and its tickets were sold before the payment arrived",
                                    };
                                    let left = pay.amount_cents - pay.refunded_cents;
                                    if left > 0 {
                                        refund = Some(Self::reserve_refund(&mut tx, &mut pay, left, reason, None, now).await?);
                                        // Operators hear of every such refund.
                                        Self::outbox_raw(&mut tx, "ops.alert", $crate::PAYMENTS_SOURCE, &format!("payments/{}", pay.id),
                                            &pay.booking_id.to_string(), &serde_json::json!({
                                                "kind": "late_payment_refunded",
                                                "title": "Late payment refunded",
                                                "detail": format!("Payment {} for booking {} ({} {} minor units) arrived after {reason}; it is refunded in full.",
                                                    pay.id, pay.booking_id, pay.currency.as_str(), left),
                                                "payment_id": pay.id, "booking_id": pay.booking_id,
                                            }), now).await?;
                                    }
                                }
                            }
                        }
                }
                match &ev.signal {
                    S::Processing | S::Canceled | S::Failed(_) => {
                        let error = match &ev.signal { S::Failed(e) => e.clone().or_else(|| Some("payment failed".into())), _ => None };
                        sqlx::query("UPDATE payments SET status = $2, last_error = COALESCE($3, last_error), updated_at = $4 WHERE id = $1")
                            .bind(pay.id)
                            .bind(target.as_str())
                            .bind(&error)
                            .bind(now)
                            .execute(&mut *tx)
                            .await?;
                        if let Some(e) = error.as_deref().filter(|_| matches!(ev.signal, S::Failed(_))) {
                            Self::outbox_raw(&mut tx, "ops.alert", $crate::PAYMENTS_SOURCE, &format!("payments/{}", pay.id),
                                &pay.booking_id.to_string(), &serde_json::json!({
                                    "kind": "payment_failed",
                                    "title": "Payment failed",
                                    "detail": format!("Payment {} for booking {} failed: {e}", pay.id, pay.booking_id),
                                    "payment_id": pay.id, "booking_id": pay.booking_id,
                                }), now).await?;
                        }
                    }
                    S::Succeeded => {}
                    S::Refunded { amount_refunded } => {
                        // A refund made at the provider (or ours, confirmed).
                        let total = (*amount_refunded).min(pay.amount_cents).max(pay.refunded_cents);
                        let full = total >= pay.amount_cents;
                        let state = if full { P::Refunded } else { P::PartiallyRefunded };
                        sqlx::query("UPDATE payments SET status = $2, refunded_cents = $3, updated_at = $4 WHERE id = $1")
                            .bind(pay.id)
                            .bind(state.as_str())
                            .bind(total)
                            .bind(now)
                            .execute(&mut *tx)
                            .await?;
                        let added = total - pay.refunded_cents;
                        pay.refunded_cents = total;
                        pay.status = state;
                        if full {
                            let b = Self::booking_locked(&mut tx, pay.booking_id).await?;
                            Self::unsell_in(&mut tx, &b, $crate::BookingStatus::Refunded, "booking.refunded", now).await?;
                        }
                        if added > 0 {
                            Self::outbox_raw(&mut tx, "payment.refunded", $crate::PAYMENTS_SOURCE, &format!("payments/{}", pay.id),
                                &pay.booking_id.to_string(), &$crate::payments::refund_data(&pay, added, full), now).await?;
                        }
                    }
                    S::Disputed => {
                        sqlx::query("UPDATE payments SET status = 'disputed', updated_at = $2 WHERE id = $1")
                            .bind(pay.id)
                            .bind(now)
                            .execute(&mut *tx)
                            .await?;
                        pay.status = P::Disputed;
                        // A disputed payment's tickets are revoked and go back on sale.
                        let b = Self::booking_locked(&mut tx, pay.booking_id).await?;
                        Self::unsell_in(&mut tx, &b, $crate::BookingStatus::Cancelled, "booking.cancelled", now).await?;
                        Self::outbox_raw(&mut tx, "payment.disputed", $crate::PAYMENTS_SOURCE, &format!("payments/{}", pay.id),
                            &pay.booking_id.to_string(), &$crate::payments::refund_data(&pay, 0, false), now).await?;
                    }
                }
                let pay = Self::payment_locked_where(&mut tx, "p.id = $1", $crate::payments::PaymentKey::Id(pay.id)).await?.ok_or($crate::StoreError::NotFound("payment"))?;
                tx.commit().await?;
                Ok($crate::EventOutcome::Applied { payment: pay, confirmed, refund })
            }

            async fn request_refund(&self, payment_id: uuid::Uuid, amount: Option<i64>, reason: &str, requested_by: Option<uuid::Uuid>, now: chrono::DateTime<chrono::Utc>) -> $crate::StoreResult<$crate::Refund> {
                let now = $crate::model::truncate_micros(now);
                let mut tx = self.begin_write().await?;
                let mut pay = Self::payment_locked_where(&mut tx, "p.id = $1", $crate::payments::PaymentKey::Id(payment_id)).await?.ok_or($crate::StoreError::NotFound("payment"))?;
                if !matches!(pay.status, $crate::PaymentState::Succeeded | $crate::PaymentState::PartiallyRefunded) {
                    return Err(match pay.status {
                        $crate::PaymentState::Refunded => $crate::StoreError::conflict("already_refunded", "the payment was refunded in full"),
                        $crate::PaymentState::Disputed => $crate::StoreError::conflict("payment_disputed", "the payment is disputed"),
                        _ => $crate::StoreError::conflict("not_paid", "the payment has not succeeded"),
                    });
                }
                let left = pay.amount_cents - pay.refunded_cents;
                if left <= 0 {
                    return Err($crate::StoreError::conflict("already_refunded", "the payment was refunded in full"));
                }
                let amount = amount.unwrap_or(left);
                if amount <= 0 {
                    return Err($crate::StoreError::Invalid { field: "amount_cents", message: "must be at least 1".into() });
                }
                if amount > left {
                    return Err($crate::StoreError::conflict("refund_exceeds_payment", format!("at most {left} can still be refunded")));
                }
                let r = Self::reserve_refund(&mut tx, &mut pay, amount, reason, requested_by, now).await?;
                tx.commit().await?;
                Ok(r)
            }

            async fn finish_refund(&self, refund_id: uuid::Uuid, result: &$crate::RefundResult, now: chrono::DateTime<chrono::Utc>) -> $crate::StoreResult<$crate::Refund> {
                let now = $crate::model::truncate_micros(now);
                let mut tx = self.begin_write().await?;
                let (payment_id,): (uuid::Uuid,) = sqlx::query_as("SELECT payment_id FROM refunds WHERE id = $1")
                    .bind(refund_id)
                    .fetch_optional(&mut *tx)
                    .await?
                    .ok_or($crate::StoreError::NotFound("refund"))?;
                let mut pay = Self::payment_locked_where(&mut tx, "p.id = $1", $crate::payments::PaymentKey::Id(payment_id)).await?.ok_or($crate::StoreError::NotFound("payment"))?;
                let r = Self::refund_row(&mut tx, refund_id).await?;
                if r.status != $crate::RefundState::Pending {
                    return Ok(r);
                }
                match result {
                    $crate::RefundResult::Retry(e) => {
                        sqlx::query("UPDATE refunds SET attempts = attempts + 1, last_error = $2, updated_at = $3 WHERE id = $1")
                            .bind(refund_id)
                            .bind(e)
                            .bind(now)
                            .execute(&mut *tx)
                            .await?;
                    }
                    $crate::RefundResult::Refused(e) => {
                        sqlx::query("UPDATE refunds SET status = 'failed', attempts = attempts + 1, last_error = $2, updated_at = $3 WHERE id = $1")
                            .bind(refund_id)
                            .bind(e)
                            .bind(now)
                            .execute(&mut *tx)
                            .await?;
                        sqlx::query("UPDATE payments SET refunded_cents = refunded_cents - $2, updated_at = $3 WHERE id = $1")
                            .bind(payment_id)
                            .bind(r.amount_cents)
                            .bind(now)
                            .execute(&mut *tx)
                            .await?;
                    }
                    $crate::RefundResult::Done { provider_refund_id } => {
                        sqlx::query("UPDATE refunds SET status = 'succeeded', provider_refund_id = $2, attempts = attempts + 1, updated_at = $3 WHERE id = $1")
                            .bind(refund_id)
                            .bind(provider_refund_id)
                            .bind(now)
                            .execute(&mut *tx)
                            .await?;
                        let (pending,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM refunds WHERE payment_id = $1 AND status = 'pending'")
                            .bind(payment_id)
                            .fetch_one(&mut *tx)
                            .await?;
                        let full = pay.refunded_cents >= pay.amount_cents && pending == 0;
                        if pay.status.is_paid() && pay.status != $crate::PaymentState::Disputed {
                            let state = if full { $crate::PaymentState::Refunded } else { $crate::PaymentState::PartiallyRefunded };
                            sqlx::query("UPDATE payments SET status = $2, updated_at = $3 WHERE id = $1")
                                .bind(payment_id)
                                .bind(state.as_str())
                                .bind(now)
                                .execute(&mut *tx)
                                .await?;
                            pay.status = state;
                        }
                        if full {
                            let b = Self::booking_locked(&mut tx, pay.booking_id).await?;
                            Self::unsell_in(&mut tx, &b, $crate::BookingStatus::Refunded, "booking.refunded", now).await?;
                        }
                        Self::outbox_raw(&mut tx, "payment.refunded", $crate::PAYMENTS_SOURCE, &format!("payments/{}", pay.id),
                            &pay.booking_id.to_string(), &$crate::payments::refund_data(&pay, r.amount_cents, full), now).await?;
                    }
                }
                let r = Self::refund_row(&mut tx, refund_id).await?;
                tx.commit().await?;
                Ok(r)
            }

            async fn refunds_of(&self, payment_id: uuid::Uuid) -> $crate::StoreResult<Vec<$crate::Refund>> {
                let sql = format!("SELECT {} FROM refunds WHERE payment_id = $1 ORDER BY created_at, id", $crate::payments::REFUND_COLS);
                let rows = sqlx::query(&sql).bind(payment_id).fetch_all(&self.pool).await?;
                rows.iter().map($crate::payments::refund_from_row).collect()
            }

            async fn open_payments(&self, before: chrono::DateTime<chrono::Utc>, limit: u32) -> $crate::StoreResult<Vec<$crate::Payment>> {
                let sql = format!(
                    "{} WHERE p.status IN ('requires_payment', 'processing', 'failed') AND p.updated_at < $1 ORDER BY p.updated_at LIMIT $2",
                    $crate::payments::PAYMENT_SELECT
                );
                let rows = sqlx::query(&sql).bind(before).bind(i64::from(limit)).fetch_all(&self.pool).await?;
                rows.iter().map($crate::payments::payment_from_row).collect()
            }

            async fn pending_refunds(&self, before: chrono::DateTime<chrono::Utc>, limit: u32) -> $crate::StoreResult<Vec<$crate::Refund>> {
                let sql = format!(
                    "SELECT {} FROM refunds WHERE status = 'pending' AND updated_at < $1 ORDER BY created_at LIMIT $2",
                    $crate::payments::REFUND_COLS
                );
                let rows = sqlx::query(&sql).bind(before).bind(i64::from(limit)).fetch_all(&self.pool).await?;
                rows.iter().map($crate::payments::refund_from_row).collect()
            }

            async fn pending_refunds_of_event(&self, event_id: uuid::Uuid) -> $crate::StoreResult<Vec<$crate::Refund>> {
                let sql = format!(
                    "SELECT {} FROM refunds WHERE status = 'pending' AND payment_id IN \
                     (SELECT p.id FROM payments p JOIN bookings b ON b.id = p.booking_id WHERE b.event_id = $1) ORDER BY created_at",
                    $crate::payments::REFUND_COLS
                );
                let rows = sqlx::query(&sql).bind(event_id).fetch_all(&self.pool).await?;
                rows.iter().map($crate::payments::refund_from_row).collect()
            }

            async fn sim_insert(&self, p: &$crate::SimulatedPayment, now: chrono::DateTime<chrono::Utc>) -> $crate::StoreResult<$crate::SimulatedPayment> {
                sqlx::query(
                    "INSERT INTO simulated_payments (id, booking_id, amount_cents, currency, status, refunded_cents, created_at, updated_at) \
                     VALUES ($1, $2, $3, $4, $5, 0, $6, $6) ON CONFLICT (id) DO NOTHING",
                )
                .bind(&p.id)
                .bind(p.booking_id)
                .bind(p.amount_cents)
                .bind(&p.currency)
                .bind(&p.status)
                .bind($crate::model::truncate_micros(now))
                .execute(&self.pool)
                .await?;
                self.sim_get(&p.id).await?.ok_or($crate::StoreError::NotFound("simulated payment"))
            }

            async fn sim_get(&self, id: &str) -> $crate::StoreResult<Option<$crate::SimulatedPayment>> {
                let row: Option<(String, uuid::Uuid, i64, String, String, i64)> = sqlx::query_as(
                    "SELECT id, booking_id, amount_cents, currency, status, refunded_cents FROM simulated_payments WHERE id = $1",
                )
                .bind(id)
                .fetch_optional(&self.pool)
                .await?;
                Ok(row.map(|(id, booking_id, amount_cents, currency, status, refunded_cents)| $crate::SimulatedPayment {
                    id, booking_id, amount_cents, currency: currency.trim().to_string(), status, refunded_cents,
                }))
            }

            async fn sim_set_status(&self, id: &str, status: &str, now: chrono::DateTime<chrono::Utc>) -> $crate::StoreResult<()> {
                sqlx::query("UPDATE simulated_payments SET status = $2, updated_at = $3 WHERE id = $1")
                    .bind(id)
                    .bind(status)
                    .bind($crate::model::truncate_micros(now))
                    .execute(&self.pool)
                    .await?;
                Ok(())
            }

            async fn sim_refund(&self, id: &str, amount: i64, now: chrono::DateTime<chrono::Utc>) -> $crate::StoreResult<bool> {
                let n = sqlx::query(
                    "UPDATE simulated_payments SET refunded_cents = refunded_cents + $2, updated_at = $3 \
                     WHERE id = $1 AND status = 'succeeded' AND refunded_cents + $2 <= amount_cents",
                )
                .bind(id)
                .bind(amount)
                .bind($crate::model::truncate_micros(now))
                .execute(&self.pool)
                .await?
                .rows_affected();
                Ok(n == 1)
            }
        }

        impl $store {
            async fn payment_locked_where(
                conn: &mut <$db as sqlx::Database>::Connection,
                cond: &str,
                key: $crate::payments::PaymentKey<'_>,
            ) -> $crate::StoreResult<Option<$crate::Payment>> {
                let sql = format!(
                    "{} WHERE {cond}{}",
                    $crate::payments::PAYMENT_SELECT,
                    if FOR_UPDATE.is_empty() { "" } else { " FOR UPDATE OF p" }
                );
                let q = sqlx::query(&sql);
                let q = match key {
                    $crate::payments::PaymentKey::Id(id) => q.bind(id),
                    $crate::payments::PaymentKey::Provider(provider, pid) => q.bind(provider.to_string()).bind(pid.to_string()),
                };
                let row = q.fetch_optional(&mut *conn).await?;
                row.as_ref().map($crate::payments::payment_from_row).transpose()
            }

            /// A cancelled event: its held bookings are cancelled (tickets
            /// back, `booking.cancelled`), every ticket is revoked, and every
            /// paid booking gets a full refund reserved ("the event was
            /// cancelled"); the caller (or the reconciler) asks the provider.
            /// Locks payments before bookings, like every payment path.
            pub(crate) async fn unwind_event_in(
                conn: &mut <$db as sqlx::Database>::Connection,
                event_id: uuid::Uuid,
                now: chrono::DateTime<chrono::Utc>,
            ) -> $crate::StoreResult<()> {
                let sql = format!(
                    "SELECT p.id FROM payments p JOIN bookings b ON b.id = p.booking_id WHERE b.event_id = $1 ORDER BY p.id{}",
                    if FOR_UPDATE.is_empty() { "" } else { " FOR UPDATE OF p" }
                );
                let paid: Vec<(uuid::Uuid,)> = sqlx::query_as(&sql).bind(event_id).fetch_all(&mut *conn).await?;
                let held_sql = format!(
                    "SELECT id FROM bookings WHERE event_id = $1 AND status = 'held' ORDER BY id{}",
                    FOR_UPDATE
                );
                let held: Vec<(uuid::Uuid,)> = sqlx::query_as(&held_sql).bind(event_id).fetch_all(&mut *conn).await?;
                let held: Vec<uuid::Uuid> = held.into_iter().map(|(id,)| id).collect();
                if !held.is_empty() {
                    let bookings = Self::bookings_by_ids(conn, &held).await?;
                    Self::release_in(conn, &bookings, $crate::BookingStatus::Cancelled, now).await?;
                }
                Self::revoke_event_tickets_in(conn, event_id, now).await?;
                for (pid,) in paid {
                    let Some(mut pay) = Self::payment_locked_where(conn, "p.id = $1", $crate::payments::PaymentKey::Id(pid)).await? else {
                        continue;
                    };
                    let left = pay.amount_cents - pay.refunded_cents;
                    if matches!(pay.status, $crate::PaymentState::Succeeded | $crate::PaymentState::PartiallyRefunded) && left > 0 {
                        Self::reserve_refund(conn, &mut pay, left, "the event was cancelled", None, now).await?;
                    }
                }
                Ok(())
            }

            async fn refund_row(
                conn: &mut <$db as sqlx::Database>::Connection,
                id: uuid::Uuid,
            ) -> $crate::StoreResult<$crate::Refund> {
                let sql = format!("SELECT {} FROM refunds WHERE id = $1", $crate::payments::REFUND_COLS);
                let row = sqlx::query(&sql).bind(id).fetch_optional(&mut *conn).await?.ok_or($crate::StoreError::NotFound("refund"))?;
                $crate::payments::refund_from_row(&row)
            }

            /// Adds a pending refund to a locked payment (its amount counts
            /// against what can still be refunded at once).
            async fn reserve_refund(
                conn: &mut <$db as sqlx::Database>::Connection,
                pay: &mut $crate::Payment,
                amount: i64,
                reason: &str,
                requested_by: Option<uuid::Uuid>,
                now: chrono::DateTime<chrono::Utc>,
            ) -> $crate::StoreResult<$crate::Refund> {
                let id = uuid::Uuid::now_v7();
                sqlx::query(
                    "INSERT INTO refunds (id, payment_id, amount_cents, status, reason, requested_by, created_at, updated_at) \
                     VALUES ($1, $2, $3, 'pending', $4, $5, $6, $6)",
                )
                .bind(id)
                .bind(pay.id)
                .bind(amount)
                .bind(reason)
                .bind(requested_by)
                .bind(now)
                .execute(&mut *conn)
                .await?;
                sqlx::query("UPDATE payments SET refunded_cents = refunded_cents + $2, updated_at = $3 WHERE id = $1")
                    .bind(pay.id)
                    .bind(amount)
                    .bind(now)
                    .execute(&mut *conn)
                    .await?;
                pay.refunded_cents += amount;
                Self::refund_row(conn, id).await
            }
        }
    };
}

pub(crate) use payments_impl;

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use chrono::Duration;

    fn payment(status: PaymentState, amount: i64, refunded: i64) -> Payment {
        let t = DateTime::<Utc>::UNIX_EPOCH;
        Payment {
            id: Uuid::nil(),
            booking_id: Uuid::nil(),
            user_id: Uuid::nil(),
            event_id: Uuid::nil(),
            organizer_id: Uuid::nil(),
            provider: "fake".into(),
            provider_payment_id: "pi_1".into(),
            status,
            amount_cents: amount,
            refunded_cents: refunded,
            currency: Currency::parse("EUR").unwrap(),
            client_secret: None,
            redirect_url: None,
            last_error: None,
            created_at: t,
            updated_at: t,
            succeeded_at: None,
        }
    }

    const RETRY_SIGNALS: [PaymentSignal; 3] = [
        PaymentSignal::Processing,
        PaymentSignal::Failed(None),
        PaymentSignal::Canceled,
    ];

    #[test]
    fn failures_and_retries_never_undo_money_taken() {
        let now = Utc::now();
        for signal in &RETRY_SIGNALS {
            for status in PaymentState::ALL {
                let stale = is_stale(signal, &payment(status, 1000, 0), None, now);
                assert_eq!(stale, status.rank() > 1, "{signal:?} on {status:?}");
            }
        }
    }

    #[test]
    fn among_retries_the_newest_provider_event_wins() {
        let last = Utc::now();
        let pay = payment(PaymentState::Failed, 1000, 0);
        for signal in &RETRY_SIGNALS {
            // Older than the newest event applied: stale.
            assert!(is_stale(
                signal,
                &pay,
                Some(last),
                last - Duration::seconds(1)
            ));
            // Same instant or newer: applied.
            assert!(!is_stale(signal, &pay, Some(last), last));
            assert!(!is_stale(
                signal,
                &pay,
                Some(last),
                last + Duration::seconds(1)
            ));
            // No event applied yet: applied.
            assert!(!is_stale(signal, &pay, None, last - Duration::days(1)));
        }
    }

    #[test]
    fn success_is_applied_once_and_only_before_money_was_taken() {
        let now = Utc::now();
        for status in PaymentState::ALL {
            let stale = is_stale(
                &PaymentSignal::Succeeded,
                &payment(status, 1000, 0),
                Some(now + Duration::days(1)),
                now,
            );
            assert_eq!(stale, status.is_paid(), "{status:?}");
        }
    }

    #[test]
    fn refunds_only_count_when_they_raise_the_refunded_total() {
        let now = Utc::now();
        let refunded = |amount_refunded| PaymentSignal::Refunded { amount_refunded };
        for status in [PaymentState::PartiallyRefunded, PaymentState::Refunded] {
            let pay = payment(status, 1000, 400);
            assert!(is_stale(&refunded(300), &pay, None, now), "{status:?}");
            assert!(is_stale(&refunded(400), &pay, None, now), "{status:?}");
            assert!(!is_stale(&refunded(401), &pay, None, now), "{status:?}");
        }
        // Before any refund was recorded, even a small total is news.
        for status in [
            PaymentState::RequiresPayment,
            PaymentState::Processing,
            PaymentState::Failed,
            PaymentState::Canceled,
            PaymentState::Succeeded,
        ] {
            assert!(!is_stale(
                &refunded(1),
                &payment(status, 1000, 0),
                None,
                now
            ));
        }
        // A disputed payment is left to the dispute.
        let disputed = payment(PaymentState::Disputed, 1000, 0);
        assert!(is_stale(&refunded(1000), &disputed, None, now));
    }

    #[test]
    fn a_dispute_is_applied_once() {
        let now = Utc::now();
        for status in PaymentState::ALL {
            let stale = is_stale(
                &PaymentSignal::Disputed,
                &payment(status, 1000, 1000),
                None,
                now,
            );
            assert_eq!(stale, status == PaymentState::Disputed, "{status:?}");
        }
    }

    #[test]
    fn refunds_and_disputes_imply_the_success_they_are_about() {
        for status in PaymentState::ALL {
            for signal in [
                PaymentSignal::Refunded {
                    amount_refunded: 100,
                },
                PaymentSignal::Disputed,
            ] {
                assert_eq!(
                    implies_success(&signal, status),
                    !status.is_paid(),
                    "{signal:?} on {status:?}"
                );
            }
            for signal in RETRY_SIGNALS.iter().chain([&PaymentSignal::Succeeded]) {
                assert!(!implies_success(signal, status), "{signal:?} on {status:?}");
            }
        }
    }

    #[test]
    fn refund_event_data() {
        let mut pay = payment(PaymentState::PartiallyRefunded, 1000, 300);
        pay.id = Uuid::from_u128(1);
        pay.booking_id = Uuid::from_u128(2);
        pay.event_id = Uuid::from_u128(3);
        pay.user_id = Uuid::from_u128(4);
        assert_eq!(
            refund_data(&pay, 300, false),
            serde_json::json!({
                "payment_id": Uuid::from_u128(1),
                "booking_id": Uuid::from_u128(2),
                "event_id": Uuid::from_u128(3),
                "user_id": Uuid::from_u128(4),
                "amount_cents": 300,
                "refunded_cents": 300,
                "currency": "EUR",
                "full": false,
            })
        );
    }
}
