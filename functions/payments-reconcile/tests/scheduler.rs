//! Only the scheduler runs a reconciliation pass: `POST /` needs
//! `TICKETGW_SCHEDULER_TOKEN` (`ce-schedulertoken` from the PingSource, or
//! `X-Scheduler-Token`); otherwise 401 before anything runs.

#![allow(clippy::unwrap_used)]

use tg_testkit::{TestDb, spawn_app_with};

const TOKEN: &str = "sched-0123456789abcdef0123456789abcdef";

#[tokio::test]
async fn passes_run_only_for_the_scheduler() {
    let app = spawn_app_with(
        TestDb::sqlite().await,
        payments_reconcile::router,
        &[
            ("TICKETGW_SCHEDULER_TOKEN", TOKEN),
            ("TICKETGW_PAYMENT_PROVIDER", "simulated"),
        ],
    )
    .await;
    for header in [
        None,
        Some(("ce-schedulertoken", "nope")),
        Some(("x-scheduler-token", &TOKEN[..20])),
    ] {
        let mut req = app.request(reqwest::Method::POST, "/");
        if let Some((k, v)) = header {
            req = req.header(k, v);
        }
        let r = req.send().await.unwrap();
        assert_eq!(r.status().as_u16(), 401, "{header:?}");
        let body: serde_json::Value = r.json().await.unwrap();
        assert_eq!(body["code"], "unauthorized");
    }
    for h in ["ce-schedulertoken", "x-scheduler-token"] {
        let r = app
            .request(reqwest::Method::POST, "/")
            .header(h, TOKEN)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 200, "{h}");
        let report: serde_json::Value = r.json().await.unwrap();
        assert_eq!(report["checked"], 0, "{report}");
    }
}
