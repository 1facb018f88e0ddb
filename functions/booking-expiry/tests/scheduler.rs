//! Only the scheduler runs a sweep: `POST /` and `/v1/internal/expire-holds`
//! need `TICKETGW_SCHEDULER_TOKEN` (as the PingSource's CloudEvents
//! extension `ce-schedulertoken`, or `X-Scheduler-Token`); without it, 401
//! and nothing is released.

#![allow(clippy::unwrap_used)]

use chrono::{Duration, Utc};
use tg_store::{HoldItem, NewHold};
use tg_testkit::{TestDb, fixtures, spawn_app_with};

const TOKEN: &str = "sched-0123456789abcdef0123456789abcdef";

#[tokio::test]
async fn sweeps_run_only_for_the_scheduler() {
    for db in TestDb::all().await {
        let app = spawn_app_with(
            db,
            booking_expiry::router,
            &[("TICKETGW_SCHEDULER_TOKEN", TOKEN)],
        )
        .await;
        let store = app.state.store.clone();
        let (event, tt) = fixtures::published_event(&store, "Lapsed", 10).await;
        let user = fixtures::buyer(&store, "lapsed@test.example", None).await;
        store
            .hold(&NewHold {
                user_id: user,
                event_id: event,
                items: vec![HoldItem {
                    ticket_type_id: tt,
                    quantity: 2,
                }],
                max_held_per_user: 10,
                now: Utc::now() - Duration::hours(2),
            })
            .await
            .unwrap();

        let wrong = TOKEN.replace('0', "1");
        let cases: [(&str, Option<(&str, &str)>); 6] = [
            ("/", None),
            ("/", Some(("ce-schedulertoken", wrong.as_str()))),
            ("/", Some(("x-scheduler-token", ""))),
            (
                "/",
                Some((
                    "authorization",
                    "Bearer sched-0123456789abcdef0123456789abcdef",
                )),
            ),
            ("/v1/internal/expire-holds", None),
            (
                "/v1/internal/expire-holds",
                Some(("x-scheduler-token", &TOKEN[1..])),
            ),
        ];
        for (path, header) in cases {
            let mut req = app.request(reqwest::Method::POST, path);
            if let Some((k, v)) = header {
                req = req.header(k, v);
            }
            let r = req.send().await.unwrap();
            assert_eq!(r.status().as_u16(), 401, "{path} {header:?}");
            let body: serde_json::Value = r.json().await.unwrap();
            assert_eq!(body["code"], "unauthorized");
        }
        // Nothing ran: the first authenticated sweep still finds the hold.
        let r = app
            .request(reqwest::Method::POST, "/")
            .header("ce-specversion", "1.0")
            .header("ce-type", "dev.knative.sources.ping")
            .header("ce-schedulertoken", TOKEN)
            .json(&serde_json::json!({"task": "expire-holds"}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 200);
        let report: serde_json::Value = r.json().await.unwrap();
        assert_eq!(report["expired"], 1, "{report}");
        let r = app
            .request(reqwest::Method::POST, "/v1/internal/expire-holds")
            .header("x-scheduler-token", TOKEN)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 200);
        assert_eq!(r.json::<serde_json::Value>().await.unwrap()["expired"], 0);
    }
}

#[tokio::test]
async fn without_a_configured_token_nobody_runs_a_sweep() {
    let app = spawn_app_with(TestDb::sqlite().await, booking_expiry::router, &[]).await;
    for h in ["ce-schedulertoken", "x-scheduler-token"] {
        let r = app
            .request(reqwest::Method::POST, "/")
            .header(h, "")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 401);
    }
}
