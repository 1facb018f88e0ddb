//! `booking-expiry`: the worker that gives lapsed holds back to sale.
//!
//! It is triggered by a schedule: in Kubernetes a Knative `PingSource`
//! posts a CloudEvent to `POST /` every minute (the Service is
//! cluster-local); in the local platform a timer calls [`sweep`]. A sweep is
//! idempotent and safe with many instances at once: each batch takes its
//! rows with `FOR UPDATE SKIP LOCKED` on PostgreSQL (SQLite serialises
//! writers), so two workers never release the same hold. Reads never wait
//! for it: a lapsed hold already does not count as held.

use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::State;
use axum::routing::post;
use chrono::{TimeDelta, Utc};
use serde::Serialize;
use tg_http::{ApiError, ProblemDoc};
use tg_platform::{AppState, FunctionSpec, Scheduler, SchedulerAuth};
use tg_store::DynStore;
use utoipa::{OpenApi, ToSchema};

pub const FUNCTION: FunctionSpec = FunctionSpec {
    name: "booking-expiry",
    router,
    openapi,
};

/// Holds released per transaction.
const BATCH: u32 = 500;
/// A sweep stops after this long and leaves the rest to the next tick.
const BUDGET: Duration = Duration::from_secs(20);
/// Rate-limit windows and failed-login records older than this are deleted.
const COUNTER_RETENTION: TimeDelta = TimeDelta::days(1);
/// Published outbox rows are kept this long (replay, audits).
const OUTBOX_RETENTION: TimeDelta = TimeDelta::days(7);
/// The notification log (exactly-once records) is kept this long.
const NOTIFICATION_RETENTION: TimeDelta = TimeDelta::days(30);

pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/", post(tick))
        .route("/v1/internal/expire-holds", post(tick))
        .with_state(state)
}

#[derive(OpenApi)]
#[openapi(
    paths(tick),
    modifiers(&SchedulerAuth),
    components(schemas(SweepReport, ProblemDoc)),
    tags((name = "booking-expiry", description = "Scheduled release of lapsed holds (cluster-internal)"))
)]
struct ApiDoc;

pub fn openapi() -> utoipa::openapi::OpenApi {
    ApiDoc::openapi()
}

/// What one sweep did.
#[derive(Debug, Clone, Default, Serialize, ToSchema)]
pub struct SweepReport {
    /// Holds released (now `expired`, their tickets back on sale).
    pub expired: usize,
    /// Old rate-limit, failed-login and idempotency records, published
    /// outbox rows, notification records, expired account tokens and
    /// authorization codes deleted.
    pub pruned: u64,
    /// True when the time budget ran out with work left.
    pub incomplete: bool,
}

/// Releases every lapsed hold (in batches, within a time budget) and prunes
/// old records.
pub async fn sweep(store: &DynStore) -> Result<SweepReport, tg_store::StoreError> {
    let started = Instant::now();
    let mut report = SweepReport::default();
    loop {
        let released = store.expire_holds(Utc::now(), BATCH).await?;
        report.expired += released.len();
        if released.len() < BATCH as usize {
            break;
        }
        if started.elapsed() > BUDGET {
            report.incomplete = true;
            break;
        }
    }
    let now = Utc::now();
    report.pruned += store.prune_counters(now - COUNTER_RETENTION).await?;
    report.pruned += store.idempotency_prune(now).await?;
    // Published outbox rows and the notification log outlive any
    // redelivery by far after a week and a month.
    report.pruned += store.outbox_prune(now - OUTBOX_RETENTION).await?;
    report.pruned += store
        .notification_prune(now - NOTIFICATION_RETENTION)
        .await?;
    // Account tokens and authorization codes a day after they expired
    // (a spent code stays recognisable as replayed until then).
    report.pruned += store
        .prune_account_tokens(now - chrono::Duration::days(1))
        .await?;
    if report.expired > 0 || report.pruned > 0 {
        tracing::info!(
            expired = report.expired,
            pruned = report.pruned,
            incomplete = report.incomplete,
            "sweep done"
        );
    }
    Ok(report)
}

/// Run one sweep (the schedule's trigger; any body, e.g. a CloudEvent from
/// a Knative PingSource, is accepted and ignored).
#[utoipa::path(
    post,
    path = "/",
    tag = "booking-expiry",
    security(("scheduler" = [])),
    responses(
        (status = 200, description = "What the sweep did", body = SweepReport),
        (status = 401, description = "Missing or wrong scheduler token: nothing ran", body = ProblemDoc, content_type = "application/problem+json"),
        (status = 503, description = "Storage unavailable", body = ProblemDoc, content_type = "application/problem+json"),
    )
)]
async fn tick(
    _: Scheduler,
    State(state): State<AppState>,
) -> Result<axum::Json<SweepReport>, ApiError> {
    Ok(axum::Json(sweep(&state.store).await?))
}

/// Runs [`sweep`] every `every` until the process ends (the local
/// platform's timer).
pub async fn run_timer(store: DynStore, every: Duration) {
    tg_platform::every(every, "expiry sweep", || {
        let store = store.clone();
        async move { sweep(&store).await.map(|_| ()) }
    })
    .await
}
