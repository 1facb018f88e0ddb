//! The Stripe adapter against the fake Stripe.
#![cfg(feature = "fake")]
#![allow(clippy::unwrap_used)]

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use tg_auth::LazyClient;
use tg_http::Secret;
use tg_payments::fake::{Behavior, FakeStripe};
use tg_payments::stripe::{StripeConfig, StripeProvider};
use tg_payments::{
    CreatePayment, PaymentProvider, PaymentStatus, ProviderError, RefundStatus, WebhookKind,
};
use uuid::Uuid;

const WHSEC: &str = "whsec_fake_test_secret";

async fn setup() -> (FakeStripe, StripeProvider) {
    let fake = FakeStripe::start().await.unwrap();
    let provider = StripeProvider::new(fake.config(&[WHSEC]), LazyClient::new());
    (fake, provider)
}

fn request(booking_id: Uuid, amount: i64) -> CreatePayment {
    CreatePayment {
        booking_id,
        amount_cents: amount,
        currency: tg_store::Currency::parse("EUR").unwrap(),
        idempotency_key: format!("booking:{booking_id}:payment"),
        description: "2 x Early bird".into(),
    }
}

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
        .try_into()
        .unwrap()
}

fn rejected_code(e: &ProviderError) -> (u16, Option<&str>) {
    match e {
        ProviderError::Rejected { status, code, .. } => (*status, code.as_deref()),
        other => panic!("expected Rejected, got {other:?}"),
    }
}

#[tokio::test]
async fn create_is_idempotent_on_the_key() {
    let (fake, stripe) = setup().await;
    let booking = Uuid::now_v7();
    let req = request(booking, 4200);

    let first = stripe.create_payment(&req).await.unwrap();
    assert!(first.id.starts_with("pi_"), "{}", first.id);
    assert_eq!(first.status, PaymentStatus::RequiresPayment);
    assert_eq!(first.amount_cents, 4200);
    assert_eq!(first.currency, "EUR");
    let secret = first.client_secret.clone().unwrap();
    assert!(secret.starts_with(&format!("{}_secret_", first.id)));
    assert_eq!(first.last_error, None);

    // What Stripe stored: lower-case currency, the booking in metadata.
    let stored = fake.payment_intent(&first.id).unwrap();
    assert_eq!(stored["currency"], "eur");
    assert_eq!(stored["metadata"]["booking_id"], booking.to_string());
    assert_eq!(stored["description"], "2 x Early bird");

    // A retry: the same intent, the same answer, no second charge.
    let again = stripe.create_payment(&req).await.unwrap();
    assert_eq!(again, first);
    assert_eq!(fake.payment_intents_count(), 1);
    assert_eq!(fake.requests_count(), 2);

    // The same key with other parameters is refused.
    let mut other = req.clone();
    other.amount_cents = 9900;
    let err = stripe.create_payment(&other).await.unwrap_err();
    assert_eq!(rejected_code(&err), (400, Some("idempotency_error")));
    assert_eq!(fake.payment_intents_count(), 1);

    // Another booking, another intent.
    let second = stripe
        .create_payment(&request(Uuid::now_v7(), 4200))
        .await
        .unwrap();
    assert_ne!(second.id, first.id);
    assert_eq!(fake.payment_intents_count(), 2);
}

#[tokio::test]
async fn concurrent_retries_make_one_intent() {
    let (fake, stripe) = setup().await;
    let req = request(Uuid::now_v7(), 1000);
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let stripe = stripe.clone();
        let req = req.clone();
        tasks.push(tokio::spawn(async move {
            stripe.create_payment(&req).await.unwrap().id
        }));
    }
    let mut ids = Vec::new();
    for t in tasks {
        ids.push(t.await.unwrap());
    }
    ids.dedup();
    assert_eq!(ids.len(), 1, "{ids:?}");
    assert_eq!(fake.payment_intents_count(), 1);
}

#[tokio::test]
async fn the_provider_refuses_what_stripe_would() {
    let (fake, stripe) = setup().await;
    let mut zero = request(Uuid::now_v7(), 0);
    zero.idempotency_key = "k-zero".into();
    let err = stripe.create_payment(&zero).await.unwrap_err();
    assert_eq!(
        rejected_code(&err),
        (400, Some("parameter_invalid_integer"))
    );

    // An empty key would make retries unsafe: refused before sending.
    let before = fake.requests_count();
    let mut no_key = request(Uuid::now_v7(), 100);
    no_key.idempotency_key = String::new();
    let err = stripe.create_payment(&no_key).await.unwrap_err();
    assert_eq!(rejected_code(&err), (400, Some("invalid_idempotency_key")));
    assert_eq!(fake.requests_count(), before);
    assert_eq!(fake.payment_intents_count(), 0);
}

#[tokio::test]
async fn retrieve_follows_the_intent() {
    let (fake, stripe) = setup().await;
    let created = stripe
        .create_payment(&request(Uuid::now_v7(), 2500))
        .await
        .unwrap();
    let id = created.id.as_str();

    let got = stripe.retrieve_payment(id).await.unwrap();
    assert_eq!(got, created);

    assert!(fake.set_status(id, "requires_action"));
    assert_eq!(
        stripe.retrieve_payment(id).await.unwrap().status,
        PaymentStatus::RequiresPayment
    );
    assert!(fake.set_status(id, "processing"));
    assert_eq!(
        stripe.retrieve_payment(id).await.unwrap().status,
        PaymentStatus::Processing
    );

    assert!(fake.fail(id, "Your card was declined."));
    let failed = stripe.retrieve_payment(id).await.unwrap();
    assert_eq!(failed.status, PaymentStatus::Failed);
    assert_eq!(
        failed.last_error.as_deref(),
        Some("Your card was declined.")
    );

    assert!(fake.succeed(id));
    let paid = stripe.retrieve_payment(id).await.unwrap();
    assert_eq!(paid.status, PaymentStatus::Succeeded);
    assert_eq!(paid.last_error, None);

    assert!(fake.set_status(id, "canceled"));
    assert_eq!(
        stripe.retrieve_payment(id).await.unwrap().status,
        PaymentStatus::Canceled
    );

    let err = stripe.retrieve_payment("pi_missing").await.unwrap_err();
    assert_eq!(rejected_code(&err), (404, Some("resource_missing")));

    // Ids go into the path: anything but Stripe's alphabet never leaves.
    let before = fake.requests_count();
    for bad in ["../refunds", "pi_1/cancel", "pi_1?expand[]=x", ""] {
        let err = stripe.retrieve_payment(bad).await.unwrap_err();
        assert_eq!(rejected_code(&err).0, 400, "{bad}");
    }
    assert_eq!(fake.requests_count(), before);
    assert!(!fake.succeed("pi_missing"));
}

#[tokio::test]
async fn refunds_never_exceed_the_payment() {
    let (fake, stripe) = setup().await;
    let pi = stripe
        .create_payment(&request(Uuid::now_v7(), 2500))
        .await
        .unwrap();

    // Nothing captured yet.
    let err = stripe.refund(&pi.id, 100, "refund-0").await.unwrap_err();
    assert_eq!(
        rejected_code(&err),
        (400, Some("payment_intent_unexpected_state"))
    );

    assert!(fake.succeed(&pi.id));
    let r1 = stripe.refund(&pi.id, 1000, "refund-1").await.unwrap();
    assert!(r1.id.starts_with("re_"));
    assert_eq!(r1.amount_cents, 1000);
    assert_eq!(r1.status, RefundStatus::Succeeded);

    // Retried: the same refund, not a second one.
    let again = stripe.refund(&pi.id, 1000, "refund-1").await.unwrap();
    assert_eq!(again, r1);
    assert_eq!(fake.refunds_count(), 1);

    let err = stripe.refund(&pi.id, 1501, "refund-2").await.unwrap_err();
    assert_eq!(rejected_code(&err), (400, Some("amount_too_large")));
    // A refused request keeps nothing: the key can be used once it is right.
    let r2 = stripe.refund(&pi.id, 1500, "refund-2").await.unwrap();
    assert_eq!(r2.amount_cents, 1500);
    assert_eq!(fake.refunds_count(), 2);

    let err = stripe.refund(&pi.id, 1, "refund-3").await.unwrap_err();
    assert_eq!(rejected_code(&err), (400, Some("charge_already_refunded")));

    let err = stripe
        .refund("pi_missing", 1, "refund-4")
        .await
        .unwrap_err();
    assert_eq!(rejected_code(&err), (400, Some("resource_missing")));
}

#[tokio::test]
async fn server_errors_are_unavailable() {
    let (fake, stripe) = setup().await;
    fake.set_behavior(Behavior::ServerError);
    let req = request(Uuid::now_v7(), 100);
    let err = stripe.create_payment(&req).await.unwrap_err();
    assert!(matches!(err, ProviderError::Unavailable(_)), "{err:?}");
    assert!(err.is_retryable());
    let err = stripe.retrieve_payment("pi_1").await.unwrap_err();
    assert!(matches!(err, ProviderError::Unavailable(_)), "{err:?}");
    let err = stripe.refund("pi_1", 1, "r").await.unwrap_err();
    assert!(matches!(err, ProviderError::Unavailable(_)), "{err:?}");

    // The retry with the same key works once Stripe is back.
    fake.set_behavior(Behavior::Normal);
    stripe.create_payment(&req).await.unwrap();
    assert_eq!(fake.payment_intents_count(), 1);
}

#[tokio::test]
async fn a_hanging_stripe_is_unavailable_within_the_timeout() {
    let (fake, stripe) = setup().await;
    let stripe = stripe.with_timeout(Duration::from_millis(400));
    fake.set_behavior(Behavior::Hang);
    let start = Instant::now();
    let err = stripe
        .create_payment(&request(Uuid::now_v7(), 100))
        .await
        .unwrap_err();
    let took = start.elapsed();
    assert!(
        matches!(&err, ProviderError::Unavailable(m) if m.contains("timed out")),
        "{err:?}"
    );
    assert!(took >= Duration::from_millis(400), "{took:?}");
    assert!(took < Duration::from_secs(3), "{took:?}");
    assert_eq!(fake.requests_count(), 1);
}

#[tokio::test]
async fn unreachable_stripe_is_unavailable() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let stripe = StripeProvider::new(
        StripeConfig {
            api_key: Secret::new("sk_test_x".into()),
            webhook_secrets: vec![],
            base_url: format!("http://{addr}/"),
        },
        LazyClient::new(),
    );
    let err = stripe.retrieve_payment("pi_1").await.unwrap_err();
    assert!(matches!(err, ProviderError::Unavailable(_)), "{err:?}");
}

#[tokio::test]
async fn a_wrong_key_is_rejected_and_never_echoed() {
    let fake = FakeStripe::start().await.unwrap();
    let key = "sk_test_wrong_key_do_not_print";
    let stripe = StripeProvider::new(
        StripeConfig {
            api_key: Secret::new(key.into()),
            ..fake.config(&[])
        },
        LazyClient::new(),
    );
    let err = stripe
        .create_payment(&request(Uuid::now_v7(), 100))
        .await
        .unwrap_err();
    assert_eq!(rejected_code(&err).0, 401);
    assert!(!err.to_string().contains(key));
    assert!(!format!("{err:?}").contains(key));
    assert!(!format!("{stripe:?}").contains(key));
    assert_eq!(fake.payment_intents_count(), 0);
}

#[tokio::test]
async fn webhooks_from_the_fake_verify_and_parse() {
    let (fake, _) = setup().await;
    // Secrets being rolled: the fake signs with the new one.
    let stripe = StripeProvider::new(fake.config(&["whsec_old_secret", WHSEC]), LazyClient::new());
    let booking = Uuid::now_v7();
    let pi = stripe
        .create_payment(&request(booking, 4200))
        .await
        .unwrap();
    let now = now();

    fake.fail(&pi.id, "Your card was declined.");
    let (h, body) = fake.signed_event(WHSEC, "payment_intent.payment_failed", &pi.id);
    let ev = stripe.verify_webhook(Some(&h), &body, now).unwrap();
    assert_eq!(ev.kind, WebhookKind::PaymentFailed);
    assert_eq!(
        ev.failure_reason.as_deref(),
        Some("Your card was declined.")
    );
    assert_eq!(ev.booking_id, Some(booking));

    fake.succeed(&pi.id);
    let (h, body) = fake.signed_event(WHSEC, "payment_intent.succeeded", &pi.id);
    let ev = stripe.verify_webhook(Some(&h), &body, now).unwrap();
    assert!(ev.id.starts_with("evt_"));
    assert_eq!(ev.kind, WebhookKind::PaymentSucceeded);
    assert_eq!(ev.payment_id.as_deref(), Some(pi.id.as_str()));
    assert_eq!(ev.amount_cents, Some(4200));
    assert_eq!(ev.currency.as_deref(), Some("EUR"));
    assert_eq!(ev.booking_id, Some(booking));
    assert!((ev.created - now).abs() <= 5);

    for (ty, kind) in [
        ("payment_intent.processing", WebhookKind::PaymentProcessing),
        ("payment_intent.canceled", WebhookKind::PaymentCanceled),
        (
            "payment_intent.created",
            WebhookKind::Other("payment_intent.created".into()),
        ),
    ] {
        let (h, body) = fake.signed_event(WHSEC, ty, &pi.id);
        assert_eq!(
            stripe.verify_webhook(Some(&h), &body, now).unwrap().kind,
            kind
        );
    }

    stripe.refund(&pi.id, 1200, "refund-1").await.unwrap();
    let (h, body) = fake.signed_event(WHSEC, "charge.refunded", &pi.id);
    let ev = stripe.verify_webhook(Some(&h), &body, now).unwrap();
    assert_eq!(ev.kind, WebhookKind::ChargeRefunded);
    assert_eq!(ev.payment_id.as_deref(), Some(pi.id.as_str()));
    assert_eq!(ev.amount_cents, Some(1200));
    assert_eq!(ev.booking_id, None);

    let (h, body) = fake.signed_event(WHSEC, "charge.dispute.created", &pi.id);
    let ev = stripe.verify_webhook(Some(&h), &body, now).unwrap();
    assert_eq!(ev.kind, WebhookKind::DisputeCreated);
    assert_eq!(ev.payment_id.as_deref(), Some(pi.id.as_str()));
    assert_eq!(ev.amount_cents, Some(4200));

    // Each delivery is its own event.
    let (_, a) = fake.signed_event(WHSEC, "payment_intent.succeeded", &pi.id);
    let (_, b) = fake.signed_event(WHSEC, "payment_intent.succeeded", &pi.id);
    assert_ne!(
        tg_payments::stripe::parse_event(&a).unwrap().id,
        tg_payments::stripe::parse_event(&b).unwrap().id
    );

    // Signed with a secret we do not hold, or too long ago.
    let (h, body) = fake.signed_event("whsec_attacker", "payment_intent.succeeded", &pi.id);
    assert!(stripe.verify_webhook(Some(&h), &body, now).is_err());
    let (h, body) = fake.signed_event_at(WHSEC, "payment_intent.succeeded", &pi.id, now - 301);
    assert!(stripe.verify_webhook(Some(&h), &body, now).is_err());
}
