//! `tickets`: what a confirmed booking becomes, and the door that lets each
//! ticket in exactly once.
//!
//! * Tickets are issued when their booking is confirmed (in that
//!   transaction): a random id and a code signed with the event's Ed25519
//!   key, which a scanner holding the event's public key verifies offline.
//! * Holders see their tickets, the QR as SVG and a PDF, and name who goes
//!   in before the event.
//! * Organizers invite door staff per event; the organizer, its staff and
//!   admins check tickets in (`POST /v1/checkins`), online or as an offline
//!   gate's upload (`POST /v1/checkins/batch`), and watch the door numbers.

mod views;

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, delete, get, post};
use chrono::Utc;
use tg_auth::Caller;
use tg_http::{ApiError, Json, Path, ProblemDoc};
use tg_platform::{AppState, FunctionSpec};
use tg_store::{Role, Scan, ScanOutcome, Scope, Ticket};
use utoipa::OpenApi;
use uuid::Uuid;

pub use views::*;

pub const FUNCTION: FunctionSpec = FunctionSpec {
    name: "tickets",
    router,
    openapi,
};

/// Most scans one offline upload may carry.
pub const MAX_BATCH: usize = 500;

pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/v1/bookings/{id}/tickets", get(booking_tickets))
        .route("/v1/tickets/{file}", any(ticket_file_route))
        .route("/v1/tickets/{id}/qr.svg", get(ticket_qr))
        .route("/v1/checkins", post(checkin))
        .route("/v1/checkins/batch", post(checkin_batch))
        .route("/v1/events/{id}/door", get(door))
        .route("/v1/events/{id}/ticket-key", get(ticket_key))
        .route("/v1/events/{id}/staff", get(list_staff).post(add_staff))
        .route("/v1/events/{id}/staff/{user_id}", delete(remove_staff))
        .with_state(state)
}

#[derive(OpenApi)]
#[openapi(
    paths(booking_tickets, ticket_file, ticket_qr, set_attendee, checkin, checkin_batch, door, ticket_key, list_staff, add_staff, remove_staff),
    components(schemas(
        TicketView, TicketList, AttendeeRequest, CheckinRequest, CheckinResult, BatchRequest,
        BatchScan, BatchResult, BatchItem, DoorView, DoorTypeView, TicketKeyView, StaffRequest,
        StaffList, ProblemDoc
    )),
    tags((name = "tickets", description = "Tickets, door staff and check-in"))
)]
struct ApiDoc;

pub fn openapi() -> utoipa::openapi::OpenApi {
    ApiDoc::openapi()
}

/// Whether the caller runs the event's door: its organizer, its staff, admins.
async fn at_the_door(state: &AppState, caller: &Caller, event_id: Uuid) -> Result<bool, ApiError> {
    if caller.is_admin() {
        return Ok(true);
    }
    if caller.has(Role::Organizer)
        && state
            .store
            .get_event(event_id, Scope::Organizer(caller.user_id))
            .await
            .is_ok()
    {
        return Ok(true);
    }
    Ok(state.store.is_staff(event_id, caller.user_id).await?)
}

/// Who may see a ticket: its holder, the event's organizer, admins.
fn may_see(caller: &Caller, t: &Ticket) -> bool {
    t.user_id == caller.user_id
        || caller.is_admin()
        || (t.organizer_id == caller.user_id && caller.has(Role::Organizer))
}

/// A booking's tickets (its buyer, the event's organizer, admins).
#[utoipa::path(get, path = "/v1/bookings/{id}/tickets", tag = "tickets",
    params(("id" = Uuid, Path, description = "Booking id")), security(("bearer" = [])),
    responses(
        (status = 200, description = "The tickets (none until the booking is paid)", body = TicketList),
        (status = 404, description = "No such booking you may see", body = ProblemDoc, content_type = "application/problem+json"),
    ))]
async fn booking_tickets(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<Uuid>,
) -> Result<axum::Json<TicketList>, ApiError> {
    let b = state.store.get_booking(id).await?;
    let allowed = b.user_id == caller.user_id
        || caller.is_admin()
        || (b.organizer_id == caller.user_id && caller.has(Role::Organizer));
    if !allowed {
        return Err(ApiError::not_found("booking"));
    }
    let tickets = state.store.tickets_of_booking(id).await?;
    Ok(axum::Json(TicketList {
        items: tickets.into_iter().map(TicketView::from).collect(),
    }))
}

async fn visible_ticket(state: &AppState, caller: &Caller, id: Uuid) -> Result<Ticket, ApiError> {
    let t = state.store.get_ticket(id).await?;
    if !may_see(caller, &t) {
        return Err(ApiError::not_found("ticket"));
    }
    Ok(t)
}

/// The ticket's QR code (SVG).
#[utoipa::path(get, path = "/v1/tickets/{id}/qr.svg", tag = "tickets",
    params(("id" = Uuid, Path, description = "Ticket id")), security(("bearer" = [])),
    responses(
        (status = 200, description = "The QR code of the ticket's signed code", content_type = "image/svg+xml", body = String),
        (status = 404, description = "No such ticket you may see", body = ProblemDoc, content_type = "application/problem+json"),
    ))]
async fn ticket_qr(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<Uuid>,
) -> Result<Response, ApiError> {
    let t = visible_ticket(&state, &caller, id).await?;
    let svg =
        tg_tickets::qr::svg(&t.code).map_err(|e| ApiError::internal(anyhow::anyhow!("{e}")))?;
    Ok((
        [
            (header::CONTENT_TYPE, "image/svg+xml"),
            (header::CACHE_CONTROL, "private, no-store"),
        ],
        svg,
    )
        .into_response())
}

/// The ticket as a PDF (`/v1/tickets/{id}.pdf`): QR, event, time, venue and
/// holder name.
#[utoipa::path(get, path = "/v1/tickets/{id}.pdf", tag = "tickets",
    params(("id" = Uuid, Path, description = "Ticket id")), security(("bearer" = [])),
    responses(
        (status = 200, description = "The PDF ticket", content_type = "application/pdf", body = Vec<u8>),
        (status = 404, description = "No such ticket you may see", body = ProblemDoc, content_type = "application/problem+json"),
    ))]
async fn ticket_file(
    State(state): State<AppState>,
    caller: Caller,
    Path(file): Path<String>,
) -> Result<Response, ApiError> {
    let id = file
        .strip_suffix(".pdf")
        .and_then(|s| s.parse::<Uuid>().ok())
        .ok_or_else(|| ApiError::not_found("route"))?;
    let t = visible_ticket(&state, &caller, id).await?;
    let e = state.store.get_event(t.event_id, Scope::All).await?;
    let tz: chrono_tz::Tz = e.timezone.parse().unwrap_or(chrono_tz::UTC);
    let tt = e.ticket_types.iter().find(|x| x.id == t.ticket_type_id);
    let pdf = tg_tickets::pdf::render(&tg_tickets::pdf::PdfTicket {
        code: t.code.clone(),
        event_title: e.title.clone(),
        venue: e.venue.clone(),
        city: e.city.clone(),
        starts_at_local: e
            .starts_at
            .with_timezone(&tz)
            .format("%a %d %b %Y, %H:%M %Z")
            .to_string(),
        ticket_type: t.ticket_type_name.clone(),
        holder_name: t.attendee_name.clone(),
        ticket_id: t.id,
        price: tt
            .map(|x| format!("{} {}", x.price_cents, x.currency))
            .unwrap_or_default(),
    })
    .map_err(|e| ApiError::internal(anyhow::anyhow!("{e}")))?;
    Ok((
        [
            (header::CONTENT_TYPE, "application/pdf".to_string()),
            (header::CACHE_CONTROL, "private, no-store".to_string()),
            (
                header::CONTENT_DISPOSITION,
                format!("inline; filename=\"ticket-{id}.pdf\""),
            ),
        ],
        pdf,
    )
        .into_response())
}

/// `/v1/tickets/{id}.pdf` (GET) and `/v1/tickets/{id}` (PATCH) share one
/// route pattern; each path answers only its own methods, with a 405 whose
/// `Allow` names them.
async fn ticket_file_route(State(state): State<AppState>, req: axum::extract::Request) -> Response {
    use axum::handler::Handler;
    use axum::http::Method;
    let pdf = req.uri().path().ends_with(".pdf");
    match (pdf, req.method()) {
        (true, &Method::GET | &Method::HEAD) => ticket_file.call(req, state).await,
        (false, &Method::PATCH) => set_attendee.call(req, state).await,
        _ => ApiError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
            "this route does not accept that method",
        )
        .with_header(
            header::ALLOW,
            axum::http::HeaderValue::from_static(if pdf { "GET,HEAD" } else { "PATCH" }),
        )
        .into_response(),
    }
}

/// Name who goes in (the holder, before the event starts).
#[utoipa::path(patch, path = "/v1/tickets/{id}", tag = "tickets",
    params(("id" = Uuid, Path, description = "Ticket id")), request_body = AttendeeRequest, security(("bearer" = [])),
    responses(
        (status = 200, description = "The ticket", body = TicketView),
        (status = 404, description = "No such ticket of yours", body = ProblemDoc, content_type = "application/problem+json"),
        (status = 409, description = "`event_started`, `revoked`", body = ProblemDoc, content_type = "application/problem+json"),
        (status = 422, description = "Invalid name", body = ProblemDoc, content_type = "application/problem+json"),
    ))]
async fn set_attendee(
    State(state): State<AppState>,
    caller: Caller,
    Path(file): Path<String>,
    Json(body): Json<AttendeeRequest>,
) -> Result<axum::Json<TicketView>, ApiError> {
    let id: Uuid = file.parse().map_err(|_| ApiError::not_found("ticket"))?;
    let name = body.validate()?;
    let t = state
        .store
        .set_attendee(id, caller.user_id, &name, Utc::now())
        .await?;
    Ok(axum::Json(TicketView::from(t)))
}

/// A code's structure, before anything is looked up: 422 when it is not a
/// ticket code at all. The signature is checked later, with the key of the
/// event the code names, once the caller may see that event's door.
fn parse_code(code: &str) -> Result<tg_tickets::code::TicketClaims, ApiError> {
    tg_tickets::code::parse(code)
        .map(|(claims, _)| claims)
        .map_err(|_| invalid_code())
}

fn invalid_code() -> ApiError {
    ApiError::new(
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_signature",
        "the ticket code is not genuine",
    )
}

/// 403 unless the caller runs the door of `event_id`. Checked before
/// anything about a ticket (its event, signature or state) is read.
async fn authorize_door(state: &AppState, caller: &Caller, event_id: Uuid) -> Result<(), ApiError> {
    if at_the_door(state, caller, event_id).await? {
        Ok(())
    } else {
        Err(ApiError::forbidden("you do not run the door of this event"))
    }
}

/// The event a scan is checked in for: the door's event when the scanner
/// names it, otherwise the event the code names.
fn door_event(event_id: Option<Uuid>, claims: &tg_tickets::code::TicketClaims) -> Uuid {
    event_id.unwrap_or(claims.event_id)
}

/// One scan as a door reports it, its code parsed and the caller already
/// authorized for [`door_event`].
struct DoorScan<'a> {
    code: &'a str,
    claims: tg_tickets::code::TicketClaims,
    event_id: Option<Uuid>,
    gate: Option<String>,
    nonce: Option<String>,
    scanned_at: chrono::DateTime<Utc>,
    earliest_wins: bool,
}

/// Checks in one scan and turns the outcome into a result or an error. The
/// caller runs the door of the scan's event (see [`authorize_door`]).
async fn admit(
    state: &AppState,
    caller: &Caller,
    s: DoorScan<'_>,
) -> Result<CheckinResult, ApiError> {
    let DoorScan {
        code,
        claims,
        event_id,
        gate,
        nonce,
        scanned_at,
        earliest_wins,
    } = s;
    if event_id.is_some_and(|e| e != claims.event_id) {
        return Err(ApiError::conflict(
            "wrong_event",
            "the ticket is for another event",
        ));
    }
    // An event without a key never issued a ticket: the code cannot be genuine.
    let key = state
        .store
        .event_public_key(claims.event_id)
        .await?
        .ok_or_else(invalid_code)?;
    tg_tickets::code::verify(code, &key).map_err(|_| invalid_code())?;
    let outcome = state
        .store
        .scan(&Scan {
            ticket_id: claims.ticket_id,
            event_id: claims.event_id,
            gate: gate.clone(),
            nonce,
            scanned_at,
            by: caller.user_id,
            earliest_wins,
        })
        .await?;
    match outcome {
        ScanOutcome::Admitted { replay } => {
            let t = state.store.get_ticket(claims.ticket_id).await?;
            Ok(CheckinResult::ok(&t, replay, None))
        }
        ScanOutcome::AdmittedEarlier {
            superseded_at,
            superseded_gate,
        } => {
            let t = state.store.get_ticket(claims.ticket_id).await?;
            Ok(CheckinResult::ok(
                &t,
                false,
                Some((superseded_at, superseded_gate)),
            ))
        }
        ScanOutcome::AlreadyCheckedIn { at, gate } => Err(ApiError::conflict(
            "already_checked_in",
            format!(
                "already checked in at {}{}",
                at.to_rfc3339(),
                gate.as_deref()
                    .map(|g| format!(" at gate {g}"))
                    .unwrap_or_default()
            ),
        )
        .with_extension("ticket_id", serde_json::json!(claims.ticket_id))
        .with_extension("checked_in_at", serde_json::json!(at))
        .with_extension("gate", serde_json::json!(gate))),
        ScanOutcome::Revoked => Err(ApiError::conflict(
            "revoked",
            "the ticket was refunded or cancelled",
        )
        .with_extension("ticket_id", serde_json::json!(claims.ticket_id))),
        ScanOutcome::Unknown => Err(ApiError::conflict(
            "unknown_ticket",
            "no such ticket for this event",
        )),
    }
}

/// Check a ticket in at the door (the event's organizer, its staff, admins).
/// Exactly one of any number of simultaneous scans of a ticket admits it; a
/// retry with the same `nonce` gets the same answer.
#[utoipa::path(post, path = "/v1/checkins", tag = "tickets", request_body = CheckinRequest, security(("bearer" = [])),
    responses(
        (status = 200, description = "`result: ok`: let them in", body = CheckinResult),
        (status = 403, description = "`forbidden`: the caller does not run the door of the code's event (or of `event_id`); nothing about the ticket is said", body = ProblemDoc, content_type = "application/problem+json"),
        (status = 409, description = "`already_checked_in` (with `checked_in_at` and `gate`), `revoked`, `wrong_event`, `unknown_ticket`", body = ProblemDoc, content_type = "application/problem+json"),
        (status = 422, description = "`invalid_signature`: forged or damaged code", body = ProblemDoc, content_type = "application/problem+json"),
    ))]
#[tracing::instrument(skip(state, caller, body))]
async fn checkin(
    State(state): State<AppState>,
    caller: Caller,
    Json(body): Json<CheckinRequest>,
) -> Result<axum::Json<CheckinResult>, ApiError> {
    let (gate, nonce) = body.validate()?;
    let claims = parse_code(&body.code)?;
    authorize_door(&state, &caller, door_event(body.event_id, &claims)).await?;
    let scan = DoorScan {
        code: &body.code,
        claims,
        event_id: body.event_id,
        gate,
        nonce,
        scanned_at: Utc::now(),
        earliest_wins: false,
    };
    let r = admit(&state, &caller, scan).await?;
    Ok(axum::Json(r))
}

/// Upload the scans an offline gate made. Each scan gets its own result; the
/// earliest scan of a ticket wins (also against scans already stored), and
/// the others are reported as conflicts.
#[utoipa::path(post, path = "/v1/checkins/batch", tag = "tickets", request_body = BatchRequest, security(("bearer" = [])),
    responses(
        (status = 200, description = "One result per scan, in the order sent", body = BatchResult),
        (status = 403, description = "`forbidden`: a scan is for an event whose door the caller does not run (or `event_id` is); no scan was applied", body = ProblemDoc, content_type = "application/problem+json"),
        (status = 422, description = "Invalid batch", body = ProblemDoc, content_type = "application/problem+json"),
    ))]
#[tracing::instrument(skip(state, caller, body))]
async fn checkin_batch(
    State(state): State<AppState>,
    caller: Caller,
    Json(body): Json<BatchRequest>,
) -> Result<axum::Json<BatchResult>, ApiError> {
    let gate = body.validate()?;
    // Every event the upload touches is authorized before any scan is
    // applied or anything about a ticket is said: one event the caller does
    // not run refuses the whole upload.
    let parsed: Vec<Option<tg_tickets::code::TicketClaims>> = body
        .scans
        .iter()
        .map(|s| parse_code(&s.code).ok())
        .collect();
    let mut events: Vec<Uuid> = match body.event_id {
        Some(e) => vec![e],
        None => parsed.iter().flatten().map(|c| c.event_id).collect(),
    };
    events.sort_unstable();
    events.dedup();
    for e in events {
        authorize_door(&state, &caller, e).await?;
    }
    // Earliest first, so within the upload the earliest scan wins too.
    let mut order: Vec<usize> = (0..body.scans.len()).collect();
    order.sort_by_key(|i| body.scans[*i].scanned_at);
    let mut results: Vec<Option<BatchItem>> = vec![None; body.scans.len()];
    let now = Utc::now();
    for i in order {
        let s = &body.scans[i];
        let at = s.scanned_at.with_timezone(&Utc).min(now);
        let Some(claims) = parsed[i] else {
            results[i] = Some(BatchItem::from_error(i, &invalid_code())?);
            continue;
        };
        let scan = DoorScan {
            code: &s.code,
            claims,
            event_id: body.event_id,
            gate: gate.clone(),
            nonce: s.nonce.clone(),
            scanned_at: at,
            earliest_wins: true,
        };
        let item = match admit(&state, &caller, scan).await {
            Ok(r) => BatchItem::from_ok(i, r),
            Err(e) => BatchItem::from_error(i, &e)?,
        };
        results[i] = Some(item);
    }
    Ok(axum::Json(BatchResult {
        items: results.into_iter().flatten().collect(),
    }))
}

/// Door numbers, live: checked in against sold, per ticket type and gate.
#[utoipa::path(get, path = "/v1/events/{id}/door", tag = "tickets",
    params(("id" = Uuid, Path, description = "Event id")), security(("bearer" = [])),
    responses(
        (status = 200, description = "The door numbers", body = DoorView),
        (status = 404, description = "No such event you run the door of", body = ProblemDoc, content_type = "application/problem+json"),
    ))]
async fn door(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<Uuid>,
) -> Result<axum::Json<DoorView>, ApiError> {
    if !at_the_door(&state, &caller, id).await? {
        return Err(ApiError::not_found("event"));
    }
    let e = state.store.get_event(id, Scope::All).await?;
    let counts = state.store.door_counts(id).await?;
    Ok(axum::Json(DoorView::new(&e, &counts)))
}

/// The event's public key for offline scanners (organizer, staff, admins).
#[utoipa::path(get, path = "/v1/events/{id}/ticket-key", tag = "tickets",
    params(("id" = Uuid, Path, description = "Event id")), security(("bearer" = [])),
    responses(
        (status = 200, description = "The Ed25519 public key that verifies the event's ticket codes", body = TicketKeyView),
        (status = 404, description = "No such event you run the door of; `no_ticket_key`: a draft (the key is made at publication)", body = ProblemDoc, content_type = "application/problem+json"),
    ))]
async fn ticket_key(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<Uuid>,
) -> Result<axum::Json<TicketKeyView>, ApiError> {
    if !at_the_door(&state, &caller, id).await? {
        return Err(ApiError::not_found("event"));
    }
    // Admins pass the door check for any id: the event must exist.
    state.store.get_event(id, Scope::All).await?;
    let key = state.store.event_public_key(id).await?.ok_or_else(|| {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "no_ticket_key",
            "the event has no ticket key yet: it is made when the event is published",
        )
    })?;
    Ok(axum::Json(TicketKeyView::new(id, &key)))
}

/// The event's door staff (its organizer, admins).
#[utoipa::path(get, path = "/v1/events/{id}/staff", tag = "tickets",
    params(("id" = Uuid, Path, description = "Event id")), security(("bearer" = [])),
    responses((status = 200, description = "Staff user ids", body = StaffList),
        (status = 404, description = "No such event of yours", body = ProblemDoc, content_type = "application/problem+json")))]
async fn list_staff(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<Uuid>,
) -> Result<axum::Json<StaffList>, ApiError> {
    caller.require(Role::Organizer)?;
    let items = state.store.list_staff(id, caller.scope()).await?;
    Ok(axum::Json(StaffList { items }))
}

/// Invite door staff: a user (by id) may then check in this event's tickets.
#[utoipa::path(post, path = "/v1/events/{id}/staff", tag = "tickets",
    params(("id" = Uuid, Path, description = "Event id")), request_body = StaffRequest, security(("bearer" = [])),
    responses((status = 201, description = "Added", body = StaffList),
        (status = 404, description = "No such event of yours, or no such user", body = ProblemDoc, content_type = "application/problem+json")))]
async fn add_staff(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<Uuid>,
    Json(body): Json<StaffRequest>,
) -> Result<Response, ApiError> {
    caller.require(Role::Organizer)?;
    state
        .store
        .add_staff(id, caller.scope(), body.user_id, caller.user_id)
        .await?;
    let items = state.store.list_staff(id, caller.scope()).await?;
    Ok((StatusCode::CREATED, axum::Json(StaffList { items })).into_response())
}

/// Remove door staff.
#[utoipa::path(delete, path = "/v1/events/{id}/staff/{user_id}", tag = "tickets",
    params(("id" = Uuid, Path, description = "Event id"), ("user_id" = Uuid, Path, description = "Staff user id")), security(("bearer" = [])),
    responses((status = 204, description = "Removed"),
        (status = 404, description = "No such event of yours, or not staff", body = ProblemDoc, content_type = "application/problem+json")))]
async fn remove_staff(
    State(state): State<AppState>,
    caller: Caller,
    Path((id, user_id)): Path<(Uuid, Uuid)>,
) -> Result<StatusCode, ApiError> {
    caller.require(Role::Organizer)?;
    if state
        .store
        .remove_staff(id, caller.scope(), user_id)
        .await?
    {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::not_found("staff member"))
    }
}
