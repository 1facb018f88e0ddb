//! The payment flow over HTTP on every backend: checkout, the simulated
//! provider's pay step and its signed webhook, Stripe (a local fake speaking
//! its wire format), replays, refunds, buyer cancellation, disputes and
//! reconciliation.

#![allow(clippy::unwrap_used)]

#[path = "../../bookings/tests/common/mod.rs"]
mod common;

use common::{available, buyer, hold_body, pay, published_event, send};
use reqwest::Method;
use serde_json::{Value, json};
use tg_payments::fake::FakeStripe;
use tg_platform::AppState;
use tg_testkit::{TestApp, TestDb, spawn_app_with};

const WHSEC: &str = "whsec_test_current";
const WHSEC_OLD: &str = "whsec_test_previous";

async fn app(db: TestDb, env: &[(&str, &str)]) -> TestApp {
    let mut env = env.to_vec();
    if !env.iter().any(|(k, _)| *k == "TICKETGW_PAYMENT_PROVIDER") {
        env.push(("TICKETGW_PAYMENT_PROVIDER", "simulated"));
    }
    spawn_app_with(
        db,
        |s: AppState| {
            bookings::router(s.clone())
                .merge(payments::router(s.clone()))
                .merge(catalog_query::router(s.clone()))
                .merge(catalog_manage::router(s))
        },
        &env,
    )
    .await
}

async fn stripe_app(db: TestDb, fake: &FakeStripe) -> TestApp {
    let base = fake.base_url();
    let secrets = format!("{WHSEC},{WHSEC_OLD}");
    app(
        db,
        &[
            ("TICKETGW_PAYMENT_PROVIDER", "stripe"),
            ("TICKETGW_STRIPE_API_KEY", fake.api_key()),
            ("TICKETGW_STRIPE_WEBHOOK_SECRETS", &secrets),
            ("TICKETGW_STRIPE_BASE_URL", &base),
        ],
    )
    .await
}

/// A held booking of 2 tickets (2 x 2500 EUR cents); returns (organizer
/// token, event, ticket type, buyer token, booking id).
async fn held(app: &TestApp, extra: Value) -> (String, String, String, String, String) {
    let (org, event, tts) = published_event(app, &[("GA", 10, 4)], extra).await;
    let (_, token) = buyer(app).await;
    let r = send(
        app,
        &token,
        Method::POST,
        "/v1/bookings",
        Some(&hold_body(&event, &[(&tts[0], 2)])),
    )
    .await;
    assert_eq!(r.0, 201, "{}", r.1);
    let id = r.1["id"].as_str().unwrap().to_string();
    (org, event, tts[0].clone(), token, id)
}

async fn outbox_types(app: &TestApp, key: &str) -> Vec<String> {
    app.state
        .store
        .outbox_after(0, 10_000)
        .await
        .unwrap()
        .into_iter()
        .filter(|e| e.partition_key == key)
        .map(|e| e.event_type)
        .collect()
}

#[tokio::test]
async fn simulated_checkout_pay_and_confirm() {
    for db in TestDb::all().await {
        let app = app(db, &[]).await;
        let (_, event, _, token, booking) = held(&app, json!({})).await;
        let path = format!("/v1/bookings/{booking}/checkout");
        let r = send(&app, &token, Method::POST, &path, None).await;
        assert_eq!(r.0, 201, "{}", r.1);
        assert_eq!(r.1["provider"], "simulated");
        assert_eq!(r.1["status"], "requires_payment");
        assert_eq!(r.1["amount_cents"], 5000);
        assert_eq!(r.1["currency"], "EUR");
        assert!(r.1["client_secret"].is_string());
        let redirect = r.1["redirect_url"].as_str().unwrap().to_string();
        let payment_id = r.1["payment_id"].as_str().unwrap().to_string();
        // Checkout again: the same payment (one provider payment per booking).
        let again = send(&app, &token, Method::POST, &path, None).await;
        assert_eq!((again.0, &again.1["payment_id"]), (201, &r.1["payment_id"]));
        // Someone else's booking: not found.
        let (_, other) = buyer(&app).await;
        assert_eq!(send(&app, &other, Method::POST, &path, None).await.0, 404);

        // The hosted pay page, then "Pay".
        let sim = redirect.rsplit('/').next().unwrap().to_string();
        let page = app.get(&format!("/v1/payments/simulated/{sim}")).await;
        assert_eq!(page.status(), 200);
        assert!(page.text().await.unwrap().contains("Simulated payment"));
        let r = app
            .request(
                Method::POST,
                &format!("/v1/payments/simulated/{sim}/succeed"),
            )
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        assert_eq!(r.json::<Value>().await.unwrap()["outcome"], "applied");

        let b = send(
            &app,
            &token,
            Method::GET,
            &format!("/v1/bookings/{booking}"),
            None,
        )
        .await
        .1;
        assert_eq!(b["status"], "confirmed");
        let e = app
            .state
            .store
            .get_event(event.parse().unwrap(), tg_store::Scope::All)
            .await
            .unwrap();
        assert_eq!((e.ticket_types[0].sold, e.ticket_types[0].held), (2, 0));
        assert_eq!(
            outbox_types(&app, &booking).await,
            ["booking.held", "booking.confirmed"]
        );
        let p = send(
            &app,
            &token,
            Method::GET,
            &format!("/v1/payments/{payment_id}"),
            None,
        )
        .await;
        assert_eq!((p.0, p.1["status"].clone()), (200, json!("succeeded")));
        // Paid: no second checkout, no second settlement.
        let r = send(&app, &token, Method::POST, &path, None).await;
        assert_eq!((r.0, r.1["code"].clone()), (409, json!("already_paid")));
        let r = app
            .request(
                Method::POST,
                &format!("/v1/payments/simulated/{sim}/succeed"),
            )
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 409);
        assert_eq!(
            outbox_types(&app, &booking).await,
            ["booking.held", "booking.confirmed"]
        );
    }
}

#[tokio::test]
async fn a_declined_card_keeps_the_hold() {
    for db in TestDb::all().await {
        let app = app(db, &[]).await;
        let (_, _, _, token, booking) = held(&app, json!({})).await;
        let r = send(
            &app,
            &token,
            Method::POST,
            &format!("/v1/bookings/{booking}/checkout"),
            None,
        )
        .await;
        let sim = r.1["redirect_url"]
            .as_str()
            .unwrap()
            .rsplit('/')
            .next()
            .unwrap()
            .to_string();
        let r = app
            .request(Method::POST, &format!("/v1/payments/simulated/{sim}/fail"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        let b = send(
            &app,
            &token,
            Method::GET,
            &format!("/v1/bookings/{booking}"),
            None,
        )
        .await
        .1;
        assert_eq!(b["status"], "held");
        let p = app
            .state
            .store
            .payment_for_booking(booking.parse().unwrap())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(p.status, tg_store::PaymentState::Failed);
        assert!(p.last_error.unwrap().contains("declined"));
        // Another card works.
        let r = app
            .request(
                Method::POST,
                &format!("/v1/payments/simulated/{sim}/succeed"),
            )
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        let b = send(
            &app,
            &token,
            Method::GET,
            &format!("/v1/bookings/{booking}"),
            None,
        )
        .await
        .1;
        assert_eq!(b["status"], "confirmed");
    }
}

#[tokio::test]
async fn stripe_checkout_webhooks_replays_and_rotation() {
    for db in TestDb::all().await {
        let fake = FakeStripe::start().await.unwrap();
        let app = stripe_app(db, &fake).await;
        let (_, _, _, token, booking) = held(&app, json!({})).await;
        let path = format!("/v1/bookings/{booking}/checkout");
        let r = send(&app, &token, Method::POST, &path, None).await;
        assert_eq!(r.0, 201, "{}", r.1);
        assert_eq!(r.1["provider"], "stripe");
        assert!(r.1["client_secret"].as_str().unwrap().contains("_secret_"));
        send(&app, &token, Method::POST, &path, None).await;
        assert_eq!(
            fake.payment_intents_count(),
            1,
            "one PaymentIntent per booking"
        );
        let p = app
            .state
            .store
            .payment_for_booking(booking.parse().unwrap())
            .await
            .unwrap()
            .unwrap();

        // The webhook, signed with the previous secret (rotation in progress).
        fake.succeed(&p.provider_payment_id);
        let (sig, body) = fake.signed_event(
            WHSEC_OLD,
            "payment_intent.succeeded",
            &p.provider_payment_id,
        );
        let post = |sig: String, body: Vec<u8>| {
            app.request(Method::POST, "/v1/payments/webhooks/stripe")
                .header("stripe-signature", sig)
                .header("content-type", "application/json")
                .body(body)
                .send()
        };
        let r = post(sig.clone(), body.clone()).await.unwrap();
        assert_eq!(r.status(), 200);
        assert_eq!(r.json::<Value>().await.unwrap()["outcome"], "applied");
        // The same delivery again: a no-op 200.
        let r = post(sig, body).await.unwrap();
        assert_eq!(r.json::<Value>().await.unwrap()["outcome"], "duplicate");
        // A late "failed" cannot undo the success.
        let (sig, body) = fake.signed_event(
            WHSEC,
            "payment_intent.payment_failed",
            &p.provider_payment_id,
        );
        let r = post(sig, body).await.unwrap();
        assert_eq!(r.json::<Value>().await.unwrap()["outcome"], "stale");
        let b = send(
            &app,
            &token,
            Method::GET,
            &format!("/v1/bookings/{booking}"),
            None,
        )
        .await
        .1;
        assert_eq!(b["status"], "confirmed");
        assert_eq!(
            outbox_types(&app, &booking).await,
            ["booking.held", "booking.confirmed"]
        );
        // Not the configured provider's route.
        let r = app
            .request(Method::POST, "/v1/payments/webhooks/simulated")
            .body("{}")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 404);
    }
}

/// Every row a webhook could write or change: provider events seen, outbox
/// events, refunds, and the payments and bookings as they stand.
async fn write_marks(app: &TestApp) -> Vec<String> {
    const SQL: &str = "SELECT 'payment_events', COUNT(*) FROM payment_events \
        UNION ALL SELECT 'outbox', COUNT(*) FROM outbox \
        UNION ALL SELECT 'refunds', COUNT(*) FROM refunds \
        UNION ALL SELECT status || ':' || CAST(refunded_cents AS TEXT), COUNT(*) FROM payments GROUP BY 1 \
        UNION ALL SELECT status, COUNT(*) FROM bookings GROUP BY 1";
    macro_rules! q {
        ($pool:expr) => {{
            let pool = $pool;
            let rows: Vec<(String, i64)> = sqlx::query_as(SQL).fetch_all(&pool).await.unwrap();
            pool.close().await;
            let mut v: Vec<String> = rows.into_iter().map(|(k, n)| format!("{k}={n}")).collect();
            v.sort();
            v
        }};
    }
    match app.db.backend {
        tg_testkit::Backend::Postgres => q!(sqlx::PgPool::connect(&app.db.url).await.unwrap()),
        tg_testkit::Backend::Sqlite => q!(sqlx::SqlitePool::connect(&app.db.url).await.unwrap()),
    }
}

#[tokio::test]
async fn five_hundred_tampered_webhooks_are_refused_and_write_nothing() {
    for db in TestDb::all().await {
        let fake = FakeStripe::start().await.unwrap();
        let app = stripe_app(db, &fake).await;
        let (_, _, _, token, booking) = held(&app, json!({})).await;
        send(
            &app,
            &token,
            Method::POST,
            &format!("/v1/bookings/{booking}/checkout"),
            None,
        )
        .await;
        let p = app
            .state
            .store
            .payment_for_booking(booking.parse().unwrap())
            .await
            .unwrap()
            .unwrap();
        fake.succeed(&p.provider_payment_id);
        let now = chrono::Utc::now().timestamp();
        let body = fake.event_body("payment_intent.succeeded", &p.provider_payment_id, now);
        let sign = |secret: &str, t: i64, b: &[u8]| tg_payments::signature::sign(secret, t, b);
        let good = sign(WHSEC, now, &body);
        let mut corpus: Vec<(Option<String>, Vec<u8>)> = Vec::new();
        // One byte of the body changed, at 400 positions.
        for i in 0..400 {
            let mut b = body.clone();
            let pos = (i * 7919) % b.len();
            b[pos] = b[pos].wrapping_add(1 + (i % 3) as u8);
            corpus.push((Some(format!("t={now},v1={good}")), b));
        }
        let variants = [
            format!("t={now},v1={}", sign("whsec_wrong", now, &body)),
            format!("t={now}"),
            format!("t={now},v0={good}"),
            // Signed 301 s before / after the moment it is sent (set below).
            "STALE-301".to_string(),
            "FUTURE-301".to_string(),
            format!("t={now},t={now},v1={good}"),
            format!("v1={good}"),
            format!("t=abc,v1={good}"),
            format!("t={now},v1={}", &good[..good.len() - 1]),
            format!("t={now},v1={}Z", &good[..good.len() - 1]),
            String::new(),
            "garbage".into(),
            format!("t={},v1={good}", now + 1),
        ];
        for (i, v) in variants.iter().enumerate() {
            for j in 0..8 {
                let header = if j % 2 == 0 {
                    v.clone()
                } else {
                    format!("{v},")
                };
                corpus.push((Some(header), body.clone()));
                let _ = i;
            }
        }
        for _ in 0..10 {
            corpus.push((None, body.clone()));
        }
        assert!(corpus.len() >= 500, "{}", corpus.len());
        let before = write_marks(&app).await;
        for (sig, b) in corpus {
            let mut req = app
                .request(Method::POST, "/v1/payments/webhooks/stripe")
                .header("content-type", "application/json")
                .body(b);
            if let Some(s) = sig {
                // Out of tolerance relative to when it is sent, however slow
                // the test runs.
                let sent = chrono::Utc::now().timestamp();
                let s = match s.trim_end_matches(',') {
                    "STALE-301" => {
                        format!("t={},v1={}", sent - 301, sign(WHSEC, sent - 301, &body))
                    }
                    // Timestamps are whole seconds: the server's clock may
                    // already read `sent + 1`, so 302 is "301 s ahead" for sure.
                    "FUTURE-301" => {
                        format!("t={},v1={}", sent + 302, sign(WHSEC, sent + 302, &body))
                    }
                    _ => s,
                };
                req = req.header("stripe-signature", s);
            }
            let r = req.send().await.unwrap();
            assert_eq!(r.status(), 400);
            let p: Value = r.json().await.unwrap();
            assert!(
                ["invalid_signature", "invalid_payload"].contains(&p["code"].as_str().unwrap()),
                "{p}"
            );
        }
        assert_eq!(write_marks(&app).await, before, "nothing written");
        let p2 = app
            .state
            .store
            .payment_for_booking(booking.parse().unwrap())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(p2.status, p.status);
        // Negative control: the untouched webhook is accepted and does write.
        let r = app
            .request(Method::POST, "/v1/payments/webhooks/stripe")
            .header("stripe-signature", format!("t={now},v1={good}"))
            .body(body.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        assert_ne!(write_marks(&app).await, before);
    }
}

#[tokio::test]
async fn fifty_refunds_at_once_give_one() {
    for db in TestDb::all().await {
        let app = app(db, &[]).await;
        let (org, event, _, token, booking) = held(&app, json!({})).await;
        let r = pay(&app, &token, &booking).await;
        let payment_id = r.1["payment_id"].as_str().unwrap().to_string();
        // The buyer may not refund; another organizer cannot see it.
        let path = format!("/v1/payments/{payment_id}/refund");
        assert_eq!(send(&app, &token, Method::POST, &path, None).await.0, 403);
        let (other_org, _, _) = published_event(&app, &[("X", 1, 1)], json!({})).await;
        assert_eq!(
            send(&app, &other_org, Method::POST, &path, None).await.0,
            404
        );
        // Too much: refused, nothing reserved.
        let r = send(
            &app,
            &org,
            Method::POST,
            &path,
            Some(&json!({"amount_cents": 5001})),
        )
        .await;
        assert_eq!(
            (r.0, r.1["code"].clone()),
            (409, json!("refund_exceeds_payment"))
        );
        let mut set = tokio::task::JoinSet::new();
        for _ in 0..50 {
            let req = app.request(Method::POST, &path).bearer_auth(&org);
            set.spawn(async move { req.send().await.unwrap().status().as_u16() });
        }
        let mut codes = Vec::new();
        while let Some(c) = set.join_next().await {
            codes.push(c.unwrap());
        }
        assert_eq!(codes.iter().filter(|c| **c == 201).count(), 1, "{codes:?}");
        assert_eq!(codes.iter().filter(|c| **c == 409).count(), 49, "{codes:?}");
        let p = send(
            &app,
            &org,
            Method::GET,
            &format!("/v1/payments/{payment_id}"),
            None,
        )
        .await
        .1;
        assert_eq!(p["status"], "refunded");
        assert_eq!(p["refunded_cents"], 5000);
        assert_eq!(p["refunds"].as_array().unwrap().len(), 1);
        // The tickets are back on sale; the booking reads refunded.
        assert_eq!(available(&app, &event).await, vec![10]);
        let b = send(
            &app,
            &token,
            Method::GET,
            &format!("/v1/bookings/{booking}"),
            None,
        )
        .await
        .1;
        assert_eq!(b["status"], "refunded");
        let types = outbox_types(&app, &booking).await;
        assert_eq!(
            types,
            [
                "booking.held",
                "booking.confirmed",
                "booking.refunded",
                "payment.refunded"
            ]
        );
        racy_refunds_negative_control(&app).await;
    }
}

/// Negative control: refunding by "read what is left, then write" without
/// the payment's row lock lets several full refunds through, and the count
/// the test above asserts on catches it.
async fn racy_refunds_negative_control(app: &TestApp) {
    let (_, _, _, token, booking) = held(app, json!({})).await;
    let r = pay(app, &token, &booking).await;
    let pay: uuid::Uuid = r.1["payment_id"].as_str().unwrap().parse().unwrap();
    macro_rules! racy {
        ($pool:expr) => {{
            let pool = $pool;
            let barrier = std::sync::Arc::new(tokio::sync::Barrier::new(50));
            let mut set = tokio::task::JoinSet::new();
            for _ in 0..50 {
                let (pool, barrier) = (pool.clone(), barrier.clone());
                set.spawn(async move {
                    barrier.wait().await;
                    let (left,): (i64,) =
                        sqlx::query_as("SELECT amount_cents - refunded_cents FROM payments WHERE id = $1")
                            .bind(pay)
                            .fetch_one(&pool)
                            .await
                            .unwrap();
                    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                    if left > 0 {
                        let now = chrono::Utc::now();
                        sqlx::query(
                            "INSERT INTO refunds (id, payment_id, amount_cents, status, reason, created_at, updated_at) \
                             VALUES ($1, $2, $3, 'pending', 'racy', $4, $4)",
                        )
                        .bind(uuid::Uuid::now_v7())
                        .bind(pay)
                        .bind(left)
                        .bind(now)
                        .execute(&pool)
                        .await
                        .unwrap();
                    }
                });
            }
            while let Some(r) = set.join_next().await {
                r.unwrap();
            }
            pool.close().await;
        }};
    }
    match app.db.backend {
        tg_testkit::Backend::Postgres => racy!(sqlx::PgPool::connect(&app.db.url).await.unwrap()),
        tg_testkit::Backend::Sqlite => racy!(
            sqlx::sqlite::SqlitePoolOptions::new()
                .max_connections(10)
                .connect_with(
                    app.db
                        .url
                        .parse::<sqlx::sqlite::SqliteConnectOptions>()
                        .unwrap()
                        .busy_timeout(std::time::Duration::from_secs(30)),
                )
                .await
                .unwrap()
        ),
    }
    let refunds = app.state.store.refunds_of(pay).await.unwrap();
    assert!(
        refunds.len() > 1,
        "the unguarded refund path refunds more than once"
    );
}

#[tokio::test]
async fn partial_refunds_never_exceed_the_payment() {
    for db in TestDb::all().await {
        let app = app(db, &[]).await;
        let (org, event, _, token, booking) = held(&app, json!({})).await;
        let r = pay(&app, &token, &booking).await;
        let payment_id = r.1["payment_id"].as_str().unwrap().to_string();
        let path = format!("/v1/payments/{payment_id}/refund");
        let mut set = tokio::task::JoinSet::new();
        for _ in 0..20 {
            let req = app
                .request(Method::POST, &path)
                .bearer_auth(&org)
                .json(&json!({"amount_cents": 700}));
            set.spawn(async move { req.send().await.unwrap().status().as_u16() });
        }
        let mut ok = 0;
        while let Some(c) = set.join_next().await {
            if c.unwrap() == 201 {
                ok += 1;
            }
        }
        assert_eq!(ok, 7, "7 x 700 fit in 5000, the 8th does not");
        let p = send(
            &app,
            &org,
            Method::GET,
            &format!("/v1/payments/{payment_id}"),
            None,
        )
        .await
        .1;
        assert_eq!(
            (p["status"].clone(), p["refunded_cents"].clone()),
            (json!("partially_refunded"), json!(4900))
        );
        // A partial refund keeps the tickets.
        assert_eq!(available(&app, &event).await, vec![8]);
        let r = send(
            &app,
            &org,
            Method::POST,
            &path,
            Some(&json!({"amount_cents": 0})),
        )
        .await;
        assert_eq!(r.0, 422);
    }
}

#[tokio::test]
async fn buyer_cancels_a_paid_booking_within_the_policy() {
    for db in TestDb::all().await {
        let app = app(db, &[]).await;
        for (policy, expect) in [
            (json!({"refund_cutoff_hours": 48}), 200),
            (json!({}), 409),
            (json!({"refund_cutoff_hours": 8000}), 409),
        ] {
            let (_, event, _, token, booking) = held(&app, policy).await;
            pay(&app, &token, &booking).await;
            let r = send(
                &app,
                &token,
                Method::POST,
                &format!("/v1/bookings/{booking}/cancel"),
                None,
            )
            .await;
            assert_eq!(r.0, expect, "{}", r.1);
            if expect == 200 {
                assert_eq!(r.1["status"], "refunded");
                assert_eq!(available(&app, &event).await, vec![10]);
            } else {
                assert!(
                    ["refund_not_allowed", "refund_window_closed"]
                        .contains(&r.1["code"].as_str().unwrap())
                );
                assert_eq!(available(&app, &event).await, vec![8]);
            }
        }
    }
}

#[tokio::test]
async fn a_dispute_revokes_and_reconciliation_finds_lost_webhooks() {
    for db in TestDb::all().await {
        let fake = FakeStripe::start().await.unwrap();
        let app = stripe_app(db, &fake).await;
        let (_, event, _, token, booking) = held(&app, json!({})).await;
        send(
            &app,
            &token,
            Method::POST,
            &format!("/v1/bookings/{booking}/checkout"),
            None,
        )
        .await;
        let p = app
            .state
            .store
            .payment_for_booking(booking.parse().unwrap())
            .await
            .unwrap()
            .unwrap();
        // Paid at Stripe, but the webhook is lost: reconciliation confirms.
        fake.succeed(&p.provider_payment_id);
        let report = payments::flow::reconcile(
            &app.state.store,
            app.state.payments.as_ref().unwrap().as_ref(),
            chrono::Duration::zero(),
            100,
        )
        .await
        .unwrap();
        assert_eq!((report.checked, report.updated), (1, 1));
        let b = send(
            &app,
            &token,
            Method::GET,
            &format!("/v1/bookings/{booking}"),
            None,
        )
        .await
        .1;
        assert_eq!(b["status"], "confirmed");
        // A second pass has nothing to do.
        let again = payments::flow::reconcile(
            &app.state.store,
            app.state.payments.as_ref().unwrap().as_ref(),
            chrono::Duration::zero(),
            100,
        )
        .await
        .unwrap();
        assert_eq!(again.updated, 0);
        // Then the buyer disputes the charge: the tickets are revoked.
        let (sig, body) =
            fake.signed_event(WHSEC, "charge.dispute.created", &p.provider_payment_id);
        let r = app
            .request(Method::POST, "/v1/payments/webhooks/stripe")
            .header("stripe-signature", sig)
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        let b = send(
            &app,
            &token,
            Method::GET,
            &format!("/v1/bookings/{booking}"),
            None,
        )
        .await
        .1;
        assert_eq!(b["status"], "cancelled");
        assert_eq!(available(&app, &event).await, vec![10]);
        let types = outbox_types(&app, &booking).await;
        assert_eq!(
            types,
            [
                "booking.held",
                "booking.confirmed",
                "booking.cancelled",
                "payment.disputed"
            ]
        );
    }
}

#[tokio::test]
async fn cancelling_an_event_refunds_and_releases_everything() {
    for db in TestDb::all().await {
        let app = app(db, &[]).await;
        let (org, event, tt, paid_token, paid_booking) = held(&app, json!({})).await;
        let r = pay(&app, &paid_token, &paid_booking).await;
        let payment_id = r.1["payment_id"].as_str().unwrap().to_string();
        let (_, held_token) = buyer(&app).await;
        let r = send(
            &app,
            &held_token,
            Method::POST,
            "/v1/bookings",
            Some(&hold_body(&event, &[(&tt, 3)])),
        )
        .await;
        let held_booking = r.1["id"].as_str().unwrap().to_string();
        assert_eq!(available(&app, &event).await, vec![5]);

        let r = send(
            &app,
            &org,
            Method::POST,
            &format!("/v1/events/{event}/cancel"),
            None,
        )
        .await;
        assert_eq!(
            (r.0, r.1["status"].clone()),
            (200, json!("cancelled")),
            "{}",
            r.1
        );
        let b = send(
            &app,
            &held_token,
            Method::GET,
            &format!("/v1/bookings/{held_booking}"),
            None,
        )
        .await
        .1;
        assert_eq!(b["status"], "cancelled");
        let b = send(
            &app,
            &paid_token,
            Method::GET,
            &format!("/v1/bookings/{paid_booking}"),
            None,
        )
        .await
        .1;
        assert_eq!(b["status"], "refunded");
        let p = send(
            &app,
            &org,
            Method::GET,
            &format!("/v1/payments/{payment_id}"),
            None,
        )
        .await
        .1;
        assert_eq!(
            (p["status"].clone(), p["refunded_cents"].clone()),
            (json!("refunded"), json!(5000))
        );
        assert_eq!(p["refunds"][0]["reason"], "the event was cancelled");
        let e = app
            .state
            .store
            .get_event(event.parse().unwrap(), tg_store::Scope::All)
            .await
            .unwrap();
        assert_eq!((e.ticket_types[0].sold, e.ticket_types[0].held), (0, 0));
        let tickets = app
            .state
            .store
            .tickets_of_booking(paid_booking.parse().unwrap())
            .await
            .unwrap();
        assert!(
            tickets
                .iter()
                .all(|t| t.status == tg_store::TicketStatus::Revoked)
        );
        let all = app.state.store.outbox_after(0, 1000).await.unwrap();
        assert_eq!(
            all.iter()
                .filter(|e| e.event_type == "event.cancelled")
                .count(),
            1
        );
        // Cancelling again changes nothing and refunds nothing twice.
        let r = send(
            &app,
            &org,
            Method::POST,
            &format!("/v1/events/{event}/cancel"),
            None,
        )
        .await;
        assert_eq!(r.0, 200);
        let p = send(
            &app,
            &org,
            Method::GET,
            &format!("/v1/payments/{payment_id}"),
            None,
        )
        .await
        .1;
        assert_eq!(p["refunds"].as_array().unwrap().len(), 1);
    }
}

#[tokio::test]
async fn a_free_booking_is_confirmed_at_checkout() {
    for db in TestDb::all().await {
        let fake = FakeStripe::start().await.unwrap();
        let app = stripe_app(db, &fake).await;
        let (org, event, _) = published_event(&app, &[("GA", 10, 4)], json!({})).await;
        let r = send(
            &app,
            &org,
            Method::POST,
            &format!("/v1/events/{event}/ticket-types"),
            Some(&json!({"name": "Free", "price_cents": 0, "currency": "EUR", "capacity": 5})),
        )
        .await;
        let free = r.1["id"].as_str().unwrap().to_string();
        let (_, token) = buyer(&app).await;
        let r = send(
            &app,
            &token,
            Method::POST,
            "/v1/bookings",
            Some(&hold_body(&event, &[(&free, 2)])),
        )
        .await;
        assert_eq!(r.1["total_cents"], 0);
        let booking = r.1["id"].as_str().unwrap().to_string();
        let r = send(
            &app,
            &token,
            Method::POST,
            &format!("/v1/bookings/{booking}/checkout"),
            None,
        )
        .await;
        assert_eq!(
            (r.0, r.1["status"].clone(), r.1["provider"].clone()),
            (201, json!("succeeded"), json!("free")),
            "{}",
            r.1
        );
        assert_eq!(
            fake.payment_intents_count(),
            0,
            "no provider is asked for nothing"
        );
        let b = send(
            &app,
            &token,
            Method::GET,
            &format!("/v1/bookings/{booking}"),
            None,
        )
        .await
        .1;
        assert_eq!(b["status"], "confirmed");
        assert_eq!(
            app.state
                .store
                .tickets_of_booking(booking.parse().unwrap())
                .await
                .unwrap()
                .len(),
            2
        );
        // Nothing was paid; this event has no refund policy, so the buyer
        // is told so rather than sent to a provider.
        let r = send(
            &app,
            &token,
            Method::POST,
            &format!("/v1/bookings/{booking}/cancel"),
            None,
        )
        .await;
        assert_eq!(r.1["code"], "refund_not_allowed");
        // With a refund policy the free tickets go back.
        let r = send(
            &app,
            &org,
            Method::PATCH,
            &format!("/v1/events/{event}"),
            Some(&json!({"refund_cutoff_hours": 48})),
        )
        .await;
        assert_eq!(r.0, 200, "{}", r.1);
        let r = send(
            &app,
            &token,
            Method::POST,
            &format!("/v1/bookings/{booking}/cancel"),
            None,
        )
        .await;
        assert_eq!(
            (r.0, r.1["status"].clone()),
            (200, json!("refunded")),
            "{}",
            r.1
        );
        let tickets = app
            .state
            .store
            .tickets_of_booking(booking.parse().unwrap())
            .await
            .unwrap();
        assert!(
            tickets
                .iter()
                .all(|t| t.status == tg_store::TicketStatus::Revoked)
        );
    }
}
