//! catalog-manage over HTTP, on every backend: organizer writes, auth, and
//! the bad-input matrix (each answered with problem+json naming the
//! problem, and nothing written).

#![allow(clippy::unwrap_used)]

use chrono::{DateTime, Utc};
use reqwest::Method;
use serde_json::{Value, json};
use tg_store::{EventFilter, EventStatus};
use tg_testkit::{TestApp, TestDb, days_from_now, problem, spawn_app};

async fn apps() -> Vec<TestApp> {
    let mut apps = Vec::new();
    for db in TestDb::all().await {
        apps.push(spawn_app(db, catalog_manage::router).await);
    }
    apps
}

fn event_body() -> Value {
    json!({
        "title": "Rust Meetup", "description": "Talks", "venue": "c-base", "city": "Berlin",
        "category": "tech", "timezone": "Europe/Berlin",
        "starts_at": days_from_now(3), "ends_at": days_from_now(4),
    })
}

/// Events of every status, as stored.
async fn stored_events(app: &TestApp) -> usize {
    let mut n = 0;
    for status in [
        EventStatus::Draft,
        EventStatus::Published,
        EventStatus::Cancelled,
    ] {
        let f = EventFilter {
            q: None,
            city: None,
            category: None,
            from: DateTime::<Utc>::UNIX_EPOCH,
            to: None,
            status,
            organizer_id: None,
            after: None,
            limit: 1000,
        };
        n += app.state.store.list_events(&f).await.unwrap().len();
    }
    n
}

#[tokio::test]
async fn create_edit_add_types_publish_cancel() {
    for app in apps().await {
        let r = app
            .admin_json(Method::POST, "/v1/events", &event_body())
            .await;
        assert_eq!(r.status(), 201);
        let location = r.headers()["location"].to_str().unwrap().to_string();
        let event: Value = r.json().await.unwrap();
        let id = event["id"].as_str().unwrap();
        assert_eq!(location, format!("/v1/events/{id}"));
        assert_eq!(event["status"], "draft");
        assert_eq!(event["ticket_types"], json!([]));

        let r = app
            .admin_json(
                Method::PATCH,
                &format!("/v1/events/{id}"),
                &json!({"title": "  Rust Meetup #42 ", "image_url": "https://img.test/x.png"}),
            )
            .await;
        assert_eq!(r.status(), 200);
        let edited: Value = r.json().await.unwrap();
        assert_eq!(edited["title"], "Rust Meetup #42", "trimmed");
        assert_eq!(edited["image_url"], "https://img.test/x.png");
        let r = app
            .admin_json(
                Method::PATCH,
                &format!("/v1/events/{id}"),
                &json!({"image_url": null}),
            )
            .await;
        assert_eq!(
            r.json::<Value>().await.unwrap()["image_url"],
            Value::Null,
            "null clears"
        );

        let r = app.admin_post(&format!("/v1/events/{id}/publish")).await;
        assert_eq!(problem(r, 409).await["code"], "no_ticket_types");

        let r = app
            .admin_json(
                Method::POST,
                &format!("/v1/events/{id}/ticket-types"),
                &json!({"name": "GA", "price_cents": 1500, "currency": "eur", "capacity": 100, "max_per_order": 4}),
            )
            .await;
        assert_eq!(r.status(), 201);
        let tt: Value = r.json().await.unwrap();
        assert_eq!(
            (tt["currency"].as_str(), tt["available"].as_i64()),
            (Some("EUR"), Some(100))
        );
        let tt_id = tt["id"].as_str().unwrap();

        let r = app
            .admin_json(
                Method::PATCH,
                &format!("/v1/events/{id}/ticket-types/{tt_id}"),
                &json!({"capacity": 120}),
            )
            .await;
        assert_eq!(r.json::<Value>().await.unwrap()["available"], 120);

        let r = app
            .admin_json(
                Method::POST,
                &format!("/v1/events/{id}/ticket-types"),
                &json!({"name": "VIP", "price_cents": 1, "currency": "USD", "capacity": 1}),
            )
            .await;
        assert_eq!(problem(r, 422).await["errors"][0]["field"], "currency");

        let r = app.admin_post(&format!("/v1/events/{id}/publish")).await;
        assert_eq!(r.status(), 200);
        assert_eq!(r.json::<Value>().await.unwrap()["status"], "published");

        let r = app.admin_post(&format!("/v1/events/{id}/cancel")).await;
        assert_eq!(r.json::<Value>().await.unwrap()["status"], "cancelled");
        let r = app
            .admin_json(
                Method::PATCH,
                &format!("/v1/events/{id}"),
                &json!({"title": "again"}),
            )
            .await;
        assert_eq!(problem(r, 409).await["code"], "event_cancelled");
    }
}

#[tokio::test]
async fn writes_need_a_valid_token() {
    for app in apps().await {
        let r = app
            .request(Method::POST, "/v1/events")
            .json(&event_body())
            .send()
            .await
            .unwrap();
        assert_eq!(r.headers()["www-authenticate"], "Bearer realm=\"ticketgw\"");
        assert_eq!(problem(r, 401).await["code"], "unauthorized");
        for header in [
            "Bearer wrong-token",
            "Basic dXNlcjpwYXNz",
            "Bearer",
            "Bearer ",
            "token",
        ] {
            let r = app
                .request(Method::POST, "/v1/events")
                .header("authorization", header)
                .json(&event_body())
                .send()
                .await
                .unwrap();
            assert_eq!(problem(r, 401).await["code"], "unauthorized", "{header}");
        }
        // The scheme is case-insensitive.
        let r = app
            .request(Method::POST, "/v1/events")
            .header("authorization", format!("bEaReR {}", app.admin_token))
            .json(&event_body())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 201);
        assert_eq!(stored_events(&app).await, 1);
    }
}

/// (what, body, status, code, field)
fn bad_event_bodies() -> Vec<(&'static str, Value, u16, &'static str, &'static str)> {
    let with = |k: &str, v: Value| {
        let mut b = event_body();
        b[k] = v;
        b
    };
    let without = |k: &str| {
        let mut b = event_body();
        b.as_object_mut().unwrap().remove(k);
        b
    };
    vec![
        (
            "wrong type",
            with("title", json!(42)),
            422,
            "validation_failed",
            "title",
        ),
        (
            "missing field",
            without("venue"),
            422,
            "validation_failed",
            "venue",
        ),
        (
            "unknown field (mass assignment)",
            with("status", json!("published")),
            422,
            "validation_failed",
            "status",
        ),
        (
            "organizer_id",
            with(
                "organizer_id",
                json!("018f2c1e-0000-7000-8000-000000000000"),
            ),
            422,
            "validation_failed",
            "organizer_id",
        ),
        (
            "empty title",
            with("title", json!("   ")),
            422,
            "validation_failed",
            "title",
        ),
        (
            "over-long title",
            with("title", json!("x".repeat(201))),
            422,
            "validation_failed",
            "title",
        ),
        (
            "control characters",
            with("city", json!("Ber\u{0}lin")),
            422,
            "validation_failed",
            "city",
        ),
        (
            "over-long description",
            with("description", json!("x".repeat(10_001))),
            422,
            "validation_failed",
            "description",
        ),
        (
            "unknown time zone",
            with("timezone", json!("Mars/Olympus")),
            422,
            "validation_failed",
            "timezone",
        ),
        (
            "ends before it starts",
            with("ends_at", json!(days_from_now(2))),
            422,
            "validation_failed",
            "ends_at",
        ),
        (
            "time without offset",
            with("starts_at", json!("2030-01-01T10:00:00")),
            422,
            "validation_failed",
            "starts_at",
        ),
        (
            "not a time",
            with("starts_at", json!("tomorrow")),
            422,
            "validation_failed",
            "starts_at",
        ),
        (
            "absurd year",
            with("ends_at", json!("9999-01-01T00:00:00Z")),
            422,
            "validation_failed",
            "ends_at",
        ),
        (
            "bad image URL",
            with("image_url", json!("javascript:alert(1)")),
            422,
            "validation_failed",
            "image_url",
        ),
    ]
}

#[tokio::test]
async fn bad_event_input_is_rejected_and_nothing_is_written() {
    for app in apps().await {
        for (what, body, status, code, field) in bad_event_bodies() {
            let r = app.admin_json(Method::POST, "/v1/events", &body).await;
            let p = problem(r, status).await;
            assert_eq!(p["code"], code, "{what}: {p}");
            let fields: Vec<&str> = p["errors"]
                .as_array()
                .unwrap()
                .iter()
                .map(|e| e["field"].as_str().unwrap())
                .collect();
            assert!(
                fields.contains(&field),
                "{what}: expected field {field} in {p}"
            );
            assert!(
                !p.to_string().contains("sqlx"),
                "{what}: leaks internals: {p}"
            );
        }
        let raw = |body: &'static str, ct: &'static str| {
            app.request(Method::POST, "/v1/events")
                .bearer_auth(&app.admin_token)
                .header("content-type", ct)
                .body(body)
                .send()
        };
        let p = problem(raw("{\"title\": ", "application/json").await.unwrap(), 400).await;
        assert_eq!(p["code"], "malformed_json");
        let p = problem(raw("[1, 2]", "application/json").await.unwrap(), 422).await;
        assert_eq!(p["code"], "validation_failed");
        let p = problem(raw("{}", "text/plain").await.unwrap(), 415).await;
        assert_eq!(p["code"], "unsupported_media_type");
        let huge = json!({"title": "x".repeat(70 * 1024)});
        let p = problem(app.admin_json(Method::POST, "/v1/events", &huge).await, 413).await;
        assert_eq!(p["code"], "payload_too_large");
        assert_eq!(stored_events(&app).await, 0, "nothing was written");
    }
}

#[tokio::test]
async fn bad_ticket_type_input_is_rejected_and_nothing_is_written() {
    for app in apps().await {
        let (id, _) = app.create_event("E", 5).await;
        let base =
            json!({"name": "Balcony", "price_cents": 1000, "currency": "EUR", "capacity": 10});
        let with = |k: &str, v: Value| {
            let mut b = base.clone();
            b[k] = v;
            b
        };
        let cases = [
            (
                "negative price",
                with("price_cents", json!(-1)),
                "price_cents",
            ),
            (
                "fractional price",
                with("price_cents", json!(10.5)),
                "price_cents",
            ),
            (
                "price as string",
                with("price_cents", json!("10")),
                "price_cents",
            ),
            ("negative capacity", with("capacity", json!(-5)), "capacity"),
            (
                "huge capacity",
                with("capacity", json!(10_000_000_000i64)),
                "capacity",
            ),
            (
                "unknown currency",
                with("currency", json!("XYZ")),
                "currency",
            ),
            (
                "currency not a code",
                with("currency", json!("euro")),
                "currency",
            ),
            (
                "zero per order",
                with("max_per_order", json!(0)),
                "max_per_order",
            ),
            (
                "over-long name",
                with("name", json!("n".repeat(101))),
                "name",
            ),
            (
                "sales window reversed",
                {
                    let mut b = with("sales_start", json!(days_from_now(2)));
                    b["sales_end"] = json!(days_from_now(1));
                    b
                },
                "sales_end",
            ),
            ("unknown field", with("sold", json!(5)), "sold"),
        ];
        for (what, body, field) in cases {
            let r = app
                .admin_json(
                    Method::POST,
                    &format!("/v1/events/{id}/ticket-types"),
                    &body,
                )
                .await;
            let p = problem(r, 422).await;
            assert_eq!(p["errors"][0]["field"], field, "{what}: {p}");
        }
        let dup = json!({"name": "GA", "price_cents": 1, "currency": "EUR", "capacity": 1});
        let r = app
            .admin_json(Method::POST, &format!("/v1/events/{id}/ticket-types"), &dup)
            .await;
        assert_eq!(problem(r, 409).await["code"], "duplicate_name");
        let event = app
            .state
            .store
            .get_event(id.parse().unwrap(), tg_store::Scope::All)
            .await
            .unwrap();
        assert_eq!(
            event.ticket_types.len(),
            1,
            "only the ticket type from create_event exists"
        );
    }
}

#[tokio::test]
async fn ids_and_routes() {
    for app in apps().await {
        let r = app
            .admin_json(
                Method::PATCH,
                "/v1/events/not-a-uuid",
                &json!({"title": "x"}),
            )
            .await;
        let p = problem(r, 400).await;
        assert_eq!(
            (p["code"].as_str(), p["errors"][0]["field"].as_str()),
            (Some("invalid_path_parameter"), Some("id"))
        );
        let r = app
            .admin_json(
                Method::PATCH,
                "/v1/events/018f2c1e-0000-7000-8000-000000000000",
                &json!({"title": "x"}),
            )
            .await;
        assert_eq!(problem(r, 404).await["code"], "not_found");
        let (id, _) = app.create_event("E", 5).await;
        let r = app
            .admin_json(
                Method::PATCH,
                &format!("/v1/events/{id}/ticket-types/nope"),
                &json!({"capacity": 1}),
            )
            .await;
        assert_eq!(
            problem(r, 400).await["errors"][0]["field"],
            "ticket_type_id"
        );
        let r = app
            .admin_json(Method::PATCH, &format!("/v1/events/{id}"), &json!({}))
            .await;
        assert_eq!(problem(r, 422).await["errors"][0]["field"], "body");
        let r = app.request(Method::PUT, "/v1/events").send().await.unwrap();
        assert_eq!(problem(r, 405).await["code"], "method_not_allowed");
        let r = app.get("/v1/nothing-here").await;
        assert_eq!(problem(r, 404).await["code"], "not_found");
    }
}
