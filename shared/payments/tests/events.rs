//! Stripe event bodies to `WebhookEvent`s.

use tg_payments::stripe::parse_event;
use tg_payments::{WebhookError, WebhookKind};
use uuid::Uuid;

const BOOKING: &str = "0190f3a4-7b2c-7d3e-8f40-1a2b3c4d5e6f";

fn event(kind: &str, object: &str) -> Vec<u8> {
    format!(
        r#"{{"id":"evt_1","object":"event","api_version":"2025-04-30.basil","created":1750000123,"livemode":false,"pending_webhooks":1,"type":"{kind}","data":{{"object":{object}}}}}"#
    )
    .into_bytes()
}

fn intent(status: &str, last_error: &str) -> String {
    format!(
        r#"{{"id":"pi_42","object":"payment_intent","amount":4200,"currency":"eur","status":"{status}","client_secret":"pi_42_secret_zz","metadata":{{"booking_id":"{BOOKING}","other":"x"}},"last_payment_error":{last_error},"cancellation_reason":null}}"#
    )
}

#[test]
fn payment_intent_events() {
    let booking = Uuid::parse_str(BOOKING).unwrap();
    for (kind, status, want) in [
        (
            "payment_intent.succeeded",
            "succeeded",
            WebhookKind::PaymentSucceeded,
        ),
        (
            "payment_intent.processing",
            "processing",
            WebhookKind::PaymentProcessing,
        ),
        (
            "payment_intent.canceled",
            "canceled",
            WebhookKind::PaymentCanceled,
        ),
    ] {
        let ev = parse_event(&event(kind, &intent(status, "null"))).unwrap();
        assert_eq!(ev.id, "evt_1");
        assert_eq!(ev.kind, want, "{kind}");
        assert_eq!(ev.created, 1_750_000_123);
        assert_eq!(ev.payment_id.as_deref(), Some("pi_42"));
        assert_eq!(ev.amount_cents, Some(4200));
        assert_eq!(ev.currency.as_deref(), Some("EUR"));
        assert_eq!(ev.booking_id, Some(booking));
        assert_eq!(ev.failure_reason, None);
    }
    let failed = intent(
        "requires_payment_method",
        r#"{"type":"card_error","code":"card_declined","decline_code":"insufficient_funds","message":"Your card has insufficient funds."}"#,
    );
    let ev = parse_event(&event("payment_intent.payment_failed", &failed)).unwrap();
    assert_eq!(ev.kind, WebhookKind::PaymentFailed);
    assert_eq!(
        ev.failure_reason.as_deref(),
        Some("Your card has insufficient funds.")
    );
    assert_eq!(ev.booking_id, Some(booking));
}

#[test]
fn canceled_reports_the_cancellation_reason() {
    let obj = intent("canceled", "null").replace(
        r#""cancellation_reason":null"#,
        r#""cancellation_reason":"abandoned""#,
    );
    let ev = parse_event(&event("payment_intent.canceled", &obj)).unwrap();
    assert_eq!(ev.failure_reason.as_deref(), Some("abandoned"));
}

#[test]
fn charge_refunded() {
    let charge = r#"{"id":"ch_9","object":"charge","amount":4200,"amount_refunded":1500,"refunded":false,"currency":"eur","payment_intent":"pi_42","metadata":{}}"#;
    let ev = parse_event(&event("charge.refunded", charge)).unwrap();
    assert_eq!(ev.kind, WebhookKind::ChargeRefunded);
    assert_eq!(ev.payment_id.as_deref(), Some("pi_42"));
    assert_eq!(ev.amount_cents, Some(1500));
    assert_eq!(ev.currency.as_deref(), Some("EUR"));
    assert_eq!(ev.booking_id, None);

    // A charge made without a PaymentIntent.
    let bare = r#"{"id":"ch_9","object":"charge","amount":100,"amount_refunded":100,"currency":"usd","payment_intent":null}"#;
    let ev = parse_event(&event("charge.refunded", bare)).unwrap();
    assert_eq!(ev.payment_id, None);
}

#[test]
fn dispute_created() {
    let dispute = r#"{"id":"dp_1","object":"dispute","amount":4200,"currency":"eur","charge":"ch_9","payment_intent":"pi_42","reason":"fraudulent","status":"needs_response","metadata":{}}"#;
    let ev = parse_event(&event("charge.dispute.created", dispute)).unwrap();
    assert_eq!(ev.kind, WebhookKind::DisputeCreated);
    assert_eq!(ev.payment_id.as_deref(), Some("pi_42"));
    assert_eq!(ev.amount_cents, Some(4200));
    assert_eq!(ev.failure_reason.as_deref(), Some("fraudulent"));
}

#[test]
fn other_types_pass_through() {
    let ev = parse_event(&event(
        "customer.created",
        r#"{"id":"cus_1","object":"customer"}"#,
    ))
    .unwrap();
    assert_eq!(ev.kind, WebhookKind::Other("customer.created".into()));
    assert_eq!(ev.kind.as_str(), "customer.created");
    assert_eq!(ev.payment_id, None);
    assert_eq!(ev.amount_cents, None);
}

#[test]
fn a_booking_id_that_is_not_a_uuid_is_dropped() {
    let obj = intent("succeeded", "null").replace(BOOKING, "not-a-uuid");
    let ev = parse_event(&event("payment_intent.succeeded", &obj)).unwrap();
    assert_eq!(ev.booking_id, None);
    assert_eq!(ev.payment_id.as_deref(), Some("pi_42"));
}

#[test]
fn bad_payloads() {
    let bad: [&[u8]; 6] = [
        b"",
        b"not json",
        br#"{"id":"evt_1","type":"payment_intent.succeeded"}"#,
        br#"{"id":"evt_1","type":"payment_intent.succeeded","created":1,"data":{"object":{"id":"pi_1"}}}"#,
        br#"{"id":"","type":"x","created":1,"data":{"object":{}}}"#,
        br#"{"id":"evt_1","type":"charge.refunded","created":"yesterday","data":{"object":{}}}"#,
    ];
    for b in bad {
        assert!(
            matches!(parse_event(b), Err(WebhookError::BadPayload(_))),
            "{}",
            String::from_utf8_lossy(b)
        );
    }
}
