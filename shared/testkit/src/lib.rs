//! Test helpers shared by every crate's tests.
//!
//! * [`TestDb`]: a fresh, empty database per test: a SQLite file in a temp
//!   folder, or a new PostgreSQL database created on the server named by
//!   `TEST_DATABASE_URL` (dropped again when the `TestDb` is dropped).
//! * [`TestApp`]: a router served on 127.0.0.1:0 with the platform layers,
//!   and request helpers.
//!
//! PostgreSQL is required whenever `CI` is set: a missing
//! `TEST_DATABASE_URL` then fails the test instead of skipping it.

#![allow(clippy::unwrap_used)]

use std::net::SocketAddr;
use std::sync::Once;

use axum::Router;
use reqwest::{Method, RequestBuilder};
use serde_json::Value;
use sqlx::Connection;
use tg_platform::{AppState, Config, build_state, with_platform};
use tg_store::{DynStore, Role};

pub mod fixtures;
pub mod peers;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

pub struct TestDb {
    pub backend: Backend,
    pub url: String,
    _dir: Option<tempfile::TempDir>,
    pg_cleanup: Option<(String, String)>,
}

/// Logs once per test binary, quiet unless `RUST_LOG` says otherwise.
pub fn init_tracing() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let filter = tracing_subscriber::EnvFilter::try_from_default_env()
            .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
        let _ = tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_test_writer()
            .try_init();
    });
}

/// The PostgreSQL server for tests, if configured. Under CI it must be;
/// elsewhere its absence is reported with [`report_skip`].
pub fn postgres_url() -> Option<String> {
    match std::env::var("TEST_DATABASE_URL") {
        Ok(url) if !url.is_empty() => Some(url),
        _ => {
            assert!(
                std::env::var_os("CI").is_none(),
                "CI is set but TEST_DATABASE_URL is not: PostgreSQL tests must not be skipped in CI"
            );
            report_skip("PostgreSQL (TEST_DATABASE_URL is not set): ran on SQLite only");
            None
        }
    }
}

/// Says loudly that part of a test did not run: straight to the process's
/// stderr (libtest does not capture it, so a bare `cargo test` shows it),
/// with a marker `scripts/test` counts. Under `CI` callers fail instead.
pub fn report_skip(what: &str) {
    use std::io::Write;
    let test = std::thread::current()
        .name()
        .unwrap_or("a test")
        .to_string();
    let _ = writeln!(
        std::io::stderr(),
        "TICKETGW-SKIPPED [{test}]: {what}. `scripts/test` sets every peer up (see README, Tests)."
    );
}

impl TestDb {
    pub async fn sqlite() -> TestDb {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}/test.db", dir.path().display());
        TestDb {
            backend: Backend::Sqlite,
            url,
            _dir: Some(dir),
            pg_cleanup: None,
        }
    }

    /// A new empty database on the test PostgreSQL server; `None` when no
    /// server is configured (outside CI).
    pub async fn postgres() -> Option<TestDb> {
        let admin_url = postgres_url()?;
        let name = format!("tg_test_{}", uuid::Uuid::new_v4().simple());
        let mut conn = sqlx::PgConnection::connect(&admin_url)
            .await
            .unwrap_or_else(|e| {
                panic!("TEST_DATABASE_URL is set but PostgreSQL is unreachable: {e}")
            });
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(&mut conn)
            .await
            .unwrap();
        conn.close().await.ok();
        let url = with_database(&admin_url, &name);
        Some(TestDb {
            backend: Backend::Postgres,
            url,
            _dir: None,
            pg_cleanup: Some((admin_url, name)),
        })
    }

    /// SQLite always, plus PostgreSQL when configured.
    pub async fn all() -> Vec<TestDb> {
        let mut dbs = vec![TestDb::sqlite().await];
        if let Some(pg) = TestDb::postgres().await {
            dbs.push(pg);
        }
        dbs
    }

    /// A migrated store on this database.
    pub async fn store(&self) -> DynStore {
        let store = tg_store::connect(&self.url, &tg_store::ConnectOptions { pool_size: 10 })
            .await
            .unwrap();
        store.migrate().await.unwrap();
        store
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let Some((admin_url, name)) = self.pg_cleanup.take() else {
            return;
        };
        // Async drop does not exist; drop the database from a helper thread.
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .ok()?;
            rt.block_on(async {
                let mut conn = sqlx::PgConnection::connect(&admin_url).await.ok()?;
                sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                    .execute(&mut conn)
                    .await
                    .ok()?;
                Some(())
            })
        })
        .join();
    }
}

/// Replaces the database name in a `postgres://` URL.
fn with_database(url: &str, db: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let scheme_end = base.find("://").map(|i| i + 3).unwrap_or(0);
    let base = match base[scheme_end..].find('/') {
        Some(i) => &base[..scheme_end + i],
        None => base,
    };
    match query {
        Some(q) => format!("{base}/{db}?{q}"),
        None => format!("{base}/{db}"),
    }
}

/// A function (or the whole platform) served on a random loopback port.
pub struct TestApp {
    pub addr: SocketAddr,
    pub base: String,
    pub client: reqwest::Client,
    pub state: AppState,
    pub admin_token: String,
    pub db: TestDb,
}

/// Serves `routes(state)` with the platform layers on a fresh database.
pub async fn spawn_app(db: TestDb, routes: impl FnOnce(AppState) -> Router) -> TestApp {
    spawn_app_with(db, routes, &[]).await
}

/// [`spawn_app`] with extra configuration variables.
pub async fn spawn_app_with(
    db: TestDb,
    routes: impl FnOnce(AppState) -> Router,
    env: &[(&str, &str)],
) -> TestApp {
    init_tracing();
    let url = db.url.clone();
    let extra: std::collections::HashMap<String, String> = env
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let config = Config::from_lookup(|k| match k {
        _ if extra.contains_key(k) => extra.get(k).cloned(),
        "DATABASE_URL" => Some(url.clone()),
        "TICKETGW_DB_POOL_SIZE" => Some("10".into()),
        "TICKETGW_BIND" => Some("127.0.0.1".into()),
        "PORT" => Some("0".into()),
        _ => None,
    })
    .unwrap();
    let state = build_state(config).await.unwrap();
    let app = with_platform(
        routes(state.clone()),
        &state,
        utoipa::openapi::OpenApi::default(),
    );
    spawn_router(app, state, db).await
}

/// An account of the built-in provider with `roles`, and a valid access
/// token for it (minted directly, as a login would).
pub async fn user_with_token(
    state: &AppState,
    email: &str,
    roles: &[Role],
) -> (uuid::Uuid, String) {
    let user = state
        .store
        .create_local_user(&tg_store::NewLocalUser {
            iss: tg_store::BUILTIN_ISSUER.into(),
            email: email.into(),
            name: email.split('@').next().unwrap_or("user").into(),
            password_hash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA"
                .into(),
            roles: roles.to_vec(),
        })
        .await
        .unwrap();
    let ring = state
        .idp
        .as_ref()
        .expect("the built-in provider is enabled in tests");
    let token = ring
        .mint_access_token(&user, uuid::Uuid::now_v7(), chrono::Utc::now())
        .await
        .unwrap();
    (user.id, token)
}

/// Serves an already-assembled router (the local platform's `app`).
pub async fn spawn_router(app: Router, state: AppState, db: TestDb) -> TestApp {
    init_tracing();
    tg_platform::install_metrics();
    // An admin of the built-in provider (none when it is switched off).
    let admin_token = if state.idp.is_some() {
        user_with_token(
            &state,
            &format!("admin-{}@test.example", uuid::Uuid::new_v4().simple()),
            &[Role::User, Role::Organizer, Role::Admin],
        )
        .await
        .1
    } else {
        String::new()
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(
            listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await
        .ok();
    });
    TestApp {
        addr,
        base: format!("http://{addr}"),
        client: reqwest::Client::builder().build().unwrap(),
        state,
        admin_token,
        db,
    }
}

impl TestApp {
    pub fn request(&self, method: Method, path: &str) -> RequestBuilder {
        self.client
            .request(method, format!("{}{}", self.base, path))
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.request(Method::GET, path).send().await.unwrap()
    }

    /// A JSON request as the admin (organizer rights everywhere).
    pub async fn admin_json(&self, method: Method, path: &str, body: &Value) -> reqwest::Response {
        self.request(method, path)
            .bearer_auth(&self.admin_token)
            .json(body)
            .send()
            .await
            .unwrap()
    }

    /// A JSON POST without credentials.
    pub async fn post_json(&self, path: &str, body: &Value) -> reqwest::Response {
        self.request(Method::POST, path)
            .json(body)
            .send()
            .await
            .unwrap()
    }

    pub async fn admin_post(&self, path: &str) -> reqwest::Response {
        self.request(Method::POST, path)
            .bearer_auth(&self.admin_token)
            .send()
            .await
            .unwrap()
    }

    /// Creates a draft event with one ticket type; returns the event id and
    /// ticket type id.
    pub async fn create_event(&self, title: &str, starts_in_days: i64) -> (String, String) {
        let starts = days_from_now(starts_in_days);
        let ends = days_from_now(starts_in_days + 1);
        let r = self
            .admin_json(
                Method::POST,
                "/v1/events",
                &serde_json::json!({
                    "title": title, "description": "d", "venue": "Hall", "city": "Berlin",
                    "category": "music", "timezone": "Europe/Berlin",
                    "starts_at": starts, "ends_at": ends,
                }),
            )
            .await;
        assert_eq!(r.status(), 201, "create event: {}", r.text().await.unwrap());
        let event: Value = r.json().await.unwrap();
        let id = event["id"].as_str().unwrap().to_string();
        let r = self
            .admin_json(
                Method::POST,
                &format!("/v1/events/{id}/ticket-types"),
                &serde_json::json!({"name": "GA", "price_cents": 2500, "currency": "EUR", "capacity": 100}),
            )
            .await;
        assert_eq!(
            r.status(),
            201,
            "add ticket type: {}",
            r.text().await.unwrap()
        );
        let tt: Value = r.json().await.unwrap();
        (id, tt["id"].as_str().unwrap().to_string())
    }
}

/// RFC 3339 time `days` from now.
pub fn days_from_now(days: i64) -> String {
    (chrono::Utc::now() + chrono::Duration::days(days)).to_rfc3339()
}

/// Reads a problem+json body, asserting the status and content type.
pub async fn problem(resp: reqwest::Response, status: u16) -> Value {
    assert_eq!(resp.status().as_u16(), status, "unexpected status");
    let ct = resp
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    assert_eq!(ct, "application/problem+json");
    resp.json().await.unwrap()
}

#[cfg(test)]
mod tests {
    #[test]
    fn replaces_database() {
        assert_eq!(
            super::with_database("postgres://u@h:5432/test", "x"),
            "postgres://u@h:5432/x"
        );
        assert_eq!(
            super::with_database("postgres://u@h/test?sslmode=disable", "x"),
            "postgres://u@h/x?sslmode=disable"
        );
        assert_eq!(
            super::with_database("postgres://u@h", "x"),
            "postgres://u@h/x"
        );
    }
}
