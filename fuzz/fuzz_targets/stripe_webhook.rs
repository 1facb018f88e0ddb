//! Provider webhooks (`tg-payments`): `Stripe-Signature` headers and event
//! bodies come from anyone who can reach the endpoint.
//!
//! * Any header and body: `verify` and `parse_event` never panic, and a
//!   header the fuzzer wrote never verifies (it does not hold the secret).
//! * A genuine signature over a body verifies; after one changed byte of
//!   the body, or one changed hex digit of the signature, it never does.
//! * The accepted header form round-trips: `header(t, [sign(...)])` is what
//!   `verify` accepts.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tg_http::Secret;
use tg_payments::signature::{header, sign, verify};
use tg_payments::stripe::parse_event;

const SECRET: &str = "whsec_fuzz_0123456789abcdef";
const NOW: i64 = 1_767_225_600;

fuzz_target!(|data: &[u8]| {
    let secrets = [Secret::new(SECRET.to_string())];
    // Header line, newline, body.
    let split = data.iter().position(|b| *b == b'\n').unwrap_or(data.len());
    let (head, body) = data.split_at(split);
    let body = body.get(1..).unwrap_or(&[]);
    if let Ok(h) = std::str::from_utf8(head) {
        assert!(
            verify(h, body, &secrets, NOW).is_err(),
            "a signature the fuzzer wrote verified: {h:?}"
        );
    }
    let _ = parse_event(body);
    let _ = parse_event(data);

    // Genuine, then mutated.
    let ts = NOW - 100 + (data.first().copied().unwrap_or(0) as i64);
    let sig = sign(SECRET, ts, body);
    let good = header(ts, std::slice::from_ref(&sig));
    assert!(
        verify(&good, body, &secrets, NOW).is_ok(),
        "genuine signature refused"
    );
    if let [.., at, by] = data {
        if !body.is_empty() {
            let mut changed = body.to_vec();
            let i = *at as usize % changed.len();
            changed[i] ^= by | 1;
            assert!(
                verify(&good, &changed, &secrets, NOW).is_err(),
                "a changed body still verified"
            );
        }
        let mut hexed = sig.clone().into_bytes();
        let i = *at as usize % hexed.len();
        const HEX: &[u8] = b"0123456789abcdef";
        let replacement = HEX[*by as usize % 16];
        if hexed[i] != replacement {
            hexed[i] = replacement;
            let forged = header(ts, &[String::from_utf8(hexed).expect("hex")]);
            assert!(
                verify(&forged, body, &secrets, NOW).is_err(),
                "a changed signature still verified"
            );
        }
    }
});
