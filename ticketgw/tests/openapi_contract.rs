//! The served OpenAPI document and the platform's answers agree: list
//! parameters are in the query with their bounds, the shared responses are
//! declared on every operation, a malformed `Idempotency-Key` never hides a
//! 401 or 405, and `Allow` names each path's own methods.

#![allow(clippy::unwrap_used)]

use std::collections::HashMap;

use reqwest::Method;
use serde_json::Value;
use tg_testkit::{TestApp, TestDb, spawn_router};

async fn platform() -> TestApp {
    let db = TestDb::sqlite().await;
    let dir = tempfile::tempdir().unwrap();
    let vars: HashMap<&str, String> = HashMap::from([
        ("DATABASE_URL", db.url.clone()),
        ("TICKETGW_DATA_DIR", dir.path().display().to_string()),
    ]);
    let config = ticketgw::local_config(|k| vars.get(k).cloned()).unwrap();
    let state = tg_platform::build_state(config).await.unwrap();
    spawn_router(ticketgw::app(&state), state, db).await
}

#[tokio::test]
async fn the_document_declares_what_the_platform_answers() {
    let app = platform().await;
    let doc: Value = app.get("/openapi.json").await.json().await.unwrap();
    for (path, method) in [
        ("/v1/me/bookings", "get"),
        ("/v1/events/{id}/bookings", "get"),
        ("/v1/admin/users", "get"),
        ("/v1/admin/audit-log", "get"),
    ] {
        let params = doc["paths"][path][method]["parameters"].as_array().unwrap();
        for name in ["limit", "cursor"] {
            let p = params.iter().find(|p| p["name"] == name).unwrap();
            assert_eq!(p["in"], "query", "{path} {name}");
        }
        let limit = params.iter().find(|p| p["name"] == "limit").unwrap();
        assert_eq!(limit["schema"]["minimum"], 1, "{path}");
        assert_eq!(limit["schema"]["maximum"], 100, "{path}");
    }
    let mut operations = 0;
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            if !["get", "post", "put", "patch", "delete"].contains(&method.as_str()) {
                continue;
            }
            operations += 1;
            let responses = op["responses"].as_object().unwrap();
            assert!(responses.contains_key("400"), "{method} {path}");
            if op["security"].as_array().is_some_and(|s| !s.is_empty()) {
                for s in ["401", "403"] {
                    assert!(responses.contains_key(s), "{method} {path} {s}");
                }
            }
            if op.get("requestBody").is_some() {
                for s in ["415", "422"] {
                    assert!(responses.contains_key(s), "{method} {path} {s}");
                }
            }
        }
    }
    assert!(operations > 30, "{operations}");
    let shared = doc["components"]["responses"].as_object().unwrap();
    assert!(shared.contains_key("Unauthorized") && shared.contains_key("BadRequest"));
}

#[tokio::test]
async fn a_malformed_idempotency_key_comes_after_routing_and_authentication() {
    let app = platform().await;
    let id = uuid::Uuid::new_v4();
    // A protected route without credentials: 401, not 400.
    let r = app
        .request(Method::POST, "/v1/bookings")
        .header("idempotency-key", "")
        .json(&serde_json::json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 401);
    // A method the route does not have: 405, not 400.
    let r = app
        .request(Method::DELETE, "/v1/events")
        .header("idempotency-key", "")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 405);
    // Signed in: now the key itself is refused.
    let r = app
        .request(Method::POST, &format!("/v1/bookings/{id}/cancel"))
        .bearer_auth(&app.admin_token)
        .header("idempotency-key", "")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 400);
    // A public route: the key is refused at once.
    let r = app
        .request(Method::POST, "/v1/auth/login")
        .header("idempotency-key", "")
        .json(&serde_json::json!({"email": "a@b.test", "password": "x"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 400);
}

#[tokio::test]
async fn allow_names_each_ticket_paths_own_methods() {
    let app = platform().await;
    let id = uuid::Uuid::new_v4();
    let r = app
        .request(Method::PATCH, &format!("/v1/tickets/{id}.pdf"))
        .bearer_auth(&app.admin_token)
        .json(&serde_json::json!({"attendee_name": "X"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 405);
    assert_eq!(r.headers()["allow"], "GET,HEAD");
    let r = app
        .request(Method::GET, &format!("/v1/tickets/{id}"))
        .bearer_auth(&app.admin_token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 405);
    assert_eq!(r.headers()["allow"], "PATCH");
    // The methods each path has still work (no such ticket: 404).
    let r = app
        .request(Method::GET, &format!("/v1/tickets/{id}.pdf"))
        .bearer_auth(&app.admin_token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 404);
    let r = app
        .request(Method::PATCH, &format!("/v1/tickets/{id}"))
        .bearer_auth(&app.admin_token)
        .json(&serde_json::json!({"attendee_name": "X"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 404);
}
