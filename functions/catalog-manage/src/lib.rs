//! `catalog-manage`: organizer writes to the catalog. Draft events, ticket
//! types, edits, publishing and cancelling. Every call is scoped to the
//! caller's own events in the storage query itself (admins reach all).

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{patch, post};
use chrono::Utc;
use tg_auth::Caller;
use tg_catalog::{
    CreateEventRequest, CreateTicketTypeRequest, EventView, TicketTypeView, UpdateEventRequest,
    UpdateTicketTypeRequest,
};
use tg_http::{ApiError, Json, Path, ProblemDoc};
use tg_platform::{AppState, BearerAuth, FunctionSpec};
use tg_store::Role;
use utoipa::OpenApi;
use uuid::Uuid;

pub const FUNCTION: FunctionSpec = FunctionSpec {
    name: "catalog-manage",
    router,
    openapi,
};

pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/v1/events", post(create_event))
        .route("/v1/events/{id}", patch(update_event))
        .route("/v1/events/{id}/ticket-types", post(add_ticket_type))
        .route(
            "/v1/events/{id}/ticket-types/{ticket_type_id}",
            patch(update_ticket_type),
        )
        .route("/v1/events/{id}/publish", post(publish_event))
        .route("/v1/events/{id}/cancel", post(cancel_event))
        .with_state(state)
}

#[derive(OpenApi)]
#[openapi(
    paths(create_event, update_event, add_ticket_type, update_ticket_type, publish_event, cancel_event),
    components(schemas(
        EventView,
        TicketTypeView,
        CreateEventRequest,
        UpdateEventRequest,
        CreateTicketTypeRequest,
        UpdateTicketTypeRequest,
        ProblemDoc
    )),
    modifiers(&BearerAuth),
    tags((name = "catalog-manage", description = "Organizer catalog writes"))
)]
struct ApiDoc;

pub fn openapi() -> utoipa::openapi::OpenApi {
    ApiDoc::openapi()
}

fn created<T: serde::Serialize>(location: String, body: T) -> Response {
    let mut resp = (StatusCode::CREATED, Json(body)).into_response();
    if let Ok(v) = HeaderValue::from_str(&location) {
        resp.headers_mut().insert(header::LOCATION, v);
    }
    resp
}

/// Create a draft event owned by the caller.
#[utoipa::path(
    post,
    path = "/v1/events",
    tag = "catalog-manage",
    request_body = CreateEventRequest,
    security(("bearer" = [])),
    responses(
        (status = 201, description = "The draft event", body = EventView),
        (status = 400, description = "Malformed JSON", body = ProblemDoc, content_type = "application/problem+json"),
        (status = 401, description = "No or invalid token", body = ProblemDoc, content_type = "application/problem+json"),
        (status = 403, description = "Not an organizer", body = ProblemDoc, content_type = "application/problem+json"),
        (status = 413, description = "Body over 64 KiB", body = ProblemDoc, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields", body = ProblemDoc, content_type = "application/problem+json"),
    )
)]
#[tracing::instrument(skip(state, caller, body))]
async fn create_event(
    State(state): State<AppState>,
    caller: Caller,
    Json(body): Json<CreateEventRequest>,
) -> Result<Response, ApiError> {
    caller.require(Role::Organizer)?;
    let new = body.validate()?;
    let event = state.store.create_event(caller.user_id, &new).await?;
    tracing::info!(event_id = %event.id, "event created");
    state.catalog_changed();
    Ok(created(
        format!("/v1/events/{}", event.id),
        EventView::from(event),
    ))
}

/// Edit an event (owner or admin). A cancelled event cannot change.
#[utoipa::path(
    patch,
    path = "/v1/events/{id}",
    tag = "catalog-manage",
    params(("id" = Uuid, Path, description = "Event id")),
    request_body = UpdateEventRequest,
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The updated event", body = EventView),
        (status = 404, description = "No such event of yours", body = ProblemDoc, content_type = "application/problem+json"),
        (status = 409, description = "The event is cancelled", body = ProblemDoc, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields", body = ProblemDoc, content_type = "application/problem+json"),
    )
)]
#[tracing::instrument(skip(state, caller, body))]
async fn update_event(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<Uuid>,
    Json(body): Json<UpdateEventRequest>,
) -> Result<Json<EventView>, ApiError> {
    caller.require(Role::Organizer)?;
    let patch = body.validate()?;
    let event = state.store.update_event(id, caller.scope(), &patch).await?;
    state.catalog_changed();
    Ok(Json(EventView::from(event)))
}

/// Add a ticket type to one of your events.
#[utoipa::path(
    post,
    path = "/v1/events/{id}/ticket-types",
    tag = "catalog-manage",
    params(("id" = Uuid, Path, description = "Event id")),
    request_body = CreateTicketTypeRequest,
    security(("bearer" = [])),
    responses(
        (status = 201, description = "The ticket type", body = TicketTypeView),
        (status = 404, description = "No such event of yours", body = ProblemDoc, content_type = "application/problem+json"),
        (status = 409, description = "Duplicate name, or the event is cancelled", body = ProblemDoc, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields (including a currency other than the event's)", body = ProblemDoc, content_type = "application/problem+json"),
    )
)]
#[tracing::instrument(skip(state, caller, body))]
async fn add_ticket_type(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<Uuid>,
    Json(body): Json<CreateTicketTypeRequest>,
) -> Result<Response, ApiError> {
    caller.require(Role::Organizer)?;
    let new = body.validate()?;
    let tt = state
        .store
        .add_ticket_type(id, caller.scope(), &new)
        .await?;
    state.catalog_changed();
    Ok(created(
        format!("/v1/events/{id}/ticket-types/{}", tt.id),
        TicketTypeView::from(tt),
    ))
}

/// Edit a ticket type. Capacity cannot go below what is sold or held.
#[utoipa::path(
    patch,
    path = "/v1/events/{id}/ticket-types/{ticket_type_id}",
    tag = "catalog-manage",
    params(
        ("id" = Uuid, Path, description = "Event id"),
        ("ticket_type_id" = Uuid, Path, description = "Ticket type id"),
    ),
    request_body = UpdateTicketTypeRequest,
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The ticket type", body = TicketTypeView),
        (status = 404, description = "No such ticket type of yours", body = ProblemDoc, content_type = "application/problem+json"),
        (status = 409, description = "Capacity below sold + held, or event cancelled", body = ProblemDoc, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields", body = ProblemDoc, content_type = "application/problem+json"),
    )
)]
#[tracing::instrument(skip(state, caller, body))]
async fn update_ticket_type(
    State(state): State<AppState>,
    caller: Caller,
    Path((id, ticket_type_id)): Path<(Uuid, Uuid)>,
    Json(body): Json<UpdateTicketTypeRequest>,
) -> Result<Json<TicketTypeView>, ApiError> {
    caller.require(Role::Organizer)?;
    let patch = body.validate()?;
    let tt = state
        .store
        .update_ticket_type(id, ticket_type_id, caller.scope(), &patch)
        .await?;
    state.catalog_changed();
    Ok(Json(TicketTypeView::from(tt)))
}

/// Publish a draft event (it needs at least one ticket type).
#[utoipa::path(
    post,
    path = "/v1/events/{id}/publish",
    tag = "catalog-manage",
    params(("id" = Uuid, Path, description = "Event id")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The published event", body = EventView),
        (status = 404, description = "No such event of yours", body = ProblemDoc, content_type = "application/problem+json"),
        (status = 409, description = "No ticket types, already ended, or cancelled", body = ProblemDoc, content_type = "application/problem+json"),
    )
)]
#[tracing::instrument(skip(state, caller))]
async fn publish_event(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<Uuid>,
) -> Result<Json<EventView>, ApiError> {
    caller.require(Role::Organizer)?;
    let event = state
        .store
        .publish_event(id, caller.scope(), Utc::now())
        .await?;
    tracing::info!(event_id = %id, "event published");
    state.catalog_changed();
    Ok(Json(EventView::from(event)))
}

/// Cancel an event (owner or admin). In the same transaction held bookings
/// are cancelled, every ticket is revoked and each paid booking gets a full
/// refund, which the provider is then asked for; `event.cancelled` goes to
/// the outbox (the notifications tell the holders).
#[utoipa::path(
    post,
    path = "/v1/events/{id}/cancel",
    tag = "catalog-manage",
    params(("id" = Uuid, Path, description = "Event id")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The cancelled event", body = EventView),
        (status = 404, description = "No such event of yours", body = ProblemDoc, content_type = "application/problem+json"),
    )
)]
#[tracing::instrument(skip(state, caller))]
async fn cancel_event(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<Uuid>,
) -> Result<Json<EventView>, ApiError> {
    caller.require(Role::Organizer)?;
    let event = state
        .store
        .cancel_event(id, caller.scope(), Utc::now())
        .await?;
    state.catalog_changed();
    // Held bookings were cancelled and paid ones had full refunds reserved
    // in the same transaction; ask the provider for them now (what it does
    // not answer, the reconciler retries).
    let mut refunded = 0usize;
    if let Some(provider) = &state.payments {
        for r in state.store.pending_refunds_of_event(id).await? {
            let payment = state.store.get_payment(r.payment_id).await?;
            let done =
                payments::flow::execute_refund(&state.store, provider.as_ref(), &payment, &r)
                    .await?;
            if done.status == tg_store::RefundState::Succeeded {
                refunded += 1;
            }
        }
    }
    tracing::info!(event_id = %id, refunded, "event cancelled");
    Ok(Json(EventView::from(event)))
}
