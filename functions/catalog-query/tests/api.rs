//! catalog-query over HTTP on every backend: the public list (filters,
//! order, pagination, bad parameters) and event reads (draft visibility).

#![allow(clippy::unwrap_used)]

use chrono::{Duration, Utc};
use reqwest::Method;
use serde_json::Value;
use tg_store::{Currency, DEFAULT_HOLD_MINUTES, NewEvent, NewTicketType, NewUser, Role, Scope};
use tg_testkit::{TestApp, TestDb, problem, spawn_app};
use uuid::Uuid;

async fn apps() -> Vec<TestApp> {
    let mut apps = Vec::new();
    for db in TestDb::all().await {
        apps.push(spawn_app(db, catalog_query::router).await);
    }
    apps
}

async fn seed(app: &TestApp, title: &str, city: &str, days: i64, publish: bool) -> Uuid {
    let store = &app.state.store;
    let org = store
        .upsert_user(&NewUser {
            iss: "https://idp.test".into(),
            sub: "org".into(),
            email: None,
            name: "Org".into(),
            roles: vec![Role::Organizer],
        })
        .await
        .unwrap();
    let starts_at = tg_store::truncate_micros(Utc::now() + Duration::days(days));
    let e = store
        .create_event(
            org.id,
            &NewEvent {
                title: title.into(),
                description: "".into(),
                venue: "Hall".into(),
                city: city.into(),
                category: "music".into(),
                timezone: "Europe/Berlin".into(),
                image_url: None,
                starts_at,
                ends_at: starts_at + Duration::hours(2),
                hold_minutes: DEFAULT_HOLD_MINUTES,
                refund_cutoff_hours: None,
            },
        )
        .await
        .unwrap();
    store
        .add_ticket_type(
            e.id,
            Scope::All,
            &NewTicketType {
                name: "GA".into(),
                price_cents: 4200,
                currency: Currency::parse("EUR").unwrap(),
                capacity: 50,
                max_per_order: 5,
                sales_start: None,
                sales_end: None,
            },
        )
        .await
        .unwrap();
    if publish {
        store
            .publish_event(e.id, Scope::All, Utc::now())
            .await
            .unwrap();
    }
    e.id
}

fn titles(page: &Value) -> Vec<String> {
    page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["title"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn lists_published_events_soonest_first_with_pages() {
    for app in apps().await {
        for (i, city) in ["Berlin", "Lisbon", "Berlin", "Tokyo", "Berlin"]
            .iter()
            .enumerate()
        {
            seed(&app, &format!("Show {i}"), city, 5 - i as i64, true).await;
        }
        seed(&app, "Hidden draft", "Berlin", 1, false).await;
        let page: Value = app.get("/v1/events").await.json().await.unwrap();
        assert_eq!(
            titles(&page),
            ["Show 4", "Show 3", "Show 2", "Show 1", "Show 0"]
        );
        assert_eq!(page["next_cursor"], Value::Null);
        let ev = &page["items"][0];
        assert_eq!(ev["ticket_types"][0]["available"], 50);
        assert_eq!(ev["ticket_types"][0]["price_cents"], 4200);
        assert_eq!(ev["ticket_types"][0]["currency"], "EUR");

        // Pages of two, following next_cursor.
        let mut seen = Vec::new();
        let mut url = "/v1/events?limit=2".to_string();
        loop {
            let page: Value = app.get(&url).await.json().await.unwrap();
            seen.extend(titles(&page));
            match page["next_cursor"].as_str() {
                Some(c) => url = format!("/v1/events?limit=2&cursor={c}"),
                None => break,
            }
        }
        assert_eq!(seen, ["Show 4", "Show 3", "Show 2", "Show 1", "Show 0"]);

        let page: Value = app
            .get("/v1/events?city=berlin")
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(titles(&page), ["Show 4", "Show 2", "Show 0"]);
        let page: Value = app.get("/v1/events?q=show%203").await.json().await.unwrap();
        assert_eq!(titles(&page), ["Show 3"]);
        let to = (Utc::now() + Duration::days(2) + Duration::hours(12)).to_rfc3339();
        let page: Value = app
            .get(&format!("/v1/events?to={}", to.replace('+', "%2B")))
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(titles(&page), ["Show 4", "Show 3"]);
        let page: Value = app
            .get("/v1/events?category=sports")
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(page["items"], serde_json::json!([]));
    }
}

#[tokio::test]
async fn bad_list_parameters_are_400_naming_the_parameter() {
    for app in apps().await {
        for (query, field) in [
            ("limit=0", "limit"),
            ("limit=101", "limit"),
            ("limit=ten", "limit"),
            ("cursor=not-a-cursor", "cursor"),
            ("cursor=WzEsMl0", "cursor"),
            ("from=yesterday", "from"),
            ("from=2030-01-02T00:00:00Z&to=2030-01-01T00:00:00Z", "to"),
            ("sort=price", "sort"),
        ] {
            let p = problem(app.get(&format!("/v1/events?{query}")).await, 400).await;
            assert_eq!(p["errors"][0]["field"], field, "{query}: {p}");
        }
        let long = "x".repeat(201);
        let p = problem(app.get(&format!("/v1/events?q={long}")).await, 400).await;
        assert_eq!(p["errors"][0]["field"], "q");
    }
}

#[tokio::test]
async fn reads_one_event_and_hides_drafts() {
    for app in apps().await {
        let published = seed(&app, "Open", "Berlin", 3, true).await;
        let draft = seed(&app, "Draft", "Berlin", 3, false).await;
        let r = app.get(&format!("/v1/events/{published}")).await;
        assert_eq!(r.status(), 200);
        let e: Value = r.json().await.unwrap();
        assert_eq!(e["status"], "published");
        for key in [
            "id",
            "title",
            "description",
            "venue",
            "city",
            "category",
            "starts_at",
            "ends_at",
            "organizer_id",
            "ticket_types",
        ] {
            assert!(e.get(key).is_some(), "missing {key}");
        }
        for key in [
            "id",
            "name",
            "price_cents",
            "currency",
            "capacity",
            "available",
            "max_per_order",
            "sales_start",
            "sales_end",
        ] {
            assert!(
                e["ticket_types"][0].get(key).is_some(),
                "missing ticket_types[].{key}"
            );
        }
        let p = problem(app.get(&format!("/v1/events/{draft}")).await, 404).await;
        assert_eq!(p["code"], "not_found");
        let r = app
            .request(Method::GET, &format!("/v1/events/{draft}"))
            .bearer_auth(&app.admin_token)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "admins see drafts");
        let r = app
            .request(Method::GET, &format!("/v1/events/{published}"))
            .bearer_auth("forged")
            .send()
            .await
            .unwrap();
        assert_eq!(
            problem(r, 401).await["code"],
            "unauthorized",
            "a bad token is never treated as anonymous"
        );
        let p = problem(app.get("/v1/events/12345").await, 400).await;
        assert_eq!(p["code"], "invalid_path_parameter");
        let p = problem(
            app.get(&format!("/v1/events/{}", Uuid::now_v7())).await,
            404,
        )
        .await;
        assert_eq!(p["code"], "not_found");
    }
}
