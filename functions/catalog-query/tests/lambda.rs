//! The same function binary on AWS Lambda: with `AWS_LAMBDA_RUNTIME_API`
//! set, it serves through `lambda_http`. A local server speaking the Lambda
//! Runtime API hands it API Gateway (HTTP API v2) events and collects the
//! responses.

#![allow(clippy::unwrap_used)]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::IntoResponse;
use axum::routing::{get, post};
use serde_json::{Value, json};
use tokio::sync::mpsc;

#[derive(Clone)]
struct RuntimeApi {
    events: Arc<Mutex<Vec<(String, Value)>>>,
    responses: mpsc::UnboundedSender<(String, Value)>,
}

async fn next(State(api): State<RuntimeApi>) -> axum::response::Response {
    let item = api.events.lock().unwrap().pop();
    match item {
        Some((id, event)) => {
            let mut headers = HeaderMap::new();
            headers.insert("lambda-runtime-aws-request-id", id.parse().unwrap());
            let deadline = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_millis()
                + 30_000;
            headers.insert(
                "lambda-runtime-deadline-ms",
                deadline.to_string().parse().unwrap(),
            );
            headers.insert(
                "lambda-runtime-invoked-function-arn",
                "arn:aws:lambda:eu-central-1:123456789012:function:catalog-query"
                    .parse()
                    .unwrap(),
            );
            headers.insert(
                "lambda-runtime-trace-id",
                "Root=1-5759e988-bd862e3fe1be46a994272793".parse().unwrap(),
            );
            (headers, axum::Json(event)).into_response()
        }
        // No more work: hold the long poll, as the real API does.
        None => std::future::pending().await,
    }
}

async fn response(
    State(api): State<RuntimeApi>,
    Path(id): Path<String>,
    body: String,
) -> &'static str {
    let v: Value = serde_json::from_str(&body).unwrap_or(Value::String(body));
    api.responses.send((id, v)).ok();
    "{}"
}

async fn error(
    State(api): State<RuntimeApi>,
    Path(id): Path<String>,
    body: String,
) -> &'static str {
    api.responses
        .send((format!("error:{id}"), Value::String(body)))
        .ok();
    "{}"
}

fn http_api_event(method: &str, path: &str, query: &str) -> Value {
    json!({
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": path,
        "rawQueryString": query,
        "headers": {"host": "abc.lambda-url.eu-central-1.on.aws", "accept": "application/json", "x-request-id": "lambda-req-1"},
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "abc",
            "domainName": "abc.lambda-url.eu-central-1.on.aws",
            "domainPrefix": "abc",
            "http": {"method": method, "path": path, "protocol": "HTTP/1.1", "sourceIp": "203.0.113.7", "userAgent": "test"},
            "requestId": "id",
            "routeKey": "$default",
            "stage": "$default",
            "time": "26/Nov/2026:10:00:00 +0000",
            "timeEpoch": 1795687200000u64
        },
        "isBase64Encoded": false
    })
}

#[tokio::test]
async fn serves_through_the_lambda_runtime_api() {
    let (tx, mut rx) = mpsc::unbounded_channel();
    // Popped from the end: the list call first, then the bad id.
    let events = vec![
        (
            "inv-2".to_string(),
            http_api_event("GET", "/v1/events/not-a-uuid", ""),
        ),
        (
            "inv-1".to_string(),
            http_api_event("GET", "/v1/events", "limit=1"),
        ),
    ];
    let api = RuntimeApi {
        events: Arc::new(Mutex::new(events)),
        responses: tx,
    };
    let app = Router::new()
        .route("/2018-06-01/runtime/invocation/next", get(next))
        .route(
            "/2018-06-01/runtime/invocation/{id}/response",
            post(response),
        )
        .route("/2018-06-01/runtime/invocation/{id}/error", post(error))
        .route("/2018-06-01/runtime/init/error", post(|| async { "{}" }))
        .with_state(api);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.ok() });

    let dir = tempfile::tempdir().unwrap();
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_catalog-query"))
        .env_clear()
        .env("AWS_LAMBDA_RUNTIME_API", addr.to_string())
        .env("AWS_LAMBDA_FUNCTION_NAME", "catalog-query")
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        .env(
            "DATABASE_URL",
            format!("sqlite://{}/t.db", dir.path().display()),
        )
        .env("RUST_LOG", "warn")
        .kill_on_drop(true)
        .spawn()
        .unwrap();

    let mut got = std::collections::HashMap::new();
    for _ in 0..2 {
        let (id, body) = tokio::time::timeout(Duration::from_secs(30), rx.recv())
            .await
            .unwrap()
            .unwrap();
        got.insert(id, body);
    }
    child.kill().await.ok();

    let list = &got["inv-1"];
    assert_eq!(list["statusCode"], 200, "{list}");
    let body: Value = serde_json::from_str(list["body"].as_str().unwrap()).unwrap();
    assert_eq!(body, json!({"items": [], "next_cursor": null}));
    assert_eq!(
        list["headers"]["x-request-id"], "lambda-req-1",
        "request ids pass through on Lambda too"
    );

    let bad = &got["inv-2"];
    assert_eq!(bad["statusCode"], 400, "{bad}");
    assert_eq!(bad["headers"]["content-type"], "application/problem+json");
    let problem: Value = serde_json::from_str(bad["body"].as_str().unwrap()).unwrap();
    assert_eq!(problem["code"], "invalid_path_parameter");
}
