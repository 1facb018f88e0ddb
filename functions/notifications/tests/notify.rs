//! The notification function over HTTP, as Knative Triggers call it: both
//! CloudEvents content modes, exactly-once messages per event and
//! recipient, email content (QR inline, PDF attached), SMS through a local
//! server speaking Twilio's API, alerts through one speaking Telegram's,
//! a real SMTP server (aiosmtpd), the daily cap, and bad events.

#![allow(clippy::unwrap_used)]

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use axum::http::StatusCode;
use base64::Engine;
use serde_json::{Value, json};
use tg_events::CloudEvent;
use tg_store::{DynStore, Scope};
use tg_testkit::fixtures::{buyer, confirmed_booking, published_event};
use tg_testkit::peers::{FakeHttp, SmtpSink};
use tg_testkit::{TestApp, TestDb, spawn_app_with};

struct Setup {
    app: TestApp,
    mail_dir: PathBuf,
    _dir: tempfile::TempDir,
}

async fn setup(db: TestDb, env: &[(&str, &str)]) -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let mail_dir = dir.path().join("mail");
    let mut vars: HashMap<String, String> = env
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    vars.entry("TICKETGW_MAIL_DIR".into())
        .or_insert(mail_dir.display().to_string());
    let app = spawn_app_with(
        db,
        move |s| {
            let config =
                notifications::NotifyConfig::from_lookup(|k| vars.get(k).cloned(), &s.config)
                    .unwrap();
            notifications::router_with(Arc::new(
                notifications::Notifier::new(s.store.clone(), config).unwrap(),
            ))
        },
        &[],
    )
    .await;
    Setup {
        app,
        mail_dir,
        _dir: dir,
    }
}

/// The latest outbox event of a type, as the relay would send it.
async fn outbox_event(store: &DynStore, ty: &str) -> CloudEvent {
    let rows = store.outbox_after(0, 10_000).await.unwrap();
    let row = rows
        .iter()
        .rev()
        .find(|r| r.event_type == ty)
        .unwrap_or_else(|| panic!("no {ty} in the outbox"));
    CloudEvent::from_outbox(row)
}

async fn post_binary(app: &TestApp, path: &str, e: &CloudEvent) -> (u16, Value) {
    let (headers, body) = e.to_binary();
    let r = app
        .client
        .post(format!("{}{path}", app.base))
        .headers(headers)
        .body(body)
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

async fn post_structured(app: &TestApp, path: &str, e: &CloudEvent) -> (u16, Value) {
    let r = app
        .client
        .post(format!("{}{path}", app.base))
        .header(
            "content-type",
            "application/cloudevents+json; charset=utf-8",
        )
        .body(e.to_structured())
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

fn mails(dir: &PathBuf) -> Vec<String> {
    let mut out: Vec<String> = std::fs::read_dir(dir)
        .map(|d| {
            d.flatten()
                .filter(|e| e.path().extension().is_some_and(|x| x == "eml"))
                .map(|e| std::fs::read_to_string(e.path()).unwrap())
                .collect()
        })
        .unwrap_or_default();
    out.sort();
    out
}

#[tokio::test]
async fn a_confirmed_booking_mails_the_tickets_once_in_either_content_mode() {
    for db in TestDb::all().await {
        let backend = db.backend;
        let s = setup(db, &[]).await;
        let store = s.app.state.store.clone();
        let (event, tt) = published_event(&store, "Jazz Night", 10).await;
        let user = buyer(&store, "ada@example.test", None).await;
        confirmed_booking(&store, user, event, tt, 2).await;
        let e = outbox_event(&store, "booking.confirmed").await;

        let (status, body) = post_binary(&s.app, "/events", &e).await;
        assert_eq!(status, 200, "{backend:?}: {body}");
        assert_eq!(body["sent"], 1);
        // Redelivered, now in structured mode: nothing is sent again.
        let (status, body) = post_structured(&s.app, "/events", &e).await;
        assert_eq!(
            (status, body["sent"].as_u64(), body["duplicates"].as_u64()),
            (200, Some(0), Some(1)),
            "{body}"
        );

        let m = mails(&s.mail_dir);
        assert_eq!(m.len(), 1, "{backend:?}: one message");
        let mail = &m[0];
        assert!(
            mail.contains("To: ada <ada@example.test>") || mail.contains("ada@example.test"),
            "{mail:.400}"
        );
        assert!(mail.contains("Subject:"), "subject");
        assert!(
            mail.contains(&format!("Message-ID: <{}.", e.id)),
            "deterministic Message-ID"
        );
        assert!(mail.contains("multipart/related"), "QR codes inline");
        assert_eq!(
            mail.matches("Content-Type: image/png").count(),
            2,
            "a QR per ticket"
        );
        assert_eq!(mail.matches("Content-ID: <qr-").count(), 2);
        assert_eq!(
            mail.matches("Content-Type: application/pdf").count(),
            2,
            "a PDF per ticket"
        );
        assert!(mail.contains("text/plain") && mail.contains("text/html"));
        // The inline PNG decodes to a PNG.
        let b64: String = mail
            .split("Content-Type: image/png")
            .nth(1)
            .unwrap()
            .split("\r\n\r\n")
            .nth(1)
            .unwrap()
            .split("\r\n--")
            .next()
            .unwrap()
            .split_whitespace()
            .collect();
        let png = base64::engine::general_purpose::STANDARD
            .decode(b64)
            .unwrap();
        assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"));
    }
}

#[tokio::test]
async fn sms_goes_through_twilios_api_when_the_buyer_opted_in() {
    let twilio = FakeHttp::start(StatusCode::CREATED, r#"{"sid":"SM123","status":"queued"}"#).await;
    let s = setup(
        TestDb::sqlite().await,
        &[
            ("TICKETGW_TWILIO_ACCOUNT_SID", "AC123"),
            ("TICKETGW_TWILIO_AUTH_TOKEN", "tok-secret"),
            ("TICKETGW_TWILIO_FROM", "+15550001111"),
            ("TICKETGW_TWILIO_BASE_URL", &twilio.base),
        ],
    )
    .await;
    let store = s.app.state.store.clone();
    let (event, tt) = published_event(&store, "Opera", 10).await;
    let with_phone = buyer(&store, "sms@example.test", Some("+4915112345678")).await;
    confirmed_booking(&store, with_phone, event, tt, 1).await;
    let e = outbox_event(&store, "booking.confirmed").await;
    let (status, body) = post_binary(&s.app, "/events", &e).await;
    assert_eq!(
        (status, body["sent"].as_u64()),
        (200, Some(2)),
        "email and SMS: {body}"
    );
    let reqs = twilio.requests();
    assert_eq!(reqs.len(), 1);
    let r = &reqs[0];
    assert_eq!(r.path, "/2010-04-01/Accounts/AC123/Messages.json");
    let auth = r.headers["authorization"].to_str().unwrap();
    assert_eq!(
        auth,
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode("AC123:tok-secret")
        )
    );
    let form: HashMap<String, String> = form_urlencoded::parse(&r.body).into_owned().collect();
    assert_eq!(form["To"], "+4915112345678");
    assert_eq!(form["From"], "+15550001111");
    assert!(form["Body"].contains("Opera"), "{}", form["Body"]);
    // Redelivery: no second SMS.
    post_binary(&s.app, "/events", &e).await;
    assert_eq!(twilio.requests().len(), 1);

    // A buyer without a phone number gets no SMS (control: same path, no request).
    let no_phone = buyer(&store, "nosms@example.test", None).await;
    confirmed_booking(&store, no_phone, event, tt, 1).await;
    let e = outbox_event(&store, "booking.confirmed").await;
    let (_, body) = post_binary(&s.app, "/events", &e).await;
    assert_eq!(body["sent"], 1);
    assert_eq!(twilio.requests().len(), 1);

    // Twilio down: the event is retried (503), and sent once it is back.
    let third = buyer(&store, "retry@example.test", Some("+4915100000000")).await;
    confirmed_booking(&store, third, event, tt, 1).await;
    let e = outbox_event(&store, "booking.confirmed").await;
    twilio.set_reply(StatusCode::SERVICE_UNAVAILABLE, "{}");
    let (status, _) = post_binary(&s.app, "/events", &e).await;
    assert_eq!(status, 503);
    twilio.set_reply(StatusCode::CREATED, r#"{"sid":"SM9"}"#);
    let (status, body) = post_binary(&s.app, "/events", &e).await;
    assert_eq!(
        (status, body["sent"].as_u64(), body["duplicates"].as_u64()),
        (200, Some(1), Some(1)),
        "the email was already sent; the SMS now: {body}"
    );
}

#[tokio::test]
async fn dead_letters_alert_the_operators_on_telegram_once() {
    let telegram =
        FakeHttp::start(StatusCode::OK, r#"{"ok":true,"result":{"message_id":1}}"#).await;
    let s = setup(
        TestDb::sqlite().await,
        &[
            ("TICKETGW_TELEGRAM_BOT_TOKEN", "123:ABC"),
            ("TICKETGW_TELEGRAM_CHAT_ID", "-1001"),
            ("TICKETGW_TELEGRAM_BASE_URL", &telegram.base),
        ],
    )
    .await;
    let mut e = CloudEvent::new(
        "booking.confirmed",
        "/ticketgw/bookings",
        json!({"booking_id": "nope"}),
    );
    e.set_extension("knativeerrorcode", "503");
    e.set_extension("knativeerrordata", "booking not found");
    let (status, _) = post_binary(&s.app, "/deadletters", &e).await;
    assert_eq!(status, 202);
    let (status, _) = post_structured(&s.app, "/deadletters", &e).await;
    assert_eq!(status, 202);
    let reqs = telegram.requests();
    assert_eq!(reqs.len(), 1, "one alert per dead letter");
    assert_eq!(reqs[0].path, "/bot123:ABC/sendMessage");
    let body: Value = serde_json::from_slice(&reqs[0].body).unwrap();
    assert_eq!(body["chat_id"], "-1001");
    let text = body["text"].as_str().unwrap();
    assert!(
        text.contains("dead-lettered")
            && text.contains(&e.id)
            && text.contains("booking not found"),
        "{text}"
    );

    // A payment dispute is an ops alert too.
    let d = CloudEvent::new(
        "payment.disputed",
        "/ticketgw/payments",
        json!({"payment_id": "p1", "booking_id": "b1"}),
    );
    let (status, body) = post_binary(&s.app, "/events", &d).await;
    assert_eq!((status, body["sent"].as_u64()), (200, Some(1)));
    assert_eq!(telegram.requests().len(), 2);
}

#[tokio::test]
async fn bad_events_get_problems_and_send_nothing() {
    let s = setup(TestDb::sqlite().await, &[]).await;
    // Not a CloudEvent.
    let r = s
        .app
        .client
        .post(format!("{}/events", s.app.base))
        .json(&json!({"hello": 1}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(r.headers()["content-type"], "application/problem+json");
    let p: Value = r.json().await.unwrap();
    assert_eq!(p["code"], "invalid_cloudevent");
    // Structured, missing `type`.
    let r = s
        .app
        .client
        .post(format!("{}/events", s.app.base))
        .header("content-type", "application/cloudevents+json")
        .body(r#"{"specversion":"1.0","id":"1","source":"/x"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let p: Value = r.json().await.unwrap();
    assert!(p["detail"].as_str().unwrap().contains("type"), "{p}");
    // Data without a booking id: rejected for good (dead-lettered, not retried).
    let e = CloudEvent::new("booking.confirmed", "/ticketgw/bookings", json!({"x": 1}));
    let (status, p) = post_binary(&s.app, "/events", &e).await;
    assert_eq!(
        (status, p["code"].as_str()),
        (422, Some("event_rejected")),
        "{p}"
    );
    // A booking that does not exist (yet): retried.
    let e = CloudEvent::new(
        "booking.confirmed",
        "/ticketgw/bookings",
        json!({"booking_id": uuid::Uuid::new_v4()}),
    );
    let (status, p) = post_binary(&s.app, "/events", &e).await;
    assert_eq!(
        (status, p["code"].as_str()),
        (503, Some("retry_later")),
        "{p}"
    );
    // Types that mean nothing to people are acknowledged.
    let e = CloudEvent::new("booking.held", "/ticketgw/bookings", json!({}));
    assert_eq!(post_binary(&s.app, "/events", &e).await.0, 200);
    assert!(mails(&s.mail_dir).is_empty());
    assert_eq!(
        s.app
            .state
            .store
            .notification_count("sending")
            .await
            .unwrap(),
        0
    );
}

#[tokio::test]
async fn messages_follow_the_buyers_language() {
    let s = setup(TestDb::sqlite().await, &[]).await;
    let store = s.app.state.store.clone();
    let (event, tt) = published_event(&store, "Sommerfest", 10).await;
    let user = buyer(&store, "de@example.test", None).await;
    store
        .update_profile(
            user,
            &tg_store::ProfilePatch {
                language: Some("de".into()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    confirmed_booking(&store, user, event, tt, 1).await;
    let e = outbox_event(&store, "booking.confirmed").await;
    assert_eq!(post_binary(&s.app, "/events", &e).await.1["sent"], 1);
    let m = mails(&s.mail_dir);
    assert!(
        m[0].contains("Content-Language: de")
            || m[0].contains("lang=\"de\"")
            || m[0].contains("lang=3D\"de\""),
        "German HTML"
    );
    assert!(
        m[0].contains("kostenlos") || m[0].contains("EUR 25,00") || m[0].contains("Ihr"),
        "German text"
    );
}

#[tokio::test]
async fn a_refund_is_mailed_with_its_amount_in_the_readers_language() {
    let s = setup(TestDb::sqlite().await, &[]).await;
    let store = s.app.state.store.clone();
    let (event, tt) = published_event(&store, "Refund Gala", 10).await;
    let user = buyer(&store, "refund@example.test", None).await;
    store
        .update_profile(
            user,
            &tg_store::ProfilePatch {
                language: Some("de".into()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let booking = confirmed_booking(&store, user, event, tt, 1).await;
    let e = CloudEvent::new(
        "payment.refunded",
        "/ticketgw/payments",
        json!({"booking_id": booking, "amount_cents": 1250, "currency": "EUR", "full": false}),
    );
    let (status, body) = post_binary(&s.app, "/events", &e).await;
    assert_eq!((status, body["sent"].as_u64()), (200, Some(1)), "{body}");
    let m = mails(&s.mail_dir);
    assert_eq!(m.len(), 1);
    assert!(
        m[0].contains("EUR 12,50"),
        "German amount: {}",
        &m[0][..m[0].len().min(3000)]
    );
}

#[tokio::test]
async fn the_daily_cap_limits_messages_per_recipient() {
    let s = setup(
        TestDb::sqlite().await,
        &[("TICKETGW_NOTIFY_DAILY_CAP", "2")],
    )
    .await;
    let store = s.app.state.store.clone();
    let (event, tt) = published_event(&store, "Cap", 50).await;
    let user = buyer(&store, "busy@example.test", None).await;
    let mut sent = 0;
    let mut skipped = 0;
    for _ in 0..4 {
        confirmed_booking(&store, user, event, tt, 1).await;
        let e = outbox_event(&store, "booking.confirmed").await;
        let (_, body) = post_binary(&s.app, "/events", &e).await;
        sent += body["sent"].as_u64().unwrap();
        skipped += body["skipped"].as_u64().unwrap();
    }
    assert_eq!((sent, skipped), (2, 2));
    assert_eq!(mails(&s.mail_dir).len(), 2);
    // Another recipient is not affected.
    let other = buyer(&store, "calm@example.test", None).await;
    confirmed_booking(&store, other, event, tt, 1).await;
    let e = outbox_event(&store, "booking.confirmed").await;
    assert_eq!(post_binary(&s.app, "/events", &e).await.1["sent"], 1);
}

#[tokio::test]
async fn a_cancelled_event_tells_every_ticket_holder_once() {
    for db in TestDb::all().await {
        let s = setup(db, &[]).await;
        let store = s.app.state.store.clone();
        let (event, tt) = published_event(&store, "Festival", 50).await;
        let a = buyer(&store, "a@example.test", None).await;
        let b = buyer(&store, "b@example.test", None).await;
        let first = confirmed_booking(&store, a, event, tt, 1).await;
        confirmed_booking(&store, a, event, tt, 2).await;
        confirmed_booking(&store, b, event, tt, 1).await;
        store
            .cancel_event(event, Scope::All, chrono::Utc::now())
            .await
            .unwrap();
        let e = outbox_event(&store, "event.cancelled").await;
        let (status, body) = post_binary(&s.app, "/events", &e).await;
        assert_eq!(
            (status, body["sent"].as_u64()),
            (200, Some(3)),
            "one message per booking: {body}"
        );
        assert_eq!(post_binary(&s.app, "/events", &e).await.1["duplicates"], 3);
        // A refund of a cancelled event's booking sends nothing more (the
        // cancellation message covers it).
        let c = CloudEvent::new(
            "payment.refunded",
            "/ticketgw/payments",
            json!({"booking_id": first, "amount_cents": 2500, "currency": "EUR", "full": true}),
        );
        let body = post_binary(&s.app, "/events", &c).await.1;
        assert_eq!(
            (body["sent"].as_u64(), body["skipped"].as_u64()),
            (Some(0), Some(1)),
            "{body}"
        );
        assert_eq!(mails(&s.mail_dir).len(), 3);
    }
}

#[tokio::test]
async fn mail_goes_through_a_real_smtp_server() {
    let Some(sink) = SmtpSink::start(false).await else {
        return;
    };
    let s = setup(
        TestDb::sqlite().await,
        &[("TICKETGW_SMTP_URL", &sink.url())],
    )
    .await;
    let store = s.app.state.store.clone();
    let (event, tt) = published_event(&store, "Quartet", 10).await;
    let user = buyer(&store, "smtp@example.test", None).await;
    confirmed_booking(&store, user, event, tt, 1).await;
    let e = outbox_event(&store, "booking.confirmed").await;
    let (status, body) = post_binary(&s.app, "/events", &e).await;
    assert_eq!((status, body["sent"].as_u64()), (200, Some(1)), "{body}");
    post_binary(&s.app, "/events", &e).await;
    let records = sink.records();
    assert_eq!(records.len(), 1, "{records:?}");
    assert_eq!(records[0].to, vec!["smtp@example.test".to_string()]);
    assert!(
        records[0]
            .message_id
            .as_deref()
            .unwrap_or("")
            .starts_with(&format!("<{}.", e.id))
    );
    assert!(records[0].size > 5_000, "attachments travelled");
    assert!(
        mails(&s.mail_dir).is_empty(),
        "no files when SMTP is configured"
    );
    sink.stop().await;

    // The SMTP server gone: 503 (retry), and the claim is released.
    let s2 = setup(
        TestDb::sqlite().await,
        &[(
            "TICKETGW_SMTP_URL",
            &format!("smtp://127.0.0.1:{}", tg_testkit::peers::free_port()),
        )],
    )
    .await;
    let store = s2.app.state.store.clone();
    let (event, tt) = published_event(&store, "Down", 10).await;
    let user = buyer(&store, "down@example.test", None).await;
    confirmed_booking(&store, user, event, tt, 1).await;
    let e = outbox_event(&store, "booking.confirmed").await;
    let (status, p) = post_binary(&s2.app, "/events", &e).await;
    assert_eq!(
        (status, p["code"].as_str()),
        (503, Some("retry_later")),
        "{p}"
    );
    assert_eq!(store.notification_count("sending").await.unwrap(), 0);
}
