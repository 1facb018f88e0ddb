//! Webhook signatures: what verifies, and a corpus of tampered inputs that
//! must not.

use tg_auth::LazyClient;
use tg_http::Secret;
use tg_payments::signature::{self, TOLERANCE_SECS};
use tg_payments::stripe::{StripeConfig, StripeProvider};
use tg_payments::{PaymentProvider, WebhookError, WebhookKind};

const PRIMARY: &str = "whsec_primary_5f0c2d6e8a";
const ROLLED: &str = "whsec_rolled_93b1e47f20";
const NOW: i64 = 1_750_000_000;

fn secrets(list: &[&str]) -> Vec<Secret<String>> {
    list.iter().map(|s| Secret::new((*s).to_owned())).collect()
}

fn body() -> Vec<u8> {
    br#"{"id":"evt_3PqLx2LkdIwHu7ix0fKq1Z9a","object":"event","api_version":"2025-04-30.basil","created":1750000000,"data":{"object":{"id":"pi_3PqLx2LkdIwHu7ix1aBcDeFg","object":"payment_intent","amount":4200,"currency":"eur","metadata":{"booking_id":"0190f3a4-7b2c-7d3e-8f40-1a2b3c4d5e6f"},"status":"succeeded","last_payment_error":null}},"livemode":false,"pending_webhooks":1,"request":{"id":null,"idempotency_key":null},"type":"payment_intent.succeeded"}"#.to_vec()
}

fn signed(secret: &str, t: i64, body: &[u8]) -> String {
    signature::header(t, &[signature::sign(secret, t, body)])
}

#[test]
fn accepts_a_correct_header() {
    let body = body();
    let header = signed(PRIMARY, NOW, &body);
    assert_eq!(
        signature::verify(&header, &body, &secrets(&[PRIMARY]), NOW),
        Ok(())
    );
    // Other schemes (v0, future ones) are ignored, wherever they stand.
    let sig = signature::sign(PRIMARY, NOW, &body);
    let v0 = signature::sign("whsec_test_mode", NOW, &body);
    let header = format!("v0={v0},t={NOW},v2=whatever,v1={sig}");
    assert_eq!(
        signature::verify(&header, &body, &secrets(&[PRIMARY]), NOW),
        Ok(())
    );
}

#[test]
fn accepts_at_the_edges_of_the_tolerance() {
    let body = body();
    for t in [NOW - TOLERANCE_SECS, NOW + TOLERANCE_SECS] {
        let header = signed(PRIMARY, t, &body);
        assert_eq!(
            signature::verify(&header, &body, &secrets(&[PRIMARY]), NOW),
            Ok(()),
            "t = now {:+}",
            t - NOW
        );
    }
}

#[test]
fn accepts_a_rotation_header_with_one_v1_per_secret() {
    let body = body();
    let header = signature::header(
        NOW,
        &[
            signature::sign(PRIMARY, NOW, &body),
            signature::sign(ROLLED, NOW, &body),
        ],
    );
    assert!(header.matches(",v1=").count() == 2, "{header}");
    for configured in [
        vec![PRIMARY],
        vec![ROLLED],
        vec![PRIMARY, ROLLED],
        vec![ROLLED, PRIMARY],
    ] {
        assert_eq!(
            signature::verify(&header, &body, &secrets(&configured), NOW),
            Ok(()),
            "configured {configured:?}"
        );
    }
    // We roll first: the old secret still signs, both are configured.
    let header = signed(PRIMARY, NOW, &body);
    assert_eq!(
        signature::verify(&header, &body, &secrets(&[ROLLED, PRIMARY]), NOW),
        Ok(())
    );
}

#[test]
fn empty_secrets_never_verify() {
    let body = body();
    let header = signed("", NOW, &body);
    assert_eq!(
        signature::verify(&header, &body, &secrets(&[""]), NOW),
        Err(WebhookError::NoMatchingSignature)
    );
    assert_eq!(
        signature::verify(&header, &body, &[], NOW),
        Err(WebhookError::NoMatchingSignature)
    );
}

/// One tampered input: the base input (the body signed with `PRIMARY` at
/// `NOW`, verified with `PRIMARY` at `NOW`) with one thing changed.
struct Case {
    name: String,
    header: String,
    body: Vec<u8>,
    secrets: Vec<Secret<String>>,
    now: i64,
}

fn corpus() -> Vec<Case> {
    let base_body = body();
    let base_header = signed(PRIMARY, NOW, &base_body);
    let good_sig = signature::sign(PRIMARY, NOW, &base_body);
    let mut cases = Vec::new();
    let mut push =
        |name: String, header: String, body: Vec<u8>, secrets: Vec<Secret<String>>, now: i64| {
            cases.push(Case {
                name,
                header,
                body,
                secrets,
                now,
            });
        };

    // Every single-byte change of the body, two ways per position.
    for i in 0..base_body.len() {
        let mut flipped = base_body.clone();
        flipped[i] ^= 0x01;
        push(
            format!("body byte {i} xor 1"),
            base_header.clone(),
            flipped,
            secrets(&[PRIMARY]),
            NOW,
        );
        let mut replaced = base_body.clone();
        replaced[i] = if replaced[i] == b'X' { b'Y' } else { b'X' };
        push(
            format!("body byte {i} replaced"),
            base_header.clone(),
            replaced,
            secrets(&[PRIMARY]),
            NOW,
        );
    }
    // Length changes.
    let mut longer = base_body.clone();
    longer.push(b' ');
    push(
        "body with a trailing space".into(),
        base_header.clone(),
        longer,
        secrets(&[PRIMARY]),
        NOW,
    );
    let mut shorter = base_body.clone();
    shorter.pop();
    push(
        "body missing its last byte".into(),
        base_header.clone(),
        shorter,
        secrets(&[PRIMARY]),
        NOW,
    );
    push(
        "empty body".into(),
        base_header.clone(),
        Vec::new(),
        secrets(&[PRIMARY]),
        NOW,
    );

    // Wrong secrets.
    for wrong in [
        "whsec_wrong",
        "WHSEC_PRIMARY_5F0C2D6E8A",
        "whsec_primary_5f0c2d6e8",
        "whsec_primary_5f0c2d6e8a ",
    ] {
        push(
            format!("signed with {wrong:?}"),
            signed(wrong, NOW, &base_body),
            base_body.clone(),
            secrets(&[PRIMARY]),
            NOW,
        );
    }
    push(
        "verified with another secret".into(),
        base_header.clone(),
        base_body.clone(),
        secrets(&[ROLLED]),
        NOW,
    );
    push(
        "no secret configured".into(),
        base_header.clone(),
        base_body.clone(),
        Vec::new(),
        NOW,
    );

    // Timestamps.
    push(
        "signed 301 s ago".into(),
        signed(PRIMARY, NOW - 301, &base_body),
        base_body.clone(),
        secrets(&[PRIMARY]),
        NOW,
    );
    push(
        "signed 301 s in the future".into(),
        signed(PRIMARY, NOW + 301, &base_body),
        base_body.clone(),
        secrets(&[PRIMARY]),
        NOW,
    );
    push(
        "signed a day ago".into(),
        signed(PRIMARY, NOW - 86_400, &base_body),
        base_body.clone(),
        secrets(&[PRIMARY]),
        NOW,
    );
    push(
        "signed at 0".into(),
        signed(PRIMARY, 0, &base_body),
        base_body.clone(),
        secrets(&[PRIMARY]),
        NOW,
    );
    push(
        "t moved by one second after signing".into(),
        format!("t={},v1={good_sig}", NOW + 1),
        base_body.clone(),
        secrets(&[PRIMARY]),
        NOW,
    );
    push(
        "signature over another timestamp".into(),
        format!(
            "t={NOW},v1={}",
            signature::sign(PRIMARY, NOW - 1, &base_body)
        ),
        base_body.clone(),
        secrets(&[PRIMARY]),
        NOW,
    );

    // Header structure.
    let other_framings = [
        format!("{NOW}{}", String::from_utf8_lossy(&base_body)),
        format!("{NOW}:{}", String::from_utf8_lossy(&base_body)),
        String::from_utf8_lossy(&base_body).into_owned(),
    ];
    for (n, framed) in other_framings.iter().enumerate() {
        // A MAC over another framing of the same data.
        let mac = hmac_hex(PRIMARY, framed.as_bytes());
        push(
            format!("MAC over framing {n}"),
            format!("t={NOW},v1={mac}"),
            base_body.clone(),
            secrets(&[PRIMARY]),
            NOW,
        );
    }
    let headers: Vec<(&str, String)> = vec![
        ("missing v1", format!("t={NOW}")),
        ("only v0", format!("t={NOW},v0={good_sig}")),
        ("v1 under another name", format!("t={NOW},v2={good_sig}")),
        ("v1 upper-cased name", format!("t={NOW},V1={good_sig}")),
        (
            "duplicated t, same value",
            format!("t={NOW},t={NOW},v1={good_sig}"),
        ),
        (
            "duplicated t, old first",
            format!("t={},t={NOW},v1={good_sig}", NOW - 86_400),
        ),
        (
            "duplicated t, after v1",
            format!("t={NOW},v1={good_sig},t={NOW}"),
        ),
        ("missing t", format!("v1={good_sig}")),
        ("empty t", format!("t=,v1={good_sig}")),
        ("signed t", format!("t=+{NOW},v1={good_sig}")),
        ("negative t", format!("t=-{NOW},v1={good_sig}")),
        ("fractional t", format!("t={NOW}.0,v1={good_sig}")),
        ("hex t", format!("t=0x{NOW:x},v1={good_sig}")),
        ("huge t", format!("t=99999999999999999999999,v1={good_sig}")),
        (
            "non-hex signature",
            format!("t={NOW},v1={}g", &good_sig[..63]),
        ),
        ("63 hex digits", format!("t={NOW},v1={}", &good_sig[..63])),
        ("65 hex digits", format!("t={NOW},v1={good_sig}0")),
        ("128 hex digits", format!("t={NOW},v1={good_sig}{good_sig}")),
        ("empty v1", format!("t={NOW},v1=")),
        (
            "empty v1 beside a good one",
            format!("t={NOW},v1=,v1={good_sig}"),
        ),
        (
            "malformed v1 beside a good one",
            format!("t={NOW},v1=zz,v1={good_sig}"),
        ),
        (
            "signature with spaces inside",
            format!("t={NOW},v1={} {}", &good_sig[..32], &good_sig[32..]),
        ),
        (
            "base64 signature",
            format!("t={NOW},v1=q83vEjRWeJq83vEjRWeJq83vEjRWeJq83vEjRWeJq80="),
        ),
        ("zero signature", format!("t={NOW},v1={}", "0".repeat(64))),
        ("semicolons", format!("t={NOW};v1={good_sig}")),
        ("colons", format!("t:{NOW},v1:{good_sig}")),
        ("element without '='", format!("t={NOW},v1={good_sig},junk")),
        ("element without a name", format!("t={NOW},={good_sig}")),
        ("quoted values", format!("t=\"{NOW}\",v1=\"{good_sig}\"")),
        ("empty header", String::new()),
        ("blank header", "   ".to_owned()),
        ("commas only", ",,,".to_owned()),
        ("garbage", "garbage".to_owned()),
        ("json garbage", "{\"t\":1,\"v1\":\"x\"}".to_owned()),
        (
            "bearer token",
            "Bearer eyJhbGciOiJIUzI1NiJ9.e30.x".to_owned(),
        ),
        ("signature only", good_sig.clone()),
        ("newline injected", format!("t={NOW}\n,v1={good_sig}")),
        ("space after a comma", format!("t={NOW}, v1={good_sig}")),
        ("space around '='", format!("t = {NOW},v1 = {good_sig}")),
        (
            "oversized header",
            format!("t={NOW},{}v1={good_sig}", "v0=00,".repeat(2000)),
        ),
    ];
    for (name, header) in headers {
        push(
            name.to_owned(),
            header,
            base_body.clone(),
            secrets(&[PRIMARY]),
            NOW,
        );
    }
    cases
}

fn hmac_hex(key: &str, data: &[u8]) -> String {
    let key = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, key.as_bytes());
    aws_lc_rs::hmac::sign(&key, data)
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

type Verifier = dyn Fn(&str, &[u8], &[Secret<String>], i64) -> Result<(), WebhookError>;

/// The names of the cases `verify` accepted.
fn accepted(verify: &Verifier, cases: &[Case]) -> Vec<String> {
    cases
        .iter()
        .filter(|c| verify(&c.header, &c.body, &c.secrets, c.now).is_ok())
        .map(|c| c.name.clone())
        .collect()
}

#[test]
fn rejects_every_tampered_input() {
    let cases = corpus();
    assert!(cases.len() >= 500, "corpus has {} cases", cases.len());

    let accepted = accepted(&signature::verify, &cases);
    assert!(
        accepted.is_empty(),
        "accepted tampered inputs: {accepted:?}"
    );

    // The base every case was derived from verifies: each rejection is due
    // to its one change.
    let b = body();
    assert_eq!(
        signature::verify(&signed(PRIMARY, NOW, &b), &b, &secrets(&[PRIMARY]), NOW),
        Ok(())
    );
}

#[test]
fn negative_control_a_verifier_that_skips_the_check_accepts_the_corpus() {
    let cases = corpus();
    let skips_the_check: &Verifier = &|_, _, _, _| Ok(());
    assert_eq!(accepted(skips_the_check, &cases).len(), cases.len());
    // A verifier that checks the MAC but not the time lets the stale ones through.
    let skips_the_clock: &Verifier = &|h, b, s, _| {
        let t = h
            .strip_prefix("t=")
            .and_then(|r| r.split(',').next())
            .and_then(|t| t.parse::<i64>().ok())
            .unwrap_or(NOW);
        signature::verify(h, b, s, t)
    };
    let stale = accepted(skips_the_clock, &cases);
    for name in [
        "signed 301 s ago",
        "signed 301 s in the future",
        "signed a day ago",
        "signed at 0",
    ] {
        assert!(stale.iter().any(|n| n == name), "{name} not in {stale:?}");
    }
}

#[test]
fn errors_say_why() {
    let body = body();
    let sig = signature::sign(PRIMARY, NOW, &body);
    let s = secrets(&[PRIMARY]);
    let check = |h: &str, now: i64| signature::verify(h, &body, &s, now);
    assert_eq!(check("", NOW), Err(WebhookError::MissingSignature));
    assert!(matches!(
        check("garbage", NOW),
        Err(WebhookError::Malformed(_))
    ));
    assert!(matches!(
        check(&format!("t={NOW}"), NOW),
        Err(WebhookError::Malformed(_))
    ));
    assert!(matches!(
        check(&format!("t={NOW},v0={sig}"), NOW),
        Err(WebhookError::Malformed(_))
    ));
    assert!(matches!(
        check(&format!("t={NOW},t={NOW},v1={sig}"), NOW),
        Err(WebhookError::Malformed(_))
    ));
    assert!(matches!(
        check(&format!("t={NOW},v1={}", &sig[..63]), NOW),
        Err(WebhookError::Malformed(_))
    ));
    assert_eq!(
        check(&format!("t={NOW},v1={sig}"), NOW + 301),
        Err(WebhookError::TimestampOutOfTolerance)
    );
    assert_eq!(
        check(&format!("t={NOW},v1={sig}"), NOW - 301),
        Err(WebhookError::TimestampOutOfTolerance)
    );
    assert_eq!(
        check(&format!("t={NOW},v1={}", "a".repeat(64)), NOW),
        Err(WebhookError::NoMatchingSignature)
    );
    // Extreme clocks do not overflow.
    assert_eq!(
        check(&format!("t={NOW},v1={sig}"), i64::MIN),
        Err(WebhookError::TimestampOutOfTolerance)
    );
}

fn provider(secrets_list: &[&str]) -> StripeProvider {
    StripeProvider::new(
        StripeConfig {
            api_key: Secret::new("sk_test_unused".into()),
            webhook_secrets: secrets(secrets_list),
            base_url: "http://127.0.0.1:9".into(),
        },
        LazyClient::new(),
    )
}

#[test]
fn provider_checks_the_signature_before_parsing() {
    let p = provider(&[PRIMARY]);
    // Not JSON at all: a bad signature is reported, not a bad payload.
    let junk = b"\xff not json";
    assert_eq!(
        p.verify_webhook(Some(&format!("t={NOW},v1={}", "0".repeat(64))), junk, NOW),
        Err(WebhookError::NoMatchingSignature)
    );
    assert_eq!(
        p.verify_webhook(None, &body(), NOW),
        Err(WebhookError::MissingSignature)
    );
    // Signed junk gets past the signature and fails as a payload.
    let h = signed(PRIMARY, NOW, junk);
    assert!(matches!(
        p.verify_webhook(Some(&h), junk, NOW),
        Err(WebhookError::BadPayload(_))
    ));
    // The real thing.
    let b = body();
    let ev = p
        .verify_webhook(Some(&signed(PRIMARY, NOW, &b)), &b, NOW)
        .unwrap();
    assert_eq!(ev.kind, WebhookKind::PaymentSucceeded);
    assert_eq!(
        ev.payment_id.as_deref(),
        Some("pi_3PqLx2LkdIwHu7ix1aBcDeFg")
    );

    // The whole corpus is refused by the provider too.
    for c in corpus() {
        let p = StripeProvider::new(
            StripeConfig {
                webhook_secrets: c.secrets.clone(),
                ..StripeConfig::default()
            },
            LazyClient::new(),
        );
        assert!(
            p.verify_webhook(Some(&c.header), &c.body, c.now).is_err(),
            "{}",
            c.name
        );
    }
}
