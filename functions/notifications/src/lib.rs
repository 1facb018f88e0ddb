//! `notifications`: a CloudEvents consumer. Knative Eventing's Triggers
//! (or, without Knative, the dispatcher in `tg-events`) post events to
//! `POST /events` in binary or structured content mode; the Trigger's
//! dead-letter sink is `POST /deadletters`. The same handler runs in
//! process inside the local platform and behind Lambda's SQS trigger
//! (`main.rs`).
//!
//! On `booking.confirmed` the buyer gets the tickets by email (QR codes
//! inline, a PDF per ticket attached) and, when they opted in and have a
//! phone number, an SMS; cancellations, expiries, refunds and cancelled
//! events get their own emails (a cancelled event fans out to every ticket
//! holder); `account.verification_requested` and
//! `account.password_reset_requested` mail the link their data carries to
//! the address it names; disputes, dead letters and `ops.alert` events go to the
//! operators' Telegram chat. A redelivered event never sends twice: every
//! message is claimed in the notification log on the CloudEvent's `source`
//! and `id`, the channel and the recipient. Each recipient gets at most
//! `TICKETGW_NOTIFY_DAILY_CAP` messages a day per channel.
//!
//! Answers: `200` handled (or deliberately ignored), `422` malformed (not
//! retried: Knative and the dispatcher dead-letter it), `503` try again
//! later (the broker retries with backoff).

pub mod channels;
pub mod config;
pub mod notifier;
pub mod render;

use std::sync::Arc;

use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use tg_events::{CloudEvent, DeliveryError};
use tg_http::{ApiError, ProblemDoc};
use tg_platform::{AppState, FunctionSpec};
use utoipa::OpenApi;

pub use config::NotifyConfig;
pub use notifier::{DeadLetterSink, Notifier, NotifierSink, Report};

pub const FUNCTION: FunctionSpec = FunctionSpec {
    name: "notifications",
    router,
    openapi,
};

/// The function's router, its settings read from the environment. Start-up
/// (`main.rs`) has already checked them.
pub fn router(state: AppState) -> Router {
    let config =
        NotifyConfig::from_env(&state.config).expect("notification settings were checked at start");
    let notifier = Notifier::new(state.store.clone(), config)
        .expect("notification settings were checked at start");
    router_with(Arc::new(notifier))
}

/// The router over a given notifier (tests, the local platform).
pub fn router_with(notifier: Arc<Notifier>) -> Router {
    Router::new()
        .route("/events", post(receive))
        .route("/deadletters", post(dead_letter))
        .with_state(notifier)
}

#[derive(OpenApi)]
#[openapi(
    paths(receive, dead_letter),
    components(schemas(ProblemDoc)),
    tags((name = "notifications", description = "CloudEvents consumer (cluster-internal: Knative Triggers and the dispatcher post here)"))
)]
struct ApiDoc;

pub fn openapi() -> utoipa::openapi::OpenApi {
    ApiDoc::openapi()
}

fn reply(
    r: Result<Report, DeliveryError>,
    ok: StatusCode,
) -> Result<(StatusCode, Json<Report>), ApiError> {
    match r {
        Ok(report) => Ok((ok, Json(report))),
        Err(DeliveryError::Permanent(m)) => Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "event_rejected",
            m,
        )),
        Err(DeliveryError::Retryable(m)) => {
            Err(
                ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "retry_later", m).with_header(
                    axum::http::header::RETRY_AFTER,
                    axum::http::HeaderValue::from_static("5"),
                ),
            )
        }
    }
}

/// Receives one CloudEvent (binary or structured content mode).
#[utoipa::path(post, path = "/events", tag = "notifications",
    request_body(content = serde_json::Value, description = "A CloudEvent: binary mode (`ce-*` headers, JSON data) or structured mode (`application/cloudevents+json`)"),
    responses(
        (status = 200, description = "Handled: messages sent, duplicates absorbed, skipped"),
        (status = 400, description = "Not a CloudEvent", body = ProblemDoc, content_type = "application/problem+json"),
        (status = 422, description = "`event_rejected`: its data is unusable (dead-lettered, not retried)", body = ProblemDoc, content_type = "application/problem+json"),
        (status = 503, description = "`retry_later`: a channel or the database failed; deliver again", body = ProblemDoc, content_type = "application/problem+json"),
    ))]
async fn receive(
    State(n): State<Arc<Notifier>>,
    event: CloudEvent,
) -> Result<(StatusCode, Json<Report>), ApiError> {
    reply(
        detached(async move { n.handle(&event).await }).await,
        StatusCode::OK,
    )
}

/// Runs the handling to its end even if the caller hangs up: a send cut
/// off halfway would leave its claim in the log until the lease ends, and
/// every redelivery until then would be told to come back later.
async fn detached<F>(work: F) -> Result<Report, DeliveryError>
where
    F: std::future::Future<Output = Result<Report, DeliveryError>> + Send + 'static,
{
    tokio::spawn(work)
        .await
        .unwrap_or_else(|e| Err(DeliveryError::Retryable(format!("handler failed: {e}"))))
}

/// The dead-letter sink: an event the broker gave up on; alerts the operators.
#[utoipa::path(post, path = "/deadletters", tag = "notifications",
    request_body(content = serde_json::Value, description = "The dead-lettered CloudEvent, with Knative's `knativeerror*` extensions"),
    responses(
        (status = 202, description = "Alert sent (or logged when no Telegram chat is configured)"),
        (status = 400, description = "Not a CloudEvent", body = ProblemDoc, content_type = "application/problem+json"),
        (status = 503, description = "The alert could not be sent; deliver again", body = ProblemDoc, content_type = "application/problem+json"),
    ))]
async fn dead_letter(
    State(n): State<Arc<Notifier>>,
    event: CloudEvent,
) -> Result<(StatusCode, Json<Report>), ApiError> {
    reply(
        detached(async move { n.dead_letter(&event).await }).await,
        StatusCode::ACCEPTED,
    )
}
