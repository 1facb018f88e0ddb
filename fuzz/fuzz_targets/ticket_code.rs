//! Ticket codes (`tg-tickets`): the door parses whatever a QR reader hands it.
//!
//! * Any text: `parse` and `verify` never panic; `verify` with the fuzzer's
//!   key never accepts (the fuzzer does not hold the signing key).
//! * A parsed code formats back to exactly the text it came from (canonical
//!   form: one code, one spelling).
//! * A genuine code signed for claims taken from the input verifies, and
//!   after any change of one character it never does.
#![no_main]

use std::sync::LazyLock;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use libfuzzer_sys::fuzz_target;
use tg_tickets::code::{self, PREFIX, VERSION};
use tg_tickets::{EventKey, TicketClaims};
use uuid::Uuid;

static KEY: LazyLock<EventKey> = LazyLock::new(|| EventKey::generate().expect("key"));

fn format(claims: &TicketClaims, signature: &[u8; 64]) -> String {
    let mut payload = vec![VERSION];
    payload.extend_from_slice(claims.ticket_id.as_bytes());
    payload.extend_from_slice(claims.event_id.as_bytes());
    payload.extend_from_slice(claims.ticket_type_id.as_bytes());
    payload.extend_from_slice(signature);
    format!("{PREFIX}{}", URL_SAFE_NO_PAD.encode(payload))
}

fuzz_target!(|data: &[u8]| {
    let public = KEY.public_key();
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok((claims, signature)) = code::parse(text) {
            assert_eq!(format(&claims, &signature), text, "parse/format round trip");
        }
        assert!(
            code::verify(text, &public).is_err(),
            "a code the fuzzer made verified: {text:?}"
        );
    }
    // Claims from the first 48 bytes, then one change at a position and
    // with a character chosen by the next two bytes.
    if data.len() >= 50 {
        let uuid = |at: usize| Uuid::from_slice(&data[at..at + 16]).expect("16 bytes");
        let claims = TicketClaims {
            ticket_id: uuid(0),
            event_id: uuid(16),
            ticket_type_id: uuid(32),
        };
        let genuine = KEY.sign(&claims);
        assert_eq!(code::verify(&genuine, &public), Ok(claims));
        let mut bytes = genuine.clone().into_bytes();
        let at = data[48] as usize % bytes.len();
        const ALPHABET: &[u8] =
            b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.=+/ ";
        let replacement = ALPHABET[data[49] as usize % ALPHABET.len()];
        if bytes[at] != replacement {
            bytes[at] = replacement;
            let forged = String::from_utf8(bytes).expect("ascii");
            assert!(
                code::verify(&forged, &public).is_err(),
                "a changed code still verified: {forged}"
            );
        }
    }
});
