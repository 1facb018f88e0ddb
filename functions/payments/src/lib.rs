//! `payments`: checkout, provider webhooks, refunds, and the simulated
//! provider's hosted pay step. The platform never sees card data: the client
//! pays the provider directly with what checkout returns (`client_secret` for
//! Stripe Elements, or `redirect_url` for a hosted page), and the provider
//! tells us by signed webhook. See [`flow`] for the flows themselves.

pub mod flow;

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tg_auth::Caller;
use tg_http::{ApiError, Path, ProblemDoc};
use tg_payments::PaymentProvider;
use tg_payments::simulated::SimulatedProvider;
use tg_platform::{AppState, FunctionSpec};
use tg_store::{Payment, PaymentState, Refund, RefundState, Role};
use utoipa::{OpenApi, ToSchema};
use uuid::Uuid;

pub const FUNCTION: FunctionSpec = FunctionSpec {
    name: "payments",
    router,
    openapi,
};

pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/v1/bookings/{id}/checkout", post(checkout))
        .route("/v1/payments/webhooks/{provider}", post(webhook))
        .route("/v1/payments/{id}", get(get_payment))
        .route("/v1/payments/{id}/refund", post(refund))
        .route("/v1/payments/simulated/{id}", get(simulated_page))
        .route(
            "/v1/payments/simulated/{id}/succeed",
            post(simulated_succeed),
        )
        .route("/v1/payments/simulated/{id}/fail", post(simulated_fail))
        .with_state(state)
}

#[derive(OpenApi)]
#[openapi(
    paths(checkout, webhook, get_payment, refund, simulated_succeed, simulated_fail),
    components(schemas(CheckoutView, PaymentView, RefundView, RefundRequest, WebhookReply, ProblemDoc)),
    tags((name = "payments", description = "Checkout, webhooks, refunds"))
)]
struct ApiDoc;

pub fn openapi() -> utoipa::openapi::OpenApi {
    ApiDoc::openapi()
}

fn provider(state: &AppState) -> Result<&Arc<dyn PaymentProvider>, ApiError> {
    state.payments.as_ref().ok_or_else(flow::payments_off)
}

/// What the client needs to pay.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct CheckoutView {
    pub payment_id: Uuid,
    pub booking_id: Uuid,
    /// `stripe` or `simulated`.
    pub provider: String,
    pub status: PaymentState,
    pub amount_cents: i64,
    #[schema(example = "EUR")]
    pub currency: String,
    /// For Stripe Elements (`stripe.confirmPayment`).
    pub client_secret: Option<String>,
    /// A hosted page that takes the payment.
    pub redirect_url: Option<String>,
}

impl From<Payment> for CheckoutView {
    fn from(p: Payment) -> Self {
        Self {
            payment_id: p.id,
            booking_id: p.booking_id,
            provider: p.provider,
            status: p.status,
            amount_cents: p.amount_cents,
            currency: p.currency.to_string(),
            client_secret: p.client_secret,
            redirect_url: p.redirect_url,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct RefundView {
    pub id: Uuid,
    pub payment_id: Uuid,
    pub amount_cents: i64,
    pub status: RefundState,
    pub reason: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<Refund> for RefundView {
    fn from(r: Refund) -> Self {
        Self {
            id: r.id,
            payment_id: r.payment_id,
            amount_cents: r.amount_cents,
            status: r.status,
            reason: r.reason,
            created_at: r.created_at,
            updated_at: r.updated_at,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct PaymentView {
    pub id: Uuid,
    pub booking_id: Uuid,
    pub provider: String,
    pub status: PaymentState,
    pub amount_cents: i64,
    /// Refunded or being refunded.
    pub refunded_cents: i64,
    pub currency: String,
    pub last_error: Option<String>,
    pub created_at: DateTime<Utc>,
    pub succeeded_at: Option<DateTime<Utc>>,
    pub refunds: Vec<RefundView>,
}

/// Pay for a held booking (its buyer). Returns what the client needs to pay
/// the provider; calling again returns the same payment (one provider
/// payment per booking, whatever the retries).
#[utoipa::path(
    post,
    path = "/v1/bookings/{id}/checkout",
    tag = "payments",
    params(("id" = Uuid, Path, description = "Booking id")),
    security(("bearer" = [])),
    responses(
        (status = 201, description = "The payment to complete", body = CheckoutView),
        (status = 404, description = "No such booking of yours", body = ProblemDoc, content_type = "application/problem+json"),
        (status = 409, description = "`booking_expired`, `already_paid`, `booking_cancelled`", body = ProblemDoc, content_type = "application/problem+json"),
        (status = 502, description = "The provider refused", body = ProblemDoc, content_type = "application/problem+json"),
        (status = 503, description = "Payments off or the provider is down", body = ProblemDoc, content_type = "application/problem+json"),
    )
)]
#[tracing::instrument(skip(state, caller))]
async fn checkout(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<Uuid>,
) -> Result<Response, ApiError> {
    let provider = provider(&state)?;
    let c = flow::checkout(&state.store, provider.as_ref(), id, caller.user_id).await?;
    if c.created {
        tracing::info!(booking_id = %id, payment_id = %c.payment.id, "checkout started");
    }
    Ok((
        StatusCode::CREATED,
        axum::Json(CheckoutView::from(c.payment)),
    )
        .into_response())
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct WebhookReply {
    pub received: bool,
    /// `applied`, `duplicate`, `stale` or `ignored`.
    pub outcome: String,
}

/// Provider webhooks (`stripe`, or `simulated` in local mode). The
/// signature is checked before anything else: a bad or missing one is a
/// 400 and nothing is written. A replayed event is a no-op 200.
#[utoipa::path(
    post,
    path = "/v1/payments/webhooks/{provider}",
    tag = "payments",
    params(("provider" = String, Path, description = "`stripe` or `simulated`")),
    request_body(content = String, content_type = "application/json", description = "The provider's event, verbatim"),
    responses(
        (status = 200, description = "Received", body = WebhookReply),
        (status = 400, description = "`invalid_signature`: bad, missing, stale or replayed-with-new-timestamp signature", body = ProblemDoc, content_type = "application/problem+json"),
        (status = 404, description = "Not the configured provider", body = ProblemDoc, content_type = "application/problem+json"),
        (status = 503, description = "Not ready for this event yet: deliver again", body = ProblemDoc, content_type = "application/problem+json"),
    )
)]
async fn webhook(
    State(state): State<AppState>,
    Path(name): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let provider = match &state.payments {
        Some(p) if p.name() == name => p,
        _ => return Err(ApiError::not_found("payment provider")),
    };
    let signature = headers
        .get("stripe-signature")
        .and_then(|v| v.to_str().ok());
    deliver(&state, provider.as_ref(), signature, &body).await
}

async fn deliver(
    state: &AppState,
    provider: &dyn PaymentProvider,
    signature: Option<&str>,
    body: &[u8],
) -> Result<Response, ApiError> {
    let started = std::time::Instant::now();
    let outcome = flow::handle_webhook(&state.store, provider, signature, body, Utc::now()).await;
    metrics::histogram!("payment_webhook_seconds", "provider" => provider.name())
        .record(started.elapsed().as_secs_f64());
    match outcome? {
        flow::Delivery::Done(outcome) => Ok(axum::Json(WebhookReply {
            received: true,
            outcome: outcome.into(),
        })
        .into_response()),
        flow::Delivery::RetryLater => Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "not_ready",
            "the payment is not recorded yet; deliver the event again",
        )),
    }
}

/// Who may see a payment: its buyer, the event's organizer, admins.
fn may_see(caller: &Caller, p: &Payment) -> bool {
    p.user_id == caller.user_id
        || caller.is_admin()
        || (p.organizer_id == caller.user_id && caller.has(Role::Organizer))
}

/// A payment with its refunds (buyer, event organizer, admin).
#[utoipa::path(
    get,
    path = "/v1/payments/{id}",
    tag = "payments",
    params(("id" = Uuid, Path, description = "Payment id")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The payment", body = PaymentView),
        (status = 404, description = "No such payment you may see", body = ProblemDoc, content_type = "application/problem+json"),
    )
)]
async fn get_payment(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<Uuid>,
) -> Result<axum::Json<PaymentView>, ApiError> {
    let p = state.store.get_payment(id).await?;
    if !may_see(&caller, &p) {
        return Err(ApiError::not_found("payment"));
    }
    let refunds = state.store.refunds_of(id).await?;
    Ok(axum::Json(PaymentView {
        id: p.id,
        booking_id: p.booking_id,
        provider: p.provider,
        status: p.status,
        amount_cents: p.amount_cents,
        refunded_cents: p.refunded_cents,
        currency: p.currency.to_string(),
        last_error: p.last_error,
        created_at: p.created_at,
        succeeded_at: p.succeeded_at,
        refunds: refunds.into_iter().map(Into::into).collect(),
    }))
}

/// A refund, full (no amount) or partial.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RefundRequest {
    /// Minor units; at most what is left of the payment. Absent: all of it.
    #[schema(minimum = 1)]
    pub amount_cents: Option<i64>,
    /// Shown to the buyer and kept in the record.
    #[schema(max_length = 500)]
    pub reason: Option<String>,
}

/// Refund a payment (the event's organizer or an admin). Never more than
/// was paid: concurrent requests reserve against what is left, so 50 full
/// refunds at once give exactly one. A full refund puts the tickets back on
/// sale and writes `payment.refunded`.
#[utoipa::path(
    post,
    path = "/v1/payments/{id}/refund",
    tag = "payments",
    params(("id" = Uuid, Path, description = "Payment id")),
    request_body = RefundRequest,
    security(("bearer" = [])),
    responses(
        (status = 201, description = "The refund", body = RefundView),
        (status = 403, description = "Not an organizer", body = ProblemDoc, content_type = "application/problem+json"),
        (status = 404, description = "No such payment of your events", body = ProblemDoc, content_type = "application/problem+json"),
        (status = 409, description = "`not_paid`, `already_refunded`, `refund_exceeds_payment`, `payment_disputed`", body = ProblemDoc, content_type = "application/problem+json"),
        (status = 422, description = "Invalid amount", body = ProblemDoc, content_type = "application/problem+json"),
    )
)]
#[tracing::instrument(skip(state, caller, body))]
async fn refund(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<Uuid>,
    body: Bytes,
) -> Result<Response, ApiError> {
    caller.require(Role::Organizer)?;
    // The body is optional: none (or `{}`) refunds everything left.
    let body: RefundRequest = if body.iter().all(u8::is_ascii_whitespace) {
        RefundRequest::default()
    } else {
        tg_http::parse_json(&body)?
    };
    if let Some(a) = body.amount_cents
        && a < 1
    {
        return Err(ApiError::invalid_field(
            "amount_cents",
            "must be at least 1",
        ));
    }
    let reason = body
        .reason
        .unwrap_or_else(|| "refunded by the organizer".into());
    if reason.chars().count() > 500 {
        return Err(ApiError::invalid_field("reason", "at most 500 characters"));
    }
    let provider = provider(&state)?;
    let p = state.store.get_payment(id).await?;
    if !(caller.is_admin() || p.organizer_id == caller.user_id) {
        return Err(ApiError::not_found("payment"));
    }
    let r = flow::refund(
        &state.store,
        provider.as_ref(),
        &p,
        body.amount_cents,
        &reason,
        Some(caller.user_id),
    )
    .await?;
    tracing::info!(payment_id = %id, refund_id = %r.id, amount = r.amount_cents, "refund");
    Ok((StatusCode::CREATED, axum::Json(RefundView::from(r))).into_response())
}

fn simulated(state: &AppState) -> Result<&SimulatedProvider, ApiError> {
    state
        .simulated_payments
        .as_deref()
        .ok_or_else(|| ApiError::not_found("route"))
}

/// The simulated provider's hosted pay page (local mode only).
async fn simulated_page(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let sim = simulated(&state)?;
    let p = sim
        .retrieve_payment(&id)
        .await
        .map_err(|_| ApiError::not_found("payment"))?;
    let esc = |s: &str| {
        s.chars()
            .filter(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect::<String>()
    };
    let id = esc(&p.id);
    let page = format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>Simulated payment</title></head>\
         <body style=\"font-family:sans-serif;max-width:32em;margin:3em auto\">\
         <h1>Simulated payment</h1><p>No money moves: this is Ticket Gateway's simulated provider.</p>\
         <p>Amount: <b>{} {}</b> (minor units). Status: <b>{}</b>.</p>\
         <form method=\"post\" action=\"/v1/payments/simulated/{id}/succeed\"><button>Pay</button></form>\
         <form method=\"post\" action=\"/v1/payments/simulated/{id}/fail\"><button>Decline the card</button></form>\
         </body></html>",
        p.amount_cents,
        esc(&p.currency),
        p.status.as_str(),
    );
    Ok(([(header::CACHE_CONTROL, "no-store")], Html(page)).into_response())
}

async fn settle(state: &AppState, id: &str, succeed: bool) -> Result<Response, ApiError> {
    let sim = simulated(state)?;
    let now = Utc::now();
    let Some((signature, body)) = sim
        .settle(id, succeed, now.timestamp())
        .await
        .map_err(|e| ApiError::unavailable(anyhow::anyhow!(e.to_string())))?
    else {
        return Err(ApiError::conflict(
            "payment_not_open",
            "no open simulated payment with this id",
        ));
    };
    // Delivered exactly as a provider's webhook: signed, then verified.
    deliver(state, sim, Some(&signature), &body).await
}

/// Simulated provider: the buyer pays (local mode only). The signed
/// `payment_intent.succeeded` webhook is delivered before this returns.
#[utoipa::path(
    post,
    path = "/v1/payments/simulated/{id}/succeed",
    tag = "payments",
    params(("id" = String, Path, description = "The simulated provider's payment id (`sim_pi_...`)")),
    responses(
        (status = 200, description = "Paid; the webhook was delivered", body = WebhookReply),
        (status = 404, description = "Not in local mode, or no such payment", body = ProblemDoc, content_type = "application/problem+json"),
        (status = 409, description = "`payment_not_open`", body = ProblemDoc, content_type = "application/problem+json"),
    )
)]
async fn simulated_succeed(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    settle(&state, &id, true).await
}

/// Simulated provider: the card is declined (local mode only). The booking
/// stays held until it expires.
#[utoipa::path(
    post,
    path = "/v1/payments/simulated/{id}/fail",
    tag = "payments",
    params(("id" = String, Path, description = "The simulated provider's payment id")),
    responses(
        (status = 200, description = "Declined; the webhook was delivered", body = WebhookReply),
        (status = 404, description = "Not in local mode, or no such payment", body = ProblemDoc, content_type = "application/problem+json"),
    )
)]
async fn simulated_fail(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    settle(&state, &id, false).await
}
