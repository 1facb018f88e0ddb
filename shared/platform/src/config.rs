//! Typed configuration from environment variables. Secrets are wrapped in
//! [`Secret`] so `Debug` (and therefore logs) never print them.

use std::net::IpAddr;
use std::path::PathBuf;

use tg_http::Secret;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// One JSON object per line (Loki, CloudWatch).
    Json,
    /// Human-readable, for a terminal.
    Pretty,
}

#[derive(Debug, Clone)]
pub struct Config {
    /// `PORT` (default 8080).
    pub port: u16,
    /// `TICKETGW_BIND` (default `0.0.0.0` for functions; the local platform
    /// passes `127.0.0.1`).
    pub bind: IpAddr,
    /// `TICKETGW_DATA_DIR` (default `./data`): SQLite file, keys, mail.
    pub data_dir: PathBuf,
    /// `DATABASE_URL` (default `sqlite://<data dir>/ticketgw.db`).
    pub database_url: Secret<String>,
    /// `TICKETGW_DB_POOL_SIZE` (default 5): connections per instance.
    pub pool_size: u32,
    /// `TICKETGW_ADMIN_TOKEN`: bearer token of the platform admin.
    pub admin_token: Option<Secret<String>>,
    /// `TICKETGW_LOG_FORMAT`: `json` (default) or `pretty`.
    pub log_format: LogFormat,
    /// `TICKETGW_MIGRATE_ON_START` (default true).
    pub migrate_on_start: bool,
}

#[derive(Debug, thiserror::Error)]
#[error("invalid configuration: {var}: {message}")]
pub struct ConfigError {
    pub var: &'static str,
    pub message: String,
}

impl Config {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|k| std::env::var(k).ok())
    }

    /// Builds the configuration from any key lookup (tests pass a map).
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let get = |k: &str| get(k).filter(|v| !v.trim().is_empty());
        let parse_err = |var: &'static str, message: String| ConfigError { var, message };
        let port = match get("PORT") {
            Some(p) => p
                .parse()
                .map_err(|_| parse_err("PORT", format!("`{p}` is not a port number")))?,
            None => 8080,
        };
        let bind = match get("TICKETGW_BIND") {
            Some(b) => b
                .parse()
                .map_err(|_| parse_err("TICKETGW_BIND", format!("`{b}` is not an IP address")))?,
            None => IpAddr::from([0, 0, 0, 0]),
        };
        let data_dir = PathBuf::from(get("TICKETGW_DATA_DIR").unwrap_or_else(|| "./data".into()));
        let database_url = get("DATABASE_URL")
            .unwrap_or_else(|| format!("sqlite://{}/ticketgw.db", data_dir.display()));
        if !(database_url.starts_with("postgres://")
            || database_url.starts_with("postgresql://")
            || database_url.starts_with("sqlite:"))
        {
            return Err(parse_err(
                "DATABASE_URL",
                "must start with postgres://, postgresql:// or sqlite:".into(),
            ));
        }
        let pool_size = match get("TICKETGW_DB_POOL_SIZE") {
            Some(n) => n
                .parse()
                .ok()
                .filter(|n| (1..=100).contains(n))
                .ok_or_else(|| parse_err("TICKETGW_DB_POOL_SIZE", "must be 1 to 100".into()))?,
            None => 5,
        };
        let log_format = match get("TICKETGW_LOG_FORMAT").as_deref() {
            None | Some("json") => LogFormat::Json,
            Some("pretty") | Some("text") => LogFormat::Pretty,
            Some(other) => {
                return Err(parse_err(
                    "TICKETGW_LOG_FORMAT",
                    format!("`{other}`: expected json or pretty"),
                ));
            }
        };
        let migrate_on_start = parse_bool(get("TICKETGW_MIGRATE_ON_START"), true)
            .map_err(|m| parse_err("TICKETGW_MIGRATE_ON_START", m))?;
        Ok(Config {
            port,
            bind,
            data_dir,
            database_url: Secret::new(database_url),
            pool_size,
            admin_token: get("TICKETGW_ADMIN_TOKEN").map(Secret::new),
            log_format,
            migrate_on_start,
        })
    }
}

pub fn parse_bool(v: Option<String>, default: bool) -> Result<bool, String> {
    match v.as_deref().map(str::to_ascii_lowercase).as_deref() {
        None => Ok(default),
        Some("1" | "true" | "yes" | "on") => Ok(true),
        Some("0" | "false" | "no" | "off") => Ok(false),
        Some(other) => Err(format!("`{other}` is not a boolean")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn cfg(pairs: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Config::from_lookup(|k| map.get(k).cloned())
    }

    #[test]
    fn defaults() {
        let c = cfg(&[]).expect("defaults are valid");
        assert_eq!(c.port, 8080);
        assert_eq!(c.database_url.expose(), "sqlite://./data/ticketgw.db");
        assert!(c.migrate_on_start);
        assert!(c.admin_token.is_none());
    }

    #[test]
    fn secrets_are_redacted_in_debug() {
        let c = cfg(&[
            ("DATABASE_URL", "postgres://u:pw-123@db/x"),
            ("TICKETGW_ADMIN_TOKEN", "tok-456"),
        ])
        .expect("valid");
        let dbg = format!("{c:?}");
        assert!(!dbg.contains("pw-123"));
        assert!(!dbg.contains("tok-456"));
    }

    #[test]
    fn bad_values_name_the_variable() {
        assert_eq!(cfg(&[("PORT", "http")]).unwrap_err().var, "PORT");
        assert_eq!(
            cfg(&[("DATABASE_URL", "mysql://x")]).unwrap_err().var,
            "DATABASE_URL"
        );
        assert_eq!(
            cfg(&[("TICKETGW_DB_POOL_SIZE", "0")]).unwrap_err().var,
            "TICKETGW_DB_POOL_SIZE"
        );
    }
}
