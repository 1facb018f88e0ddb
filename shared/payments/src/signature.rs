//! Stripe's webhook signature scheme (also used by the fake provider).
//!
//! The `Stripe-Signature` header is `t=<unix seconds>,v1=<hex>[,v1=<hex>...]`,
//! possibly with other schemes (`v0=...`) that are ignored. Each `v1` is the
//! hex HMAC-SHA256 of `"{t}.{raw body}"` under an endpoint secret; while a
//! secret is being rolled Stripe signs with both, so a header verifies when
//! any `v1` matches any configured secret.
//!
//! Parsing is strict: elements are `name=value` separated by bare commas,
//! `t` appears once as plain decimal digits, every `v1` is 64 hex digits and
//! at least one is present. The body is never parsed here.

use aws_lc_rs::hmac;
use subtle::ConstantTimeEq;
use tg_http::Secret;

use crate::{WebhookError, hex};

/// How far the signed timestamp may be from now, either way, in seconds.
pub const TOLERANCE_SECS: i64 = 300;

/// Longer headers are refused before any work is done.
const MAX_HEADER_LEN: usize = 8 * 1024;

const SIG_LEN: usize = 32;

/// The hex HMAC-SHA256 of `"{timestamp}.{body}"` under `secret`.
pub fn sign(secret: &str, timestamp: i64, body: &[u8]) -> String {
    hex::encode(&mac(secret.as_bytes(), timestamp, body))
}

/// A `Stripe-Signature` header value: `t=...,v1=...,v1=...`.
pub fn header(timestamp: i64, signatures: &[String]) -> String {
    let mut out = format!("t={timestamp}");
    for s in signatures {
        out.push_str(",v1=");
        out.push_str(s);
    }
    out
}

/// Checks a `Stripe-Signature` header against the raw body. Accepts when
/// the timestamp is within [`TOLERANCE_SECS`] of `now_unix` and any `v1`
/// signature matches any of `secrets` (empty secrets are ignored). The body
/// is not looked at beyond the HMAC.
pub fn verify(
    header: &str,
    body: &[u8],
    secrets: &[Secret<String>],
    now_unix: i64,
) -> Result<(), WebhookError> {
    let parsed = parse_header(header)?;
    if parsed.timestamp.abs_diff(now_unix) > TOLERANCE_SECS.unsigned_abs() {
        return Err(WebhookError::TimestampOutOfTolerance);
    }
    let mut matched = subtle::Choice::from(0u8);
    for secret in secrets {
        let secret = secret.expose().as_bytes();
        if secret.is_empty() {
            continue;
        }
        let expected = mac(secret, parsed.timestamp, body);
        for candidate in &parsed.v1 {
            matched |= expected.as_slice().ct_eq(candidate.as_slice());
        }
    }
    if bool::from(matched) {
        Ok(())
    } else {
        Err(WebhookError::NoMatchingSignature)
    }
}

fn mac(key: &[u8], timestamp: i64, body: &[u8]) -> [u8; SIG_LEN] {
    let key = hmac::Key::new(hmac::HMAC_SHA256, key);
    let mut ctx = hmac::Context::with_key(&key);
    ctx.update(timestamp.to_string().as_bytes());
    ctx.update(b".");
    ctx.update(body);
    let tag = ctx.sign();
    let mut out = [0u8; SIG_LEN];
    out.copy_from_slice(tag.as_ref());
    out
}

struct Parsed {
    timestamp: i64,
    v1: Vec<[u8; SIG_LEN]>,
}

fn parse_header(header: &str) -> Result<Parsed, WebhookError> {
    let header = header.trim();
    if header.is_empty() {
        return Err(WebhookError::MissingSignature);
    }
    if header.len() > MAX_HEADER_LEN {
        return Err(WebhookError::Malformed("header too long"));
    }
    let mut timestamp = None;
    let mut v1 = Vec::new();
    for part in header.split(',') {
        let (key, value) = part
            .split_once('=')
            .ok_or(WebhookError::Malformed("element without '='"))?;
        match key {
            "t" => {
                if timestamp.is_some() {
                    return Err(WebhookError::Malformed("duplicated timestamp"));
                }
                timestamp = Some(parse_timestamp(value)?);
            }
            "v1" => v1.push(
                hex::decode_exact::<SIG_LEN>(value)
                    .ok_or(WebhookError::Malformed("v1 is not 64 hex digits"))?,
            ),
            "" => return Err(WebhookError::Malformed("element without a name")),
            // Other schemes (`v0` is Stripe's test-mode scheme) are not ours to check.
            _ => {}
        }
    }
    let timestamp = timestamp.ok_or(WebhookError::Malformed("missing timestamp"))?;
    if v1.is_empty() {
        return Err(WebhookError::Malformed("no v1 signature"));
    }
    Ok(Parsed { timestamp, v1 })
}

fn parse_timestamp(value: &str) -> Result<i64, WebhookError> {
    const BAD: WebhookError = WebhookError::Malformed("timestamp is not unix seconds");
    if value.is_empty() || value.len() > 18 || !value.bytes().all(|b| b.is_ascii_digit()) {
        return Err(BAD);
    }
    value.parse().map_err(|_| BAD)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sign_is_hmac_sha256_over_t_dot_body() {
        // The well-known HMAC-SHA256 vector (key "key"), then the framing:
        // the MAC covers exactly "{t}.{body}".
        let key = hmac::Key::new(hmac::HMAC_SHA256, b"key");
        let known = hmac::sign(&key, b"The quick brown fox jumps over the lazy dog");
        assert_eq!(
            hex::encode(known.as_ref()),
            "f7bc83f430538424b13298e6aa6fb143ef4d59a14946175997479dbc2d1a3cd8"
        );
        let framed = hmac::sign(&key, b"1700000000.{\"a\":1}");
        assert_eq!(
            sign("key", 1_700_000_000, br#"{"a":1}"#),
            hex::encode(framed.as_ref())
        );
    }

    #[test]
    fn header_format() {
        assert_eq!(header(5, &[]), "t=5");
        assert_eq!(header(5, &["aa".into(), "bb".into()]), "t=5,v1=aa,v1=bb");
    }

    #[test]
    fn timestamps_are_plain_digits() {
        assert_eq!(parse_timestamp("1700000000"), Ok(1_700_000_000));
        for bad in ["", "-1", "+1", "1.5", " 1", "0x10", "9999999999999999999"] {
            assert!(parse_timestamp(bad).is_err(), "{bad:?}");
        }
    }
}
