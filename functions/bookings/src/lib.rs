//! `bookings`: the inventory path. Holds (`POST /v1/bookings`), reads, and
//! cancellation. Overselling is impossible because the database decides:
//! each hold is one conditional update per ticket type (see
//! `tg_store::bookings`), never a check in this process.
//!
//! In front of the database sit three guards against hoarding and
//! overload: a per-buyer cap on unpaid tickets per event (in storage), a
//! per-IP rate limit on hold attempts (in storage, shared by every
//! instance), and a per-instance bound on hold requests in flight beyond
//! which the instance answers 503 with `Retry-After` at once.

mod views;

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Router};
use tg_auth::Caller;
use tg_http::pagination::{PageParams, Paged};
use tg_http::{ApiError, Json, Path, ProblemDoc, Query};
use tg_platform::{AppState, BearerAuth, ClientIp, FunctionSpec};
use tg_store::{Booking, Role, Scope, StoreError};
use tokio::sync::Semaphore;
use utoipa::OpenApi;
use uuid::Uuid;

pub use views::{BookingItemView, BookingView, CreateBookingRequest, HoldItemRequest};

pub const FUNCTION: FunctionSpec = FunctionSpec {
    name: "bookings",
    router,
    openapi,
};

/// Hold requests this instance has in flight (load shedding).
#[derive(Clone)]
struct InFlight(Arc<Semaphore>);

pub fn router(state: AppState) -> Router {
    let inflight = InFlight(Arc::new(Semaphore::new(
        state.config.booking_max_inflight as usize,
    )));
    let holds = Router::new()
        .route("/v1/bookings", post(create_booking))
        .route_layer(middleware::from_fn(shed_load))
        .layer(Extension(inflight));
    Router::new()
        .route("/v1/bookings/{id}", get(get_booking))
        .route("/v1/bookings/{id}/cancel", post(cancel_booking))
        .route("/v1/me/bookings", get(my_bookings))
        .route("/v1/events/{id}/bookings", get(event_bookings))
        .merge(holds)
        .with_state(state)
}

#[derive(OpenApi)]
#[openapi(
    paths(create_booking, get_booking, cancel_booking, my_bookings, event_bookings),
    components(schemas(
        BookingView,
        BookingItemView,
        CreateBookingRequest,
        HoldItemRequest,
        ProblemDoc
    )),
    modifiers(&BearerAuth),
    tags((name = "bookings", description = "Holds, bookings and cancellation"))
)]
struct ApiDoc;

pub fn openapi() -> utoipa::openapi::OpenApi {
    ApiDoc::openapi()
}

/// Answers 503 at once when this instance already works on as many holds as
/// it may: a queue that only grows makes every buyer wait; a quick "retry in
/// a second" keeps the latency of the admitted ones flat.
async fn shed_load(Extension(inflight): Extension<InFlight>, req: Request, next: Next) -> Response {
    match inflight.0.clone().try_acquire_owned() {
        Ok(_permit) => next.run(req).await,
        Err(_) => {
            metrics_shed();
            ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "overloaded",
                "too many buyers at once; retry in a second",
            )
            .with_header(header::RETRY_AFTER, HeaderValue::from_static("1"))
            .into_response()
        }
    }
}

fn metrics_shed() {
    tracing::debug!("hold request shed");
}

/// Hold tickets: creates a booking in status `held` that expires unpaid
/// after the event's hold time.
#[utoipa::path(
    post,
    path = "/v1/bookings",
    tag = "bookings",
    request_body = CreateBookingRequest,
    security(("bearer" = [])),
    params(("Idempotency-Key" = Option<String>, Header, nullable = false, min_length = 1, max_length = 255, pattern = "^[!-~]+$",
        description = "Retry safely: the first response is replayed. 1 to 255 visible ASCII characters.")),
    responses(
        (status = 201, description = "The held booking", body = BookingView),
        (status = 400, description = "Malformed JSON or a failed CAPTCHA", body = ProblemDoc, content_type = "application/problem+json"),
        (status = 401, description = "No or invalid token", body = ProblemDoc, content_type = "application/problem+json"),
        (status = 404, description = "No such published event", body = ProblemDoc, content_type = "application/problem+json"),
        (status = 409, description = "`sold_out`, `hold_limit_reached`, `sales_not_started`, `sales_ended`, `event_cancelled`", body = ProblemDoc, content_type = "application/problem+json"),
        (status = 422, description = "Invalid items", body = ProblemDoc, content_type = "application/problem+json"),
        (status = 429, description = "Too many hold attempts from this address (`Retry-After`)", body = ProblemDoc, content_type = "application/problem+json"),
        (status = 503, description = "Overloaded: retry after `Retry-After`", body = ProblemDoc, content_type = "application/problem+json"),
    )
)]
#[tracing::instrument(skip(state, caller, ip, body))]
async fn create_booking(
    State(state): State<AppState>,
    caller: Caller,
    ip: ClientIp,
    Json(body): Json<CreateBookingRequest>,
) -> Result<Response, ApiError> {
    let (hold, captcha_token) =
        body.validate(caller.user_id, i64::from(state.config.max_held_per_user))?;
    if state.config.hold_rate_per_ip > 0 {
        tg_platform::rate_limit::check(
            state.store.as_ref(),
            &format!("hold:ip:{}", ip.key()),
            state.config.hold_rate_per_ip,
        )
        .await?;
    }
    if state.config.captcha_on_bookings
        && let Some(c) = &state.captcha
    {
        c.verify(
            captcha_token.as_deref(),
            "booking",
            ip.0.map(|i| i.to_string()),
        )
        .await?;
    }
    let booking = state.store.hold(&hold).await?;
    // Availability changed: this process's catalog cache re-reads at once
    // (other instances within its TTL).
    state.catalog_changed();
    tracing::info!(booking_id = %booking.id, quantity = booking.quantity, "tickets held");
    let location = format!("/v1/bookings/{}", booking.id);
    let mut resp = (
        StatusCode::CREATED,
        axum::Json(BookingView::new(booking, hold.now)),
    )
        .into_response();
    if let Ok(v) = HeaderValue::from_str(&location) {
        resp.headers_mut().insert(header::LOCATION, v);
    }
    Ok(resp)
}

/// Who may read a booking: its buyer, the event's organizer, an admin.
/// Anyone else is told it does not exist.
fn visible(caller: &Caller, b: &Booking) -> bool {
    b.user_id == caller.user_id
        || caller.is_admin()
        || (b.organizer_id == caller.user_id && caller.has(Role::Organizer))
}

/// One booking (buyer, event organizer, admin).
#[utoipa::path(
    get,
    path = "/v1/bookings/{id}",
    tag = "bookings",
    params(("id" = Uuid, Path, description = "Booking id")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The booking", body = BookingView),
        (status = 401, description = "No or invalid token", body = ProblemDoc, content_type = "application/problem+json"),
        (status = 404, description = "No such booking you may see", body = ProblemDoc, content_type = "application/problem+json"),
    )
)]
#[tracing::instrument(skip(state, caller))]
async fn get_booking(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<Uuid>,
) -> Result<Json<BookingView>, ApiError> {
    let b = state.store.get_booking(id).await?;
    if !visible(&caller, &b) {
        return Err(ApiError::not_found("booking"));
    }
    Ok(Json(BookingView::new(b, tg_store::now())))
}

/// Cancel your held booking: its tickets are back on sale at once. A paid
/// booking is cancelled by refunding it (`409 refund_required`).
#[utoipa::path(
    post,
    path = "/v1/bookings/{id}/cancel",
    tag = "bookings",
    params(("id" = Uuid, Path, description = "Booking id")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The cancelled booking", body = BookingView),
        (status = 401, description = "No or invalid token", body = ProblemDoc, content_type = "application/problem+json"),
        (status = 404, description = "No such booking of yours", body = ProblemDoc, content_type = "application/problem+json"),
        (status = 409, description = "`booking_expired`, `refund_required`, `booking_refunded`", body = ProblemDoc, content_type = "application/problem+json"),
    )
)]
#[tracing::instrument(skip(state, caller))]
async fn cancel_booking(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<Uuid>,
) -> Result<Json<BookingView>, ApiError> {
    let now = tg_store::now();
    let b = match state.store.cancel_booking(id, caller.user_id, now).await {
        Err(StoreError::Conflict {
            code: "refund_required",
            ..
        }) => refund_paid_booking(&state, id, now).await?,
        other => other?,
    };
    state.catalog_changed();
    tracing::info!(booking_id = %b.id, "booking cancelled");
    Ok(Json(BookingView::new(b, now)))
}

/// A buyer cancels a paid booking: allowed until the event's refund cutoff
/// (`refund_cutoff_hours` before the start); the whole payment is refunded
/// and the tickets go back on sale.
async fn refund_paid_booking(
    state: &AppState,
    id: Uuid,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<Booking, ApiError> {
    let b = state.store.get_booking(id).await?;
    let event = state.store.get_event(b.event_id, Scope::All).await?;
    let Some(hours) = event.refund_cutoff_hours else {
        return Err(ApiError::conflict(
            "refund_not_allowed",
            "this event does not refund cancelled bookings; ask the organizer",
        ));
    };
    if now > event.starts_at - chrono::Duration::hours(i64::from(hours)) {
        return Err(ApiError::conflict(
            "refund_window_closed",
            format!("refunds close {hours} hours before the event starts"),
        ));
    }
    let provider = state
        .payments
        .as_ref()
        .ok_or_else(payments::flow::payments_off)?;
    let payment = state
        .store
        .payment_for_booking(id)
        .await?
        .ok_or_else(|| ApiError::conflict("not_paid", "the booking has no payment"))?;
    if payment.amount_cents == 0 {
        // Nothing was paid: the booking is released as a zero refund.
        state
            .store
            .apply_provider_event(&tg_store::ProviderEvent {
                provider: payment.provider.clone(),
                event_id: format!("cancel:{id}"),
                provider_payment_id: payment.provider_payment_id.clone(),
                signal: tg_store::PaymentSignal::Refunded { amount_refunded: 0 },
                occurred_at: now,
                now,
            })
            .await?;
        return Ok(state.store.get_booking(id).await?);
    }
    let refund = payments::flow::refund(
        &state.store,
        provider.as_ref(),
        &payment,
        None,
        "cancelled by the buyer",
        Some(b.user_id),
    )
    .await?;
    tracing::info!(booking_id = %id, refund_id = %refund.id, status = refund.status.as_str(), "paid booking cancelled");
    Ok(state.store.get_booking(id).await?)
}

/// Your bookings, newest first.
#[utoipa::path(
    get,
    path = "/v1/me/bookings",
    tag = "bookings",
    params(PageParams),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "A page of bookings", body = Paged<BookingView>),
        (status = 400, description = "Bad limit or cursor", body = ProblemDoc, content_type = "application/problem+json"),
        (status = 401, description = "No or invalid token", body = ProblemDoc, content_type = "application/problem+json"),
    )
)]
#[tracing::instrument(skip(state, caller))]
async fn my_bookings(
    State(state): State<AppState>,
    caller: Caller,
    Query(page): Query<PageParams>,
) -> Result<Json<Paged<BookingView>>, ApiError> {
    let page = page.parse::<Uuid>()?;
    let rows = state
        .store
        .list_user_bookings(caller.user_id, page.after, page.limit)
        .await?;
    let now = tg_store::now();
    Ok(Json(
        Paged::from_rows(rows, page.limit, |b| b.id).map(|b| BookingView::new(b, now)),
    ))
}

/// An event's bookings, newest first (its organizer, admins).
#[utoipa::path(
    get,
    path = "/v1/events/{id}/bookings",
    tag = "bookings",
    params(("id" = Uuid, Path, description = "Event id"), PageParams),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "A page of bookings", body = Paged<BookingView>),
        (status = 401, description = "No or invalid token", body = ProblemDoc, content_type = "application/problem+json"),
        (status = 403, description = "Not an organizer", body = ProblemDoc, content_type = "application/problem+json"),
        (status = 404, description = "No such event of yours", body = ProblemDoc, content_type = "application/problem+json"),
    )
)]
#[tracing::instrument(skip(state, caller))]
async fn event_bookings(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<Uuid>,
    Query(page): Query<PageParams>,
) -> Result<Json<Paged<BookingView>>, ApiError> {
    caller.require(Role::Organizer)?;
    let scope: Scope = caller.scope();
    let page = page.parse::<Uuid>()?;
    let rows = state
        .store
        .list_event_bookings(id, scope, page.after, page.limit)
        .await?;
    let now = tg_store::now();
    Ok(Json(
        Paged::from_rows(rows, page.limit, |b| b.id).map(|b| BookingView::new(b, now)),
    ))
}
