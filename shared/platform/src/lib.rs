//! The function runtime every Ticket Gateway function shares.
//!
//! A function crate exposes a [`FunctionSpec`] (its name, `router(state)`
//! and OpenAPI document); its `main.rs` calls [`run_function`]. The runtime
//! reads typed configuration from the environment, opens storage, adds the
//! operational routes (`/healthz`, `/readyz`, `/metrics`, `/openapi.json`)
//! and the common layers (request ids, structured logs, metrics, body limit,
//! problem+json fallbacks), then serves on `$PORT` for Knative or through
//! `lambda_http` when `AWS_LAMBDA_RUNTIME_API` is set. Handlers never see
//! which.

pub mod config;
mod layers;
mod metrics_layer;
mod serve;
pub mod telemetry;

use std::sync::Arc;

use axum::Router;
use axum::extract::FromRef;
use tg_auth::Authenticator;
use tg_store::{ConnectOptions, DynStore};

pub use config::{Config, LogFormat};
pub use layers::{BODY_LIMIT_BYTES, with_platform};
pub use serve::{run_function, serve, shutdown_signal};

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    pub store: DynStore,
    pub auth: Arc<Authenticator>,
    pub config: Arc<Config>,
}

impl FromRef<AppState> for Arc<Authenticator> {
    fn from_ref(state: &AppState) -> Self {
        state.auth.clone()
    }
}

/// A function: one endpoint or a small group that scales together.
#[derive(Clone, Copy)]
pub struct FunctionSpec {
    pub name: &'static str,
    pub router: fn(AppState) -> Router,
    pub openapi: fn() -> utoipa::openapi::OpenApi,
}

/// Opens storage, applies migrations when configured to, and sets up the
/// authenticator (creating the admin-token principal when one is set).
pub async fn build_state(config: Config) -> anyhow::Result<AppState> {
    let store = tg_store::connect(
        config.database_url.expose(),
        &ConnectOptions {
            pool_size: config.pool_size,
        },
    )
    .await?;
    if config.migrate_on_start {
        store.migrate().await?;
    }
    let auth = match &config.admin_token {
        Some(token) => {
            let admin = store
                .upsert_user(&Authenticator::admin_principal("Platform admin"))
                .await?;
            Authenticator::with_admin_token(token.clone(), admin.id)
        }
        None => Authenticator::none(),
    };
    Ok(AppState {
        store,
        auth: Arc::new(auth),
        config: Arc::new(config),
    })
}
