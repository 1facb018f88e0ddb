//! `payments-reconcile`: a lost webhook must never strand a buyer. On a
//! schedule (a Knative PingSource posting to `POST /` every minute; a timer
//! in the local platform) it asks the provider about every payment still
//! open after `TICKETGW_RECONCILE_AFTER_SECS` and applies the answer exactly
//! as a webhook would (one synthetic event per observed state, so repeated
//! passes are no-ops), and retries refunds the provider did not answer.

use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::routing::post;
use payments::flow::{self, ReconcileReport};
use tg_http::{ApiError, ProblemDoc};
use tg_platform::{AppState, FunctionSpec, Scheduler, SchedulerAuth};
use utoipa::OpenApi;

pub const FUNCTION: FunctionSpec = FunctionSpec {
    name: "payments-reconcile",
    router,
    openapi,
};

/// Payments looked at per pass.
const BATCH: u32 = 200;

pub fn router(state: AppState) -> Router {
    Router::new().route("/", post(tick)).with_state(state)
}

#[derive(OpenApi)]
#[openapi(
    paths(tick),
    modifiers(&SchedulerAuth),
    components(schemas(ReconcileReport, ProblemDoc)),
    tags((name = "payments-reconcile", description = "Scheduled reconciliation with the payment provider (cluster-internal)"))
)]
struct ApiDoc;

pub fn openapi() -> utoipa::openapi::OpenApi {
    ApiDoc::openapi()
}

/// One reconciliation pass.
pub async fn pass(state: &AppState) -> Result<ReconcileReport, ApiError> {
    let Some(provider) = &state.payments else {
        return Ok(ReconcileReport::default());
    };
    let after = chrono::Duration::seconds(i64::from(state.config.reconcile_after_secs));
    let report = flow::reconcile(&state.store, provider.as_ref(), after, BATCH).await?;
    if report.checked > 0 || report.refunds_retried > 0 {
        tracing::info!(
            checked = report.checked,
            updated = report.updated,
            refunds_retried = report.refunds_retried,
            errors = report.errors,
            "reconciliation pass"
        );
    }
    Ok(report)
}

/// Run one pass (the schedule's trigger; the CloudEvent body is ignored).
#[utoipa::path(
    post,
    path = "/",
    tag = "payments-reconcile",
    security(("scheduler" = [])),
    responses(
        (status = 200, description = "What the pass did", body = ReconcileReport),
        (status = 401, description = "Missing or wrong scheduler token: nothing ran", body = ProblemDoc, content_type = "application/problem+json"),
        (status = 503, description = "Storage unavailable", body = ProblemDoc, content_type = "application/problem+json"),
    )
)]
async fn tick(
    _: Scheduler,
    State(state): State<AppState>,
) -> Result<axum::Json<ReconcileReport>, ApiError> {
    Ok(axum::Json(pass(&state).await?))
}

/// Runs [`pass`] every `every` (the local platform's timer).
pub async fn run_timer(state: AppState, every: Duration) {
    tg_platform::every(every, "reconciliation pass", || {
        let state = state.clone();
        async move { pass(&state).await.map(|_| ()) }
    })
    .await
}
