//! Typed configuration from environment variables. Secrets are wrapped in
//! [`Secret`] so `Debug` (and therefore logs) never print them.

use std::net::IpAddr;
use std::path::PathBuf;

use tg_http::Secret;

use crate::captcha::CaptchaConfig;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// One JSON object per line (Loki, CloudWatch).
    Json,
    /// Human-readable, for a terminal.
    Pretty,
}

/// Which payment provider checkout uses.
#[derive(Debug, Clone)]
pub enum PaymentsConfig {
    /// No provider: checkout answers 503 `payments_unavailable`.
    Off,
    /// The simulated provider (local platform, demos). Never in production.
    Simulated,
    /// Stripe PaymentIntents.
    Stripe(tg_payments::stripe::StripeConfig),
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
    /// `TICKETGW_PUBLIC_URL`: the platform's public base URL, also the
    /// built-in identity provider's issuer (default
    /// `http://127.0.0.1:<PORT>`).
    pub public_url: String,
    /// `TICKETGW_WEB_URL` (default `http://localhost:3000`): the web app's
    /// public URL. The built-in provider registers the OIDC client
    /// `ticketgw-web` with `<web>/auth/callback` and links account mails
    /// and its sign-in page to the web app's pages.
    pub web_url: String,
    /// `TICKETGW_BUILTIN_IDP` (default true): trust (and, in the identity
    /// function, run) the built-in identity provider.
    pub builtin_idp: bool,
    /// An external OpenID Connect issuer such as Keycloak.
    pub oidc: Option<OidcConfig>,
    /// `TICKETGW_ADMIN_EMAIL` + `TICKETGW_ADMIN_PASSWORD`: the first admin,
    /// created (or promoted) at start.
    pub admin: Option<(String, Secret<String>)>,
    /// `TICKETGW_RECAPTCHA_SECRET` (+ `_VERIFY_URL`, `_MIN_SCORE`,
    /// `_HOSTNAMES`): server-side CAPTCHA checks on register and login.
    pub captcha: Option<CaptchaConfig>,
    /// `TICKETGW_RECAPTCHA_ON_BOOKINGS` (default false).
    pub captcha_on_bookings: bool,
    /// `TICKETGW_MAX_HELD_PER_USER` (default 10): tickets one buyer may
    /// hold unpaid per event at once.
    pub max_held_per_user: u32,
    /// `TICKETGW_HOLD_RATE_PER_IP` (default 60 per minute, `0` = off):
    /// hold attempts per client address.
    pub hold_rate_per_ip: u32,
    /// `TICKETGW_BOOKING_MAX_INFLIGHT` (default 64): hold requests one
    /// instance works on at once; beyond that it answers 503 with
    /// `Retry-After` at once instead of queueing (load shedding).
    pub booking_max_inflight: u32,
    /// `TICKETGW_EXPIRY_INTERVAL_SECS` (default 15, local platform): how
    /// often the in-process expiry worker sweeps lapsed holds.
    pub expiry_interval_secs: u32,
    /// `TICKETGW_PAYMENT_PROVIDER`: `stripe` (needs `TICKETGW_STRIPE_API_KEY`
    /// and `TICKETGW_STRIPE_WEBHOOK_SECRETS`, comma-separated for rotation;
    /// `TICKETGW_STRIPE_BASE_URL` for tests), `simulated`, or `off`.
    /// Default: `stripe` when a Stripe key is set, otherwise `off` (the local
    /// platform defaults to `simulated`).
    pub payments: PaymentsConfig,
    /// `TICKETGW_RECONCILE_AFTER_SECS` (default 300): a payment still open
    /// this long is checked with the provider (a lost webhook never strands
    /// a buyer); pending refunds are retried after the same time.
    pub reconcile_after_secs: u32,
    /// `TICKETGW_AUTH_RATE_PER_IP` (default 30 per minute).
    pub auth_rate_per_ip: u32,
    /// `TICKETGW_AUTH_RATE_PER_ACCOUNT` (default 10 per minute).
    pub auth_rate_per_account: u32,
    /// `TICKETGW_CATALOG_CACHE_MS` (default 500, 0 = off): how long a
    /// published event's rendered view may be served from memory. Writes in
    /// the same process invalidate at once.
    pub catalog_cache_ms: u64,
    /// `TICKETGW_TRUST_FORWARDED` (default false): take the client address
    /// from `X-Forwarded-For` (behind Knative's ingress), counting from the
    /// right as the two settings below say (see `client_ip`).
    pub trust_forwarded: bool,
    /// `TICKETGW_TRUSTED_PROXY_HOPS` (default 1): proxies in front, each
    /// appending one `X-Forwarded-For` entry; used when no networks are set.
    pub trusted_proxy_hops: u32,
    /// `TICKETGW_TRUSTED_PROXIES`: comma-separated CIDRs of the proxies
    /// (e.g. the pod network and loopback); when set, entries are skipped
    /// from the right while they are inside these networks.
    pub trusted_proxies: Vec<crate::client_ip::Cidr>,
    /// `TICKETGW_SCHEDULER_TOKEN`: the shared secret the scheduler (a
    /// Knative PingSource, a cron job) presents to the scheduled entry
    /// points (`ce-schedulertoken` or `X-Scheduler-Token`); at least 32
    /// characters. Unset: those routes answer 401 to everyone.
    pub scheduler_token: Option<Secret<String>>,
    /// `TICKETGW_PASSWORD_HASHING` (default 2): argon2 hashes computed at
    /// once per process (each holds a 19 MiB buffer from a pool of this
    /// many); further logins wait their turn.
    pub password_hashing: u32,
    /// `TICKETGW_LOG_FORMAT`: `json` (default) or `pretty`.
    pub log_format: LogFormat,
    /// `TICKETGW_MIGRATE_ON_START` (default true).
    pub migrate_on_start: bool,
}

/// An external OpenID Connect provider (Keycloak in production).
#[derive(Debug, Clone)]
pub struct OidcConfig {
    /// `TICKETGW_OIDC_ISSUER`, e.g. `https://sso.example.com/realms/ticketgw`.
    pub issuer: String,
    /// `TICKETGW_OIDC_AUDIENCE` (comma-separated, default `ticketgw`).
    pub audiences: Vec<String>,
    /// `TICKETGW_OIDC_JWKS_URL`: skip discovery and use this JWKS.
    pub jwks_url: Option<String>,
    /// `TICKETGW_OIDC_CLIENT_ID`: also read `resource_access.<id>.roles`.
    pub client_id: Option<String>,
    /// `TICKETGW_OIDC_ROLE_USER` / `_ORGANIZER` / `_ADMIN`: role names in
    /// the provider (default `user`, `organizer`, `admin`).
    pub role_names: [String; 3],
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
        let flag = |var: &'static str, default: bool| {
            parse_bool(get(var), default).map_err(|m| parse_err(var, m))
        };
        let number = |var: &'static str, default: u32| match get(var) {
            None => Ok(default),
            Some(v) => v
                .parse::<u32>()
                .ok()
                .filter(|n| *n > 0)
                .ok_or_else(|| parse_err(var, format!("`{v}` is not a positive number"))),
        };
        let public_url = get("TICKETGW_PUBLIC_URL")
            .map(|u| u.trim_end_matches('/').to_string())
            .unwrap_or_else(|| format!("http://127.0.0.1:{port}"));
        if !(public_url.starts_with("http://") || public_url.starts_with("https://")) {
            return Err(parse_err(
                "TICKETGW_PUBLIC_URL",
                "must be an http(s) URL".into(),
            ));
        }
        let web_url = get("TICKETGW_WEB_URL")
            .map(|u| u.trim_end_matches('/').to_string())
            .unwrap_or_else(|| "http://localhost:3000".into());
        if !(web_url.starts_with("http://") || web_url.starts_with("https://"))
            || web_url.contains(['?', '#'])
        {
            return Err(parse_err(
                "TICKETGW_WEB_URL",
                "must be an http(s) URL without query or fragment".into(),
            ));
        }
        let oidc = get("TICKETGW_OIDC_ISSUER").map(|issuer| OidcConfig {
            issuer: issuer.trim_end_matches('/').to_string(),
            audiences: get("TICKETGW_OIDC_AUDIENCE")
                .unwrap_or_else(|| "ticketgw".into())
                .split(',')
                .map(|a| a.trim().to_string())
                .filter(|a| !a.is_empty())
                .collect(),
            jwks_url: get("TICKETGW_OIDC_JWKS_URL"),
            client_id: get("TICKETGW_OIDC_CLIENT_ID"),
            role_names: [
                get("TICKETGW_OIDC_ROLE_USER").unwrap_or_else(|| "user".into()),
                get("TICKETGW_OIDC_ROLE_ORGANIZER").unwrap_or_else(|| "organizer".into()),
                get("TICKETGW_OIDC_ROLE_ADMIN").unwrap_or_else(|| "admin".into()),
            ],
        });
        let admin = match (get("TICKETGW_ADMIN_EMAIL"), get("TICKETGW_ADMIN_PASSWORD")) {
            (Some(e), Some(p)) => Some((e, Secret::new(p))),
            (None, None) => None,
            _ => {
                return Err(parse_err(
                    "TICKETGW_ADMIN_EMAIL",
                    "set both TICKETGW_ADMIN_EMAIL and TICKETGW_ADMIN_PASSWORD, or neither".into(),
                ));
            }
        };
        let captcha = match get("TICKETGW_RECAPTCHA_SECRET") {
            None => None,
            Some(secret) => Some(CaptchaConfig {
                secret: Secret::new(secret),
                verify_url: get("TICKETGW_RECAPTCHA_VERIFY_URL")
                    .unwrap_or_else(|| "https://www.google.com/recaptcha/api/siteverify".into()),
                min_score: match get("TICKETGW_RECAPTCHA_MIN_SCORE") {
                    None => 0.5,
                    Some(v) => v
                        .parse::<f64>()
                        .ok()
                        .filter(|s| (0.0..=1.0).contains(s))
                        .ok_or_else(|| {
                            parse_err("TICKETGW_RECAPTCHA_MIN_SCORE", "must be 0.0 to 1.0".into())
                        })?,
                },
                hostnames: get("TICKETGW_RECAPTCHA_HOSTNAMES")
                    .map(|h| {
                        h.split(',')
                            .map(|s| s.trim().to_string())
                            .filter(|s| !s.is_empty())
                            .collect()
                    })
                    .unwrap_or_default(),
            }),
        };
        let stripe_key = get("TICKETGW_STRIPE_API_KEY");
        let payments = match get("TICKETGW_PAYMENT_PROVIDER").as_deref() {
            Some("off") | Some("none") => PaymentsConfig::Off,
            Some("simulated") => PaymentsConfig::Simulated,
            None if stripe_key.is_none() => PaymentsConfig::Off,
            Some("stripe") | None => {
                let api_key = stripe_key.ok_or_else(|| {
                    parse_err(
                        "TICKETGW_STRIPE_API_KEY",
                        "is required for the stripe provider".into(),
                    )
                })?;
                let webhook_secrets: Vec<Secret<String>> = get("TICKETGW_STRIPE_WEBHOOK_SECRETS")
                    .unwrap_or_default()
                    .split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(|s| Secret::new(s.to_string()))
                    .collect();
                if webhook_secrets.is_empty() {
                    return Err(parse_err(
                        "TICKETGW_STRIPE_WEBHOOK_SECRETS",
                        "name at least one webhook signing secret (whsec_...)".into(),
                    ));
                }
                PaymentsConfig::Stripe(tg_payments::stripe::StripeConfig {
                    api_key: Secret::new(api_key),
                    webhook_secrets,
                    base_url: get("TICKETGW_STRIPE_BASE_URL")
                        .unwrap_or_else(|| tg_payments::stripe::DEFAULT_BASE_URL.into()),
                })
            }
            Some(other) => {
                return Err(parse_err(
                    "TICKETGW_PAYMENT_PROVIDER",
                    format!("`{other}`: expected stripe, simulated or off"),
                ));
            }
        };
        Ok(Config {
            payments,
            reconcile_after_secs: number("TICKETGW_RECONCILE_AFTER_SECS", 300)?,
            port,
            bind,
            data_dir,
            database_url: Secret::new(database_url),
            pool_size,
            public_url,
            web_url,
            builtin_idp: flag("TICKETGW_BUILTIN_IDP", true)?,
            oidc,
            admin,
            captcha,
            captcha_on_bookings: flag("TICKETGW_RECAPTCHA_ON_BOOKINGS", false)?,
            max_held_per_user: number("TICKETGW_MAX_HELD_PER_USER", 10)?,
            hold_rate_per_ip: match get("TICKETGW_HOLD_RATE_PER_IP") {
                None => 60,
                Some(v) => v.parse::<u32>().map_err(|_| {
                    parse_err(
                        "TICKETGW_HOLD_RATE_PER_IP",
                        format!("`{v}` is not a number"),
                    )
                })?,
            },
            booking_max_inflight: number("TICKETGW_BOOKING_MAX_INFLIGHT", 64)?,
            expiry_interval_secs: number("TICKETGW_EXPIRY_INTERVAL_SECS", 15)?,
            auth_rate_per_ip: number("TICKETGW_AUTH_RATE_PER_IP", 30)?,
            auth_rate_per_account: number("TICKETGW_AUTH_RATE_PER_ACCOUNT", 10)?,
            trust_forwarded: flag("TICKETGW_TRUST_FORWARDED", false)?,
            trusted_proxy_hops: number("TICKETGW_TRUSTED_PROXY_HOPS", 1)?,
            trusted_proxies: get("TICKETGW_TRUSTED_PROXIES")
                .unwrap_or_default()
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(|s| s.parse())
                .collect::<Result<_, String>>()
                .map_err(|m| parse_err("TICKETGW_TRUSTED_PROXIES", m))?,
            scheduler_token: match get("TICKETGW_SCHEDULER_TOKEN") {
                None => None,
                Some(t) if t.trim().chars().count() >= 32 => {
                    Some(Secret::new(t.trim().to_string()))
                }
                Some(_) => {
                    return Err(parse_err(
                        "TICKETGW_SCHEDULER_TOKEN",
                        "must be at least 32 characters (e.g. `openssl rand -hex 32`)".into(),
                    ));
                }
            },
            password_hashing: match number("TICKETGW_PASSWORD_HASHING", 2)? {
                n if n <= 64 => n,
                _ => {
                    return Err(parse_err(
                        "TICKETGW_PASSWORD_HASHING",
                        "must be 1 to 64".into(),
                    ));
                }
            },
            catalog_cache_ms: match get("TICKETGW_CATALOG_CACHE_MS") {
                None => 500,
                Some(v) => v
                    .parse::<u64>()
                    .ok()
                    .filter(|n| *n <= 60_000)
                    .ok_or_else(|| {
                        parse_err("TICKETGW_CATALOG_CACHE_MS", "must be 0 to 60000".into())
                    })?,
            },
            log_format,
            migrate_on_start,
        })
    }
}

impl Config {
    /// Which `X-Forwarded-For` entries this deployment vouches for.
    pub fn forwarded_trust(&self) -> crate::client_ip::ForwardedTrust {
        use crate::client_ip::ForwardedTrust;
        if !self.trust_forwarded {
            ForwardedTrust::None
        } else if !self.trusted_proxies.is_empty() {
            ForwardedTrust::Networks(self.trusted_proxies.clone())
        } else {
            ForwardedTrust::Hops(self.trusted_proxy_hops)
        }
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
        assert!(c.admin.is_none());
        assert!(c.captcha.is_none());
        assert!(c.builtin_idp);
        assert_eq!(c.public_url, "http://127.0.0.1:8080");
        assert_eq!(c.web_url, "http://localhost:3000");
        assert_eq!(
            cfg(&[("TICKETGW_WEB_URL", "ftp://x")]).unwrap_err().var,
            "TICKETGW_WEB_URL"
        );
    }

    #[test]
    fn secrets_are_redacted_in_debug() {
        let c = cfg(&[
            ("DATABASE_URL", "postgres://u:pw-123@db/x"),
            ("TICKETGW_ADMIN_EMAIL", "root@example.test"),
            ("TICKETGW_ADMIN_PASSWORD", "tok-456"),
            ("TICKETGW_RECAPTCHA_SECRET", "cap-789"),
        ])
        .expect("valid");
        let dbg = format!("{c:?}");
        assert!(!dbg.contains("pw-123"));
        assert!(!dbg.contains("tok-456"));
        assert!(!dbg.contains("cap-789"));
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
