//! The strict extractors (`tg-http`): `Json`, `Path` and `Query` see every
//! request before a handler does.
//!
//! A router with one handler per extractor (request types shaped like the
//! API's: `deny_unknown_fields`, ids, times, money, optional and nested
//! fields) gets the input as a JSON body, as a query string and as a path
//! segment. Invariants:
//! * no panic, never a 5xx;
//! * a refusal is problem+json with a stable `code`; a 422 names at least
//!   one field in `errors`;
//! * what a handler accepted, serialized and sent again, is accepted as the
//!   same value (parse, format, parse round-trips).
#![no_main]

use std::sync::LazyLock;

use axum::Router;
use axum::body::Body;
use axum::routing::{get, post};
use chrono::{DateTime, Utc};
use http::{Request, StatusCode};
use http_body_util::BodyExt;
use libfuzzer_sys::fuzz_target;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tg_http::{Json, Path, Query};
use tower::ServiceExt;
use uuid::Uuid;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Item {
    ticket_type_id: Uuid,
    quantity: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Order {
    event_id: Uuid,
    items: Vec<Item>,
    #[serde(default)]
    note: Option<String>,
    #[serde(default)]
    starts_at: Option<DateTime<Utc>>,
    #[serde(default)]
    price_cents: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Filter {
    #[serde(default)]
    q: Option<String>,
    #[serde(default)]
    limit: Option<u32>,
    #[serde(default)]
    cursor: Option<String>,
    #[serde(default)]
    from: Option<DateTime<Utc>>,
}

static WORLD: LazyLock<(tokio::runtime::Runtime, Router)> = LazyLock::new(|| {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    let router = Router::new()
        .route(
            "/orders",
            post(|Json(o): Json<Order>| async move { axum::Json(o) }),
        )
        .route(
            "/events",
            get(|Query(f): Query<Filter>| async move { axum::Json(f) }),
        )
        .route(
            "/events/{id}/items/{n}",
            get(|Path((id, n)): Path<(Uuid, u32)>| async move { axum::Json((id, n)) }),
        );
    (rt, router)
});

/// Sends a request; checks the refusal rules; returns the accepted JSON.
fn send(req: Request<Body>) -> Option<Value> {
    let (rt, router) = &*WORLD;
    let resp = rt
        .block_on(router.clone().oneshot(req))
        .expect("infallible");
    let status = resp.status();
    let ct = resp
        .headers()
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let body = rt
        .block_on(resp.into_body().collect())
        .expect("body")
        .to_bytes();
    assert!(!status.is_server_error(), "{status}");
    if status == StatusCode::NOT_FOUND && ct.is_empty() {
        return None; // the router found no route (a path the fuzzer broke)
    }
    let v: Value = serde_json::from_slice(&body).expect("a JSON answer");
    if status.is_success() {
        return Some(v);
    }
    assert_eq!(ct, "application/problem+json", "{status}");
    assert!(v["code"].as_str().is_some_and(|c| !c.is_empty()), "{v}");
    assert_eq!(v["status"], status.as_u16());
    if status == StatusCode::UNPROCESSABLE_ENTITY {
        let errors = v["errors"].as_array().expect("422 lists errors");
        assert!(
            !errors.is_empty() && errors.iter().all(|e| e["field"].is_string()),
            "{v}"
        );
    }
    None
}

fn post_json(body: Vec<u8>) -> Option<Value> {
    let req = Request::post("/orders")
        .header("content-type", "application/json")
        .body(Body::from(body))
        .expect("request");
    send(req)
}

fn percent(bytes: &[u8]) -> String {
    bytes
        .iter()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(b) {
                (*b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    match mode % 3 {
        0 => {
            if let Some(v) = post_json(rest.to_vec()) {
                let again = post_json(serde_json::to_vec(&v).expect("json")).expect("re-sent");
                assert_eq!(again, v, "JSON round trip");
            }
        }
        1 => {
            let Ok(uri) = format!("/events?{}", String::from_utf8_lossy(rest)).parse::<http::Uri>()
            else {
                return;
            };
            let req = Request::get(uri).body(Body::empty()).expect("request");
            if let Some(v) = send(req) {
                let f: Filter = serde_json::from_value(v.clone()).expect("a filter");
                let qs = serde_urlencoded_like(&f);
                let req = Request::get(format!("/events?{qs}"))
                    .body(Body::empty())
                    .expect("request");
                let again = send(req).expect("re-sent query accepted");
                assert_eq!(again, v, "query round trip");
            }
        }
        _ => {
            let split = rest.iter().position(|b| *b == b'/').unwrap_or(rest.len());
            let (a, b) = (&rest[..split], rest.get(split + 1..).unwrap_or(&[]));
            let uri = format!("/events/{}/items/{}", percent(a), percent(b));
            let req = Request::get(uri).body(Body::empty()).expect("request");
            if let Some(v) = send(req) {
                let (id, n): (Uuid, u32) = serde_json::from_value(v.clone()).expect("a pair");
                let req = Request::get(format!("/events/{id}/items/{n}"))
                    .body(Body::empty())
                    .expect("request");
                assert_eq!(send(req), Some(v), "path round trip");
            }
        }
    }
});

/// The query string a client would send for `f`.
fn serde_urlencoded_like(f: &Filter) -> String {
    let mut parts = Vec::new();
    if let Some(q) = &f.q {
        parts.push(format!("q={}", percent(q.as_bytes())));
    }
    if let Some(l) = f.limit {
        parts.push(format!("limit={l}"));
    }
    if let Some(c) = &f.cursor {
        parts.push(format!("cursor={}", percent(c.as_bytes())));
    }
    if let Some(t) = &f.from {
        parts.push(format!("from={}", percent(t.to_rfc3339().as_bytes())));
    }
    parts.join("&")
}
