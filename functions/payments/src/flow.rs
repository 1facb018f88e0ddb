//! The payment flows, apart from HTTP: checkout, applying provider events,
//! refunds and reconciliation. Each takes the store and the provider, so the
//! bookings function (a buyer cancelling a paid booking) and the scheduled
//! reconciler use exactly the same code as the routes.

use chrono::{DateTime, Utc};
use tg_http::ApiError;
use tg_payments::{
    CreatePayment, PaymentProvider, PaymentStatus, ProviderError, WebhookError, WebhookKind,
};
use tg_store::{
    DynStore, EventOutcome, NewPayment, Payment, PaymentSignal, PaymentState, ProviderEvent,
    Refund, RefundResult,
};
use uuid::Uuid;

/// What checkout hands the client.
#[derive(Debug, Clone)]
pub struct Checkout {
    pub payment: Payment,
    /// True when this call created the payment.
    pub created: bool,
}

/// The provider idempotency key of a booking's payment: a retry (ours or the
/// client's) can never create a second charge.
pub fn payment_key(booking_id: Uuid) -> String {
    format!("ticketgw-booking-{booking_id}")
}

fn provider_error(e: ProviderError) -> ApiError {
    match e {
        ProviderError::Rejected { .. } | ProviderError::Invalid(_) => ApiError::new(
            axum::http::StatusCode::BAD_GATEWAY,
            "payment_provider_error",
            "the payment provider refused the request",
        )
        .with_source(e),
        ProviderError::Unavailable(_) => ApiError::new(
            axum::http::StatusCode::SERVICE_UNAVAILABLE,
            "payment_provider_unavailable",
            "the payment provider is not answering; retry shortly",
        )
        .with_header(
            axum::http::header::RETRY_AFTER,
            axum::http::HeaderValue::from_static("5"),
        )
        .with_source(e),
    }
}

pub fn payments_off() -> ApiError {
    ApiError::new(
        axum::http::StatusCode::SERVICE_UNAVAILABLE,
        "payments_unavailable",
        "payments are not configured on this platform",
    )
}

/// Starts (or resumes) paying for a held booking.
pub async fn checkout(
    store: &DynStore,
    provider: &dyn PaymentProvider,
    booking_id: Uuid,
    user_id: Uuid,
) -> Result<Checkout, ApiError> {
    let now = tg_store::now();
    let (booking, existing) = store.checkout_target(booking_id, user_id, now).await?;
    if let Some(p) = existing {
        if p.status.is_paid() {
            return Err(ApiError::conflict("already_paid", "the booking is paid"));
        }
        return Ok(Checkout {
            payment: p,
            created: false,
        });
    }
    if booking.total_cents == 0 {
        return free_checkout(store, &booking).await;
    }
    let pp = provider
        .create_payment(&CreatePayment {
            booking_id,
            amount_cents: booking.total_cents,
            currency: booking.currency.clone(),
            idempotency_key: payment_key(booking_id),
            description: format!("Ticket Gateway booking {booking_id}"),
        })
        .await
        .map_err(provider_error)?;
    if pp.amount_cents != booking.total_cents {
        return Err(ApiError::internal(anyhow::anyhow!(
            "provider payment {} is for {} but the booking totals {}",
            pp.id,
            pp.amount_cents,
            booking.total_cents
        )));
    }
    let payment = store
        .insert_payment(&NewPayment {
            booking_id,
            provider: provider.name().to_string(),
            provider_payment_id: pp.id,
            status: state_of(pp.status),
            amount_cents: pp.amount_cents,
            currency: booking.currency,
            client_secret: pp.client_secret,
            redirect_url: pp.redirect_url,
        })
        .await?;
    Ok(Checkout {
        payment,
        created: true,
    })
}

/// Provider name of free bookings' zero payments (no provider is asked).
pub const FREE: &str = "free";

/// A booking that costs nothing is confirmed at once: a zero payment is
/// recorded and applied like a provider's success, so tickets, inventory and
/// the outbox follow the one path every payment takes.
async fn free_checkout(
    store: &DynStore,
    booking: &tg_store::Booking,
) -> Result<Checkout, ApiError> {
    let pid = format!("free-{}", booking.id);
    store
        .insert_payment(&NewPayment {
            booking_id: booking.id,
            provider: FREE.into(),
            provider_payment_id: pid.clone(),
            status: PaymentState::RequiresPayment,
            amount_cents: 0,
            currency: booking.currency.clone(),
            client_secret: None,
            redirect_url: None,
        })
        .await?;
    let now = tg_store::now();
    store
        .apply_provider_event(&ProviderEvent {
            provider: FREE.into(),
            event_id: format!("free:{}", booking.id),
            provider_payment_id: pid,
            signal: PaymentSignal::Succeeded,
            occurred_at: now,
            now,
        })
        .await?;
    let payment = store
        .payment_for_booking(booking.id)
        .await?
        .ok_or(tg_store::StoreError::NotFound("payment"))?;
    Ok(Checkout {
        payment,
        created: true,
    })
}

pub fn state_of(s: PaymentStatus) -> PaymentState {
    match s {
        PaymentStatus::RequiresPayment => PaymentState::RequiresPayment,
        PaymentStatus::Processing => PaymentState::Processing,
        PaymentStatus::Succeeded => PaymentState::Succeeded,
        PaymentStatus::Failed => PaymentState::Failed,
        PaymentStatus::Canceled => PaymentState::Canceled,
    }
}

/// What a webhook delivery came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Delivery {
    /// Applied (or recognised as a replay / stale / not about us): 200.
    Done(&'static str),
    /// About a booking of ours whose payment is not recorded yet: the
    /// provider should deliver again later (503).
    RetryLater,
}

/// Verifies and applies one webhook delivery. A bad or missing signature is
/// a 400 and writes nothing.
pub async fn handle_webhook(
    store: &DynStore,
    provider: &dyn PaymentProvider,
    signature: Option<&str>,
    body: &[u8],
    now: DateTime<Utc>,
) -> Result<Delivery, ApiError> {
    let ev = provider
        .verify_webhook(signature, body, now.timestamp())
        .map_err(|e| {
            let code = match e {
                WebhookError::BadPayload(_) => "invalid_payload",
                _ => "invalid_signature",
            };
            ApiError::bad_request(code, "the webhook could not be verified").with_source(e)
        })?;
    let Some(pid) = ev.payment_id.clone() else {
        return Ok(Delivery::Done("ignored"));
    };
    let signal = match &ev.kind {
        WebhookKind::PaymentSucceeded => PaymentSignal::Succeeded,
        WebhookKind::PaymentFailed => PaymentSignal::Failed(ev.failure_reason.clone()),
        WebhookKind::PaymentProcessing => PaymentSignal::Processing,
        WebhookKind::PaymentCanceled => PaymentSignal::Canceled,
        WebhookKind::ChargeRefunded => PaymentSignal::Refunded {
            amount_refunded: ev.amount_cents.unwrap_or(0),
        },
        WebhookKind::DisputeCreated => PaymentSignal::Disputed,
        WebhookKind::Other(_) => return Ok(Delivery::Done("ignored")),
    };
    let outcome = store
        .apply_provider_event(&ProviderEvent {
            provider: provider.name().to_string(),
            event_id: ev.id.clone(),
            provider_payment_id: pid,
            signal,
            occurred_at: DateTime::from_timestamp(ev.created, 0).unwrap_or(now),
            now,
        })
        .await?;
    match outcome {
        EventOutcome::Duplicate => Ok(Delivery::Done("duplicate")),
        EventOutcome::Stale(_) => Ok(Delivery::Done("stale")),
        EventOutcome::UnknownPayment => {
            // Ours but not recorded yet (the webhook overtook checkout's
            // insert)? Ask for a redelivery; otherwise it is not about us.
            match ev.booking_id {
                Some(b) if store.get_booking(b).await.is_ok() => Ok(Delivery::RetryLater),
                _ => Ok(Delivery::Done("ignored")),
            }
        }
        EventOutcome::Applied {
            refund, payment, ..
        } => {
            if let Some(r) = refund {
                tracing::warn!(payment_id = %payment.id, refund_id = %r.id, reason = %r.reason, "paid for tickets that are gone: refunding");
                execute_refund(store, provider, &payment, &r).await?;
            }
            Ok(Delivery::Done("applied"))
        }
    }
}

/// Asks the provider for a reserved refund and records the answer. A
/// provider that does not answer leaves it pending for reconciliation.
pub async fn execute_refund(
    store: &DynStore,
    provider: &dyn PaymentProvider,
    payment: &Payment,
    refund: &Refund,
) -> Result<Refund, ApiError> {
    let result = match provider
        .refund(
            &payment.provider_payment_id,
            refund.amount_cents,
            &format!("ticketgw-refund-{}", refund.id),
        )
        .await
    {
        Ok(r) => RefundResult::Done {
            provider_refund_id: r.id,
        },
        Err(e) if e.is_retryable() => RefundResult::Retry(e.to_string()),
        Err(e) => RefundResult::Refused(e.to_string()),
    };
    if let RefundResult::Refused(e) = &result {
        tracing::error!(refund_id = %refund.id, error = %e, "the provider refused a refund");
    }
    Ok(store
        .finish_refund(refund.id, &result, tg_store::now())
        .await?)
}

/// Reserves and executes a refund (organizer, admin, or a buyer's
/// cancellation within the refund policy).
pub async fn refund(
    store: &DynStore,
    provider: &dyn PaymentProvider,
    payment: &Payment,
    amount: Option<i64>,
    reason: &str,
    requested_by: Option<Uuid>,
) -> Result<Refund, ApiError> {
    let r = store
        .request_refund(payment.id, amount, reason, requested_by, tg_store::now())
        .await?;
    execute_refund(store, provider, payment, &r).await
}

/// What one reconciliation pass did.
#[derive(Debug, Clone, Default, serde::Serialize, utoipa::ToSchema)]
pub struct ReconcileReport {
    /// Open payments whose state was asked from the provider.
    pub checked: usize,
    /// Of those, how many had moved on (applied as an event).
    pub updated: usize,
    /// Pending refunds retried.
    pub refunds_retried: usize,
    pub errors: usize,
}

/// Asks the provider about payments open longer than `after`, applying what
/// it says as an event (so a lost webhook never strands a buyer), and
/// retries pending refunds.
pub async fn reconcile(
    store: &DynStore,
    provider: &dyn PaymentProvider,
    after: chrono::Duration,
    limit: u32,
) -> Result<ReconcileReport, ApiError> {
    let now = tg_store::now();
    let mut report = ReconcileReport::default();
    for p in store.open_payments(now - after, limit).await? {
        if p.provider != provider.name() {
            continue;
        }
        report.checked += 1;
        let pp = match provider.retrieve_payment(&p.provider_payment_id).await {
            Ok(pp) => pp,
            Err(e) => {
                tracing::warn!(payment_id = %p.id, error = %e, "reconcile: provider did not answer");
                report.errors += 1;
                continue;
            }
        };
        let signal = match pp.status {
            PaymentStatus::Succeeded => PaymentSignal::Succeeded,
            PaymentStatus::Canceled => PaymentSignal::Canceled,
            PaymentStatus::Failed => PaymentSignal::Failed(pp.last_error.clone()),
            PaymentStatus::Processing => PaymentSignal::Processing,
            PaymentStatus::RequiresPayment => continue,
        };
        if state_of(pp.status) == p.status {
            continue;
        }
        let outcome = store
            .apply_provider_event(&ProviderEvent {
                provider: p.provider.clone(),
                // One synthetic event per observed state: repeated passes dedupe.
                event_id: format!("reconcile:{}:{}", p.provider_payment_id, pp.status.as_str()),
                provider_payment_id: p.provider_payment_id.clone(),
                signal,
                occurred_at: now,
                now,
            })
            .await?;
        if let EventOutcome::Applied {
            payment, refund, ..
        } = outcome
        {
            report.updated += 1;
            tracing::info!(payment_id = %payment.id, status = payment.status.as_str(), "reconciled a payment");
            if let Some(r) = refund {
                execute_refund(store, provider, &payment, &r).await?;
            }
        }
    }
    for r in store.pending_refunds(now - after, limit).await? {
        let payment = store.get_payment(r.payment_id).await?;
        report.refunds_retried += 1;
        execute_refund(store, provider, &payment, &r).await?;
    }
    Ok(report)
}
