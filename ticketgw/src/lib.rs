//! The local platform as a library, so tests and benchmarks start exactly
//! what `ticketgw` serves.

pub mod demo;

use std::net::IpAddr;
use std::path::PathBuf;

use axum::Router;
use tg_http::Secret;
use tg_platform::config::ConfigError;
use tg_platform::{AppState, Config, FunctionSpec, LogFormat, with_platform};

/// Every function the platform is made of, mounted together.
pub const FUNCTIONS: &[FunctionSpec] = &[catalog_query::FUNCTION, catalog_manage::FUNCTION];

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
    Ok(config)
}

/// Without `TICKETGW_ADMIN_TOKEN`, the local platform keeps a random admin
/// token in `<data dir>/admin-token` (created on first start, mode 0600) so
/// the catalog can be managed at once. Returns that file's path.
pub fn ensure_admin_token(config: &mut Config) -> anyhow::Result<Option<PathBuf>> {
    if config.admin_token.is_some() {
        return Ok(None);
    }
    let path = config.data_dir.join("admin-token");
    let token = match std::fs::read_to_string(&path) {
        Ok(t) if !t.trim().is_empty() => t.trim().to_string(),
        _ => {
            std::fs::create_dir_all(&config.data_dir)?;
            let token = format!(
                "tgw_{}{}",
                uuid::Uuid::new_v4().simple(),
                uuid::Uuid::new_v4().simple()
            );
            write_private(&path, &token)?;
            token
        }
    };
    config.admin_token = Some(Secret::new(token));
    Ok(Some(path))
}

#[cfg(unix)]
fn write_private(path: &std::path::Path, contents: &str) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)?;
    f.write_all(contents.as_bytes())
}

#[cfg(not(unix))]
fn write_private(path: &std::path::Path, contents: &str) -> std::io::Result<()> {
    std::fs::write(path, contents)
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
