//! `outbox-relay`: publishes the transactional outbox (see `tg_events::relay`).
//! A long-running worker (a Deployment in Kubernetes, any number of
//! replicas: claims use `SKIP LOCKED` and leases); its HTTP side serves only
//! the platform routes (`/healthz`, `/readyz`, `/metrics`).

use std::time::Duration;

use axum::Router;
use tg_events::{Relay, RelayConfig, RelayTarget};
use tg_platform::{AppState, FunctionSpec};
use utoipa::OpenApi;

pub const FUNCTION: FunctionSpec = FunctionSpec {
    name: "outbox-relay",
    router,
    openapi,
};

pub fn router(_state: AppState) -> Router {
    Router::new()
}

#[derive(OpenApi)]
#[openapi(tags((name = "outbox-relay", description = "Outbox relay worker (no API of its own)")))]
struct ApiDoc;

pub fn openapi() -> utoipa::openapi::OpenApi {
    ApiDoc::openapi()
}

/// The relay configured from the environment (`TICKETGW_RELAY_TARGET`:
/// `amqp` by default here).
pub fn relay_from_env(state: &AppState) -> anyhow::Result<Relay> {
    let get = |k: &str| std::env::var(k).ok();
    let target = RelayTarget::from_lookup(get, "amqp")?;
    let config = RelayConfig::from_lookup(get)?;
    Ok(Relay::new(
        state.store.clone(),
        target.publisher(None)?,
        config,
    ))
}

/// Runs the relay and the outbox gauges until `stop`.
pub async fn run(relay: Relay, state: AppState, stop: impl std::future::Future<Output = ()>) {
    let stats = tokio::spawn(tg_events::relay::report_stats(
        state.store.clone(),
        Duration::from_secs(5),
    ));
    relay.run(stop).await;
    stats.abort();
}
