//! The local platform as a library, so tests and benchmarks start exactly
//! what `ticketgw` serves.

pub mod demo;

use std::net::IpAddr;

use axum::Router;
use tg_platform::config::ConfigError;
use tg_platform::{AppState, Config, FunctionSpec, LogFormat, with_platform};

/// Every function the platform is made of, mounted together.
pub const FUNCTIONS: &[FunctionSpec] = &[
    identity::FUNCTION,
    accounts::FUNCTION,
    admin::FUNCTION,
    catalog_query::FUNCTION,
    catalog_manage::FUNCTION,
    bookings::FUNCTION,
    payments::FUNCTION,
    tickets::FUNCTION,
];

/// The local platform's configuration: the functions' configuration with
/// local defaults (listen on 127.0.0.1, human-readable logs).
pub fn local_config(get: impl Fn(&str) -> Option<String>) -> Result<Config, ConfigError> {
    let mut config = Config::from_lookup(&get)?;
    if get("TICKETGW_BIND").is_none() {
        config.bind = IpAddr::from([127, 0, 0, 1]);
    }
    if get("TICKETGW_LOG_FORMAT").is_none() {
        config.log_format = LogFormat::Pretty;
    }
    // The local platform pays with the simulated provider unless told otherwise.
    if get("TICKETGW_PAYMENT_PROVIDER").is_none() && get("TICKETGW_STRIPE_API_KEY").is_none() {
        config.payments = tg_platform::config::PaymentsConfig::Simulated;
    }
    Ok(config)
}

/// The merged OpenAPI 3.1 document of every function.
pub fn openapi() -> utoipa::openapi::OpenApi {
    let mut doc = utoipa::openapi::OpenApiBuilder::new()
        .info(
            utoipa::openapi::InfoBuilder::new()
                .title("Ticket Gateway")
                .version(env!("CARGO_PKG_VERSION"))
                .description(Some(
                    "Event ticketing platform: the HTTP contract of every function.",
                ))
                .build(),
        )
        .build();
    for f in FUNCTIONS {
        doc.merge((f.openapi)());
    }
    doc
}

/// Every function's routes plus the platform routes and layers.
pub fn app(state: &AppState) -> Router {
    let routes = FUNCTIONS
        .iter()
        .fold(Router::new(), |r, f| r.merge((f.router)(state.clone())));
    with_platform(routes, state, openapi())
}
