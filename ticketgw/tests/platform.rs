//! The local platform in process, on every backend: demo data, the merged
//! OpenAPI document, the operational routes, request ids, metrics, and the
//! catalog flow across both catalog functions.

#![allow(clippy::unwrap_used)]

use std::collections::HashMap;

use reqwest::Method;
use serde_json::{Value, json};
use tg_testkit::{TestApp, TestDb, days_from_now, spawn_router};

async fn platforms() -> Vec<TestApp> {
    let mut apps = Vec::new();
    for db in TestDb::all().await {
        let dir = tempfile::tempdir().unwrap();
        let env: HashMap<&str, String> = HashMap::from([
            ("DATABASE_URL", db.url.clone()),
            ("TICKETGW_DATA_DIR", dir.path().display().to_string()),
        ]);
        let config = ticketgw::local_config(|k| env.get(k).cloned()).unwrap();
        let state = tg_platform::build_state(config).await.unwrap();
        assert!(
            ticketgw::demo::load(state.store.as_ref()).await.unwrap(),
            "first start loads the demo"
        );
        assert!(
            !ticketgw::demo::load(state.store.as_ref()).await.unwrap(),
            "only once"
        );
        apps.push(spawn_router(ticketgw::app(&state), state, db).await);
    }
    apps
}

#[tokio::test]
async fn demo_catalog_is_browsable() {
    for app in platforms().await {
        let page: Value = app.get("/v1/events?limit=100").await.json().await.unwrap();
        let items = page["items"].as_array().unwrap();
        assert!(items.len() >= 5, "several demo events");
        let organizers: std::collections::HashSet<_> =
            items.iter().map(|e| e["organizer_id"].clone()).collect();
        assert!(organizers.len() >= 3, "from a few organizers");
        assert!(items.iter().all(
            |e| e["status"] == "published" && !e["ticket_types"].as_array().unwrap().is_empty()
        ));
        let id = items[0]["id"].as_str().unwrap();
        let event: Value = app
            .get(&format!("/v1/events/{id}"))
            .await
            .json()
            .await
            .unwrap();
        let before = event["ticket_types"][0]["available"].as_i64().unwrap();
        assert!(before > 0, "on sale");

        // The demo buyer signs in and holds two tickets through the platform.
        let login: Value = app
            .post_json(
                "/v1/auth/login",
                &json!({"email": "buyer@demo.test", "password": "demo-buyer-pass"}),
            )
            .await
            .json()
            .await
            .unwrap();
        let token = login["access_token"].as_str().unwrap();
        let tt = event["ticket_types"][0]["id"].as_str().unwrap();
        let r = app
            .request(Method::POST, "/v1/bookings")
            .bearer_auth(token)
            .json(&json!({"event_id": id, "items": [{"ticket_type_id": tt, "quantity": 2}]}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 201);
        let booking: Value = r.json().await.unwrap();
        assert_eq!(booking["status"], "held");
        let event: Value = app
            .get(&format!("/v1/events/{id}"))
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(event["ticket_types"][0]["available"], before - 2);
        let mine: Value = app
            .request(Method::GET, "/v1/me/bookings")
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(mine["items"][0]["id"], booking["id"]);

        // And pays with the simulated provider, the local default.
        let booking_id = booking["id"].as_str().unwrap();
        let pay: Value = app
            .request(Method::POST, &format!("/v1/bookings/{booking_id}/checkout"))
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(pay["provider"], "simulated", "{pay}");
        let sim = pay["redirect_url"]
            .as_str()
            .unwrap()
            .rsplit('/')
            .next()
            .unwrap();
        let r = app
            .request(
                Method::POST,
                &format!("/v1/payments/simulated/{sim}/succeed"),
            )
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        let b: Value = app
            .request(Method::GET, &format!("/v1/bookings/{booking_id}"))
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(b["status"], "confirmed");
    }
}

#[tokio::test]
async fn organizer_flow_across_functions() {
    for app in platforms().await {
        let r = app
            .admin_json(
                Method::POST,
                "/v1/events",
                &json!({"title": "Zebra Quartet", "venue": "Hall", "city": "Porto", "category": "music",
                        "timezone": "Europe/Lisbon", "starts_at": days_from_now(2), "ends_at": days_from_now(3)}),
            )
            .await;
        assert_eq!(r.status(), 201);
        let id = r.json::<Value>().await.unwrap()["id"]
            .as_str()
            .unwrap()
            .to_string();
        assert_eq!(
            app.get(&format!("/v1/events/{id}")).await.status(),
            404,
            "drafts are private"
        );
        let r = app
            .admin_json(
                Method::POST,
                &format!("/v1/events/{id}/ticket-types"),
                &json!({"name": "GA", "price_cents": 900, "currency": "EUR", "capacity": 7}),
            )
            .await;
        assert_eq!(r.status(), 201);
        assert_eq!(
            app.admin_post(&format!("/v1/events/{id}/publish"))
                .await
                .status(),
            200
        );
        let page: Value = app.get("/v1/events?city=porto").await.json().await.unwrap();
        assert_eq!(page["items"][0]["id"], id.as_str());
        assert_eq!(page["items"][0]["ticket_types"][0]["available"], 7);
        // Reads are micro-cached, but a write in this process shows at once.
        let url = format!("/v1/events/{id}");
        assert_eq!(
            app.get(&url).await.json::<Value>().await.unwrap()["title"],
            "Zebra Quartet"
        );
        let r = app
            .admin_json(
                Method::PATCH,
                &format!("/v1/events/{id}"),
                &json!({"title": "Zebra Quintet"}),
            )
            .await;
        assert_eq!(r.status(), 200);
        assert_eq!(
            app.get(&url).await.json::<Value>().await.unwrap()["title"],
            "Zebra Quintet"
        );
    }
}

#[tokio::test]
async fn openapi_is_generated_and_complete() {
    let app = platforms().await.remove(0);
    let r = app.get("/openapi.json").await;
    assert_eq!(r.status(), 200);
    let doc: Value = r.json().await.unwrap();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3.1"));
    let paths = doc["paths"].as_object().unwrap();
    for (path, method) in [
        ("/v1/events", "get"),
        ("/v1/events", "post"),
        ("/v1/events/{id}", "get"),
        ("/v1/events/{id}", "patch"),
        ("/v1/events/{id}/ticket-types", "post"),
        ("/v1/events/{id}/ticket-types/{ticket_type_id}", "patch"),
        ("/v1/events/{id}/publish", "post"),
        ("/v1/events/{id}/cancel", "post"),
        ("/v1/bookings", "post"),
        ("/v1/bookings/{id}", "get"),
        ("/v1/bookings/{id}/cancel", "post"),
        ("/v1/me/bookings", "get"),
        ("/v1/events/{id}/bookings", "get"),
        ("/v1/bookings/{id}/checkout", "post"),
        ("/v1/payments/webhooks/{provider}", "post"),
        ("/v1/payments/{id}/refund", "post"),
        ("/v1/payments/simulated/{id}/succeed", "post"),
    ] {
        assert!(
            paths.get(path).and_then(|p| p.get(method)).is_some(),
            "{method} {path} missing"
        );
    }
    for schema in [
        "EventView",
        "TicketTypeView",
        "ProblemDoc",
        "CreateEventRequest",
        "BookingView",
        "CreateBookingRequest",
    ] {
        assert!(
            doc["components"]["schemas"].get(schema).is_some(),
            "schema {schema}"
        );
    }
}

#[tokio::test]
async fn operational_routes_request_ids_and_metrics() {
    for app in platforms().await {
        let r = app.get("/healthz").await;
        assert_eq!(r.status(), 200);
        assert!(
            !r.headers()["x-request-id"].is_empty(),
            "a request id is added"
        );
        let r = app
            .request(Method::GET, "/healthz")
            .header("x-request-id", "trace-me-123")
            .send()
            .await
            .unwrap();
        assert_eq!(
            r.headers()["x-request-id"],
            "trace-me-123",
            "and a given one kept"
        );
        let ready: Value = app.get("/readyz").await.json().await.unwrap();
        assert_eq!(ready["status"], "ready");
        let id = app
            .get("/v1/events?limit=1")
            .await
            .json::<Value>()
            .await
            .unwrap()["items"][0]["id"]
            .clone();
        assert_eq!(
            app.get(&format!("/v1/events/{}", id.as_str().unwrap()))
                .await
                .status(),
            200
        );
        let r = app.get("/metrics").await;
        assert!(
            r.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with("text/plain")
        );
        let text = r.text().await.unwrap();
        let line = text
            .lines()
            .find(|l| {
                l.starts_with("http_requests_total{")
                    && l.contains("route=\"/v1/events/{id}\"")
                    && l.contains("status=\"200\"")
                    && l.contains("method=\"GET\"")
            })
            .unwrap_or_else(|| panic!("no request counter by route template:\n{text}"));
        // Other tests in this binary share the global recorder (e.g. PATCH on the
        // same route), so the line is picked by method too; its value counts ours.
        let count: f64 = line.rsplit(' ').next().unwrap().parse().unwrap();
        assert!(count >= 1.0);
        assert!(
            text.contains("http_request_duration_seconds_bucket{"),
            "latency histogram"
        );
    }
}
