//! A function exports its spans over OTLP/HTTP to a collector on loopback,
//! in the caller's trace: the release binary is started with
//! `OTEL_EXPORTER_OTLP_ENDPOINT` pointing at a local HTTP server that
//! records what it receives, called with a W3C `traceparent`, and stopped
//! with SIGTERM (which flushes the exporter). Negative control: without the
//! endpoint nothing is exported.

#![allow(clippy::unwrap_used)]

use std::process::Stdio;
use std::time::Duration;

use axum::http::StatusCode;
use tg_testkit::peers::{FakeHttp, free_port};

const TRACE_ID: &str = "4bf92f3577b34da6a3ce929d0e0e4736";

async fn run_once(otlp: Option<&str>) -> FakeHttp {
    let collector = FakeHttp::start(StatusCode::OK, "").await;
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_catalog-query"));
    cmd.env(
        "DATABASE_URL",
        format!("sqlite://{}/t.db", dir.path().display()),
    )
    .env("TICKETGW_BIND", "127.0.0.1")
    .env("PORT", port.to_string())
    .env("RUST_LOG", "info")
    .env("OTEL_SERVICE_NAME", "catalog-query-under-test")
    .env_remove("OTEL_EXPORTER_OTLP_ENDPOINT")
    .env_remove("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
    .stdout(Stdio::null())
    .stderr(Stdio::null())
    .kill_on_drop(true);
    if otlp.is_some() {
        cmd.env("OTEL_EXPORTER_OTLP_ENDPOINT", &collector.base);
    }
    let mut child = cmd.spawn().unwrap();
    let client = reqwest::Client::new();
    let url = format!("http://127.0.0.1:{port}/v1/events");
    let mut ok = false;
    for _ in 0..100 {
        if let Ok(r) = client
            .get(&url)
            .header("traceparent", format!("00-{TRACE_ID}-00f067aa0ba902b7-01"))
            .send()
            .await
        {
            assert_eq!(r.status(), 200);
            ok = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(ok, "the function did not start");
    let pid = child.id().unwrap().to_string();
    std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap();
    tokio::time::timeout(Duration::from_secs(20), child.wait())
        .await
        .unwrap()
        .unwrap();
    collector
}

#[tokio::test]
async fn spans_reach_an_otlp_collector_in_the_callers_trace() {
    let collector = run_once(Some("on")).await;
    let reqs = collector.requests();
    let traces: Vec<_> = reqs.iter().filter(|r| r.path == "/v1/traces").collect();
    assert!(
        !traces.is_empty(),
        "an OTLP export arrived: {:?}",
        reqs.iter().map(|r| &r.path).collect::<Vec<_>>()
    );
    assert_eq!(traces[0].headers["content-type"], "application/x-protobuf");
    let body: Vec<u8> = traces.iter().flat_map(|r| r.body.to_vec()).collect();
    let trace_id: Vec<u8> = (0..16)
        .map(|i| u8::from_str_radix(&TRACE_ID[2 * i..2 * i + 2], 16).unwrap())
        .collect();
    assert!(
        body.windows(16).any(|w| w == trace_id.as_slice()),
        "the span continues the caller's trace"
    );
    let name = b"catalog-query-under-test";
    assert!(
        body.windows(name.len()).any(|w| w == name),
        "service.name is set"
    );
    assert!(body.windows(7).any(|w| w == b"request"), "the request span");

    // Negative control: no endpoint, no export.
    let quiet = run_once(None).await;
    assert!(quiet.requests().is_empty());
}
