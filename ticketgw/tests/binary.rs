//! The `ticketgw` binary as a newcomer runs it: no arguments, a fresh data
//! folder, SQLite by default (PostgreSQL through DATABASE_URL), demo data,
//! `migrate`, and a graceful shutdown on SIGTERM that lets an in-flight
//! request finish.

#![allow(clippy::unwrap_used)]

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

struct Running {
    child: Child,
    port: u16,
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn start(data_dir: &std::path::Path, extra: &[(&str, &str)]) -> Running {
    let port = free_port();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_ticketgw"));
    cmd.env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("PORT", port.to_string())
        .env("TICKETGW_DATA_DIR", data_dir)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    for (k, v) in extra {
        cmd.env(k, v);
    }
    let child = cmd.spawn().unwrap();
    let running = Running { child, port };
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if http_get(port, "/healthz").is_some_and(|(s, _)| s == 200) {
            return running;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!("ticketgw did not become healthy");
}

/// Sends one raw HTTP/1.1 request (with `Connection: close`); returns
/// (status, body).
fn exchange(port: u16, request: &str) -> Option<(u16, String)> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
    s.write_all(request.as_bytes()).ok()?;
    let mut buf = String::new();
    s.read_to_string(&mut buf).ok()?;
    let status = buf.split_whitespace().nth(1)?.parse().ok()?;
    let body = buf
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    Some((status, body))
}

/// A minimal HTTP/1.1 GET; returns (status, body).
fn http_get(port: u16, path: &str) -> Option<(u16, String)> {
    exchange(
        port,
        &format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"),
    )
}

/// A minimal HTTP/1.1 POST of a JSON body; returns (status, body).
fn http_post_json(
    port: u16,
    path: &str,
    body: &str,
    bearer: Option<&str>,
) -> Option<(u16, String)> {
    let auth = bearer
        .map(|t| format!("Authorization: Bearer {t}\r\n"))
        .unwrap_or_default();
    exchange(
        port,
        &format!(
            "POST {path} HTTP/1.1\r\nHost: localhost\r\n{auth}Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        ),
    )
}

fn login(port: u16, email: &str, password: &str) -> String {
    let (status, body) = http_post_json(
        port,
        "/v1/auth/login",
        &format!("{{\"email\":\"{email}\",\"password\":\"{password}\"}}"),
        None,
    )
    .unwrap();
    assert_eq!(status, 200, "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    v["access_token"].as_str().unwrap().to_string()
}

fn sigterm(child: &Child) {
    let ok = Command::new("kill")
        .arg("-TERM")
        .arg(child.id().to_string())
        .status()
        .unwrap();
    assert!(ok.success());
}

fn wait_exit(child: &mut Child, within: Duration) -> std::process::ExitStatus {
    let deadline = Instant::now() + within;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        assert!(Instant::now() < deadline, "did not exit in time");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn serves_the_demo_catalog_with_no_arguments() {
    let dir = tempfile::tempdir().unwrap();
    let mut app = start(dir.path(), &[]);
    let (status, body) = http_get(app.port, "/v1/events").unwrap();
    assert_eq!(status, 200);
    assert!(
        body.contains("\"items\"") && body.contains("\"published\""),
        "{body}"
    );
    assert!(
        dir.path().join("ticketgw.db").exists(),
        "SQLite under the data dir"
    );
    // The demo accounts log in at once.
    for (email, password) in [
        ("organizer@demo.test", "demo-organizer-pass"),
        ("buyer@demo.test", "demo-buyer-pass"),
    ] {
        let token = login(app.port, email, password);
        assert!(token.split('.').count() == 3, "{email}: a JWT");
    }
    sigterm(&app.child);
    assert!(wait_exit(&mut app.child, Duration::from_secs(10)).success());

    // A restart keeps the data and does not load the demo twice.
    let app = start(dir.path(), &[]);
    let (_, again) = http_get(app.port, "/v1/events?limit=100").unwrap();
    let count = |b: &str| b.matches("\"status\":\"published\"").count();
    let (_, first) = http_get(app.port, "/v1/events?limit=100").unwrap();
    assert_eq!(count(&again), count(&first));
    assert!(count(&again) >= 5);
}

#[test]
fn demo_can_be_skipped() {
    let dir = tempfile::tempdir().unwrap();
    let app = start(dir.path(), &[("TICKETGW_DEMO", "0")]);
    let (_, body) = http_get(app.port, "/v1/events").unwrap();
    assert!(body.contains("\"items\":[]"), "{body}");
}

#[test]
fn migrate_subcommand_applies_migrations_and_exits() {
    let dir = tempfile::tempdir().unwrap();
    let status = Command::new(env!("CARGO_BIN_EXE_ticketgw"))
        .arg("migrate")
        .env("TICKETGW_DATA_DIR", dir.path())
        .env("RUST_LOG", "warn")
        .stderr(Stdio::null())
        .status()
        .unwrap();
    assert!(status.success());
    assert!(dir.path().join("ticketgw.db").exists());
    let bad = Command::new(env!("CARGO_BIN_EXE_ticketgw"))
        .arg("migrate")
        .env("DATABASE_URL", "mysql://nope")
        .stderr(Stdio::null())
        .status()
        .unwrap();
    assert_eq!(bad.code(), Some(2), "bad configuration is refused up front");
}

#[test]
fn admin_create_makes_a_working_admin() {
    let dir = tempfile::tempdir().unwrap();
    let status = Command::new(env!("CARGO_BIN_EXE_ticketgw"))
        .args([
            "admin",
            "create",
            "--email",
            "Root@Example.test",
            "--password",
            "correct-horse-battery",
        ])
        .env("TICKETGW_DATA_DIR", dir.path())
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .unwrap();
    assert!(status.success());
    let short = Command::new(env!("CARGO_BIN_EXE_ticketgw"))
        .args([
            "admin",
            "create",
            "--email",
            "x@example.test",
            "--password",
            "short",
        ])
        .env("TICKETGW_DATA_DIR", dir.path())
        .stderr(Stdio::null())
        .status()
        .unwrap();
    assert!(!short.success(), "weak passwords are refused");
    let app = start(dir.path(), &[("TICKETGW_DEMO", "0")]);
    let token = login(app.port, "root@example.test", "correct-horse-battery");
    let (status, resp) = exchange(
        app.port,
        &format!("GET /v1/admin/users HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\nConnection: close\r\n\r\n"),
    )
    .unwrap();
    assert_eq!(status, 200, "{resp}");
    assert!(resp.contains("root@example.test") && resp.contains("\"admin\""));
}

#[test]
fn runs_on_postgres_through_database_url() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let Some(db) = rt.block_on(tg_testkit::TestDb::postgres()) else {
        eprintln!("TEST_DATABASE_URL not set: PostgreSQL variant not run");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let app = start(dir.path(), &[("DATABASE_URL", db.url.as_str())]);
    let (status, body) = http_get(app.port, "/readyz").unwrap();
    assert_eq!(status, 200);
    assert!(body.contains("postgres"), "{body}");
    let (_, events) = http_get(app.port, "/v1/events").unwrap();
    assert!(events.contains("\"published\""));
    assert!(
        !dir.path().join("ticketgw.db").exists(),
        "no SQLite file when on PostgreSQL"
    );
    drop(app);
    drop(db);
}

#[test]
fn sigterm_lets_an_in_flight_request_finish() {
    let dir = tempfile::tempdir().unwrap();
    let mut app = start(dir.path(), &[]);
    let token = login(app.port, "organizer@demo.test", "demo-organizer-pass");
    let body = format!(
        "{{\"title\":\"Late\",\"venue\":\"v\",\"city\":\"c\",\"category\":\"music\",\"timezone\":\"UTC\",\"starts_at\":\"{}\",\"ends_at\":\"{}\"}}",
        tg_testkit::days_from_now(3),
        tg_testkit::days_from_now(4)
    );
    let mut s = TcpStream::connect(("127.0.0.1", app.port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(
        s,
        "POST /v1/events HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer {token}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )
    .unwrap();
    let (first, rest) = body.split_at(body.len() / 2);
    s.write_all(first.as_bytes()).unwrap();
    s.flush().unwrap();
    std::thread::sleep(Duration::from_millis(200));
    sigterm(&app.child);
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        app.child.try_wait().unwrap().is_none(),
        "still serving the in-flight request"
    );
    s.write_all(rest.as_bytes()).unwrap();
    let mut resp = String::new();
    s.read_to_string(&mut resp).unwrap();
    assert!(
        resp.starts_with("HTTP/1.1 201"),
        "the in-flight request completed: {resp}"
    );
    assert!(wait_exit(&mut app.child, Duration::from_secs(10)).success());
    // New connections are refused once it has stopped.
    assert!(http_get(app.port, "/healthz").is_none());
}
