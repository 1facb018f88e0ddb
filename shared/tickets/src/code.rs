//! Ticket codes: what the QR code carries and a door scanner verifies offline.
//!
//! A code is [`PREFIX`] followed by the unpadded base64url encoding of
//!
//! ```text
//! version (1 byte, = 1) || ticket_id (16) || event_id (16) || ticket_type_id (16) || signature (64)
//! ```
//!
//! 113 bytes, so 151 characters after the prefix and [`CODE_LEN`] (155) in all.
//! The UUIDs are their 16 big-endian bytes (RFC 9562 order, `Uuid::as_bytes`).
//! The signature is Ed25519 with the **event's** key over
//!
//! ```text
//! "ticketgw/ticket-code\0" || version || ticket_id || event_id || ticket_type_id
//! ```
//!
//! i.e. a fixed context string followed by the first 49 bytes of the payload,
//! so a signature made with an event key for anything else can never pass as
//! a ticket. A scanner needs only the event's 32-byte public key
//! ([`EventKey::public_key`]).
//!
//! Parsing is strict: exact prefix, exact length, canonical base64url (no
//! padding, no whitespace, zero trailing bits), known version. Every code
//! therefore has exactly one spelling, and Ed25519 as implemented by AWS-LC
//! rejects non-canonical signatures, so a valid code cannot be altered into
//! another string that still verifies.

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{ED25519, Ed25519KeyPair, KeyPair, UnparsedPublicKey};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use std::fmt;
use uuid::Uuid;

/// The text every code starts with (format version 1).
pub const PREFIX: &str = "TG1.";
/// The version byte at the start of the decoded payload.
pub const VERSION: u8 = 1;
/// Length of an Ed25519 signature.
pub const SIGNATURE_LEN: usize = 64;
/// Length of an Ed25519 public key.
pub const PUBLIC_KEY_LEN: usize = 32;

const SIGNED_LEN: usize = 1 + 16 * 3;
const PAYLOAD_LEN: usize = SIGNED_LEN + SIGNATURE_LEN;
const BODY_LEN: usize = (PAYLOAD_LEN * 8).div_ceil(6);
/// Exact length of a code in bytes (all ASCII).
pub const CODE_LEN: usize = PREFIX.len() + BODY_LEN;

/// Domain separation: what the signature covers starts with this.
const CONTEXT: &[u8] = b"ticketgw/ticket-code\0";

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CodeError {
    /// Not a code of this format (prefix, length, encoding or version).
    #[error("malformed ticket code: {0}")]
    Malformed(&'static str),
    /// Well-formed, but not signed by this event's key.
    #[error("ticket code signature is not valid for this event")]
    BadSignature,
    /// A key could not be generated or parsed.
    #[error("event key: {0}")]
    Key(String),
}

/// What a code vouches for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TicketClaims {
    pub ticket_id: Uuid,
    pub event_id: Uuid,
    pub ticket_type_id: Uuid,
}

impl TicketClaims {
    /// version || ticket_id || event_id || ticket_type_id: the payload's signed part.
    fn signed_part(&self) -> [u8; SIGNED_LEN] {
        let mut out = [0u8; SIGNED_LEN];
        out[0] = VERSION;
        out[1..17].copy_from_slice(self.ticket_id.as_bytes());
        out[17..33].copy_from_slice(self.event_id.as_bytes());
        out[33..49].copy_from_slice(self.ticket_type_id.as_bytes());
        out
    }
}

/// The message the event key signs for these claims.
fn message(signed_part: &[u8; SIGNED_LEN]) -> [u8; CONTEXT.len() + SIGNED_LEN] {
    let mut msg = [0u8; CONTEXT.len() + SIGNED_LEN];
    msg[..CONTEXT.len()].copy_from_slice(CONTEXT);
    msg[CONTEXT.len()..].copy_from_slice(signed_part);
    msg
}

/// An event's Ed25519 signing key. Keep it server side; hand scanners
/// [`EventKey::public_key`] (or its base64url form).
pub struct EventKey {
    pkcs8: Vec<u8>,
    pair: Ed25519KeyPair,
    public: [u8; PUBLIC_KEY_LEN],
}

impl fmt::Debug for EventKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EventKey")
            .field("public_key", &self.public_key_b64())
            .finish_non_exhaustive()
    }
}

impl EventKey {
    /// A fresh key (PKCS#8 v2 with the public key).
    pub fn generate() -> Result<EventKey, CodeError> {
        let doc = Ed25519KeyPair::generate_pkcs8(&SystemRandom::new())
            .map_err(|_| CodeError::Key("key generation failed".into()))?;
        EventKey::from_pkcs8(doc.as_ref())
    }

    /// A stored key: unencrypted PKCS#8 DER (v2 as [`EventKey::pkcs8`] returns
    /// for generated keys, whose public key is checked against the private
    /// key; v1 as `openssl genpkey -algorithm ED25519` writes is accepted too).
    pub fn from_pkcs8(der: &[u8]) -> Result<Self, CodeError> {
        let pair = Ed25519KeyPair::from_pkcs8(der).map_err(|e| CodeError::Key(e.to_string()))?;
        let public = <[u8; PUBLIC_KEY_LEN]>::try_from(pair.public_key().as_ref())
            .map_err(|_| CodeError::Key("unexpected public key length".into()))?;
        Ok(EventKey {
            pkcs8: der.to_vec(),
            pair,
            public,
        })
    }

    /// The PKCS#8 DER to store (secret).
    pub fn pkcs8(&self) -> &[u8] {
        &self.pkcs8
    }

    /// The raw 32-byte Ed25519 public key a scanner verifies with.
    pub fn public_key(&self) -> [u8; PUBLIC_KEY_LEN] {
        self.public
    }

    /// The public key as unpadded base64url (43 characters).
    pub fn public_key_b64(&self) -> String {
        URL_SAFE_NO_PAD.encode(self.public)
    }

    /// The ticket's code. Ed25519 is deterministic: the same claims always
    /// give the same code. (AWS-LC's Ed25519 signing has no failure mode for a
    /// parsed key; `aws_lc_rs` would panic on an internal error.)
    pub fn sign(&self, t: &TicketClaims) -> String {
        let signed = t.signed_part();
        let signature = self.pair.sign(&message(&signed));
        let mut payload = [0u8; PAYLOAD_LEN];
        payload[..SIGNED_LEN].copy_from_slice(&signed);
        payload[SIGNED_LEN..].copy_from_slice(signature.as_ref());
        let mut code = String::with_capacity(CODE_LEN);
        code.push_str(PREFIX);
        URL_SAFE_NO_PAD.encode_string(payload, &mut code);
        code
    }
}

/// Decodes a public key given as unpadded base64url (as
/// [`EventKey::public_key_b64`] writes it).
pub fn public_key_from_b64(s: &str) -> Result<[u8; PUBLIC_KEY_LEN], CodeError> {
    let bytes = URL_SAFE_NO_PAD
        .decode(s)
        .map_err(|_| CodeError::Key("public key is not base64url".into()))?;
    <[u8; PUBLIC_KEY_LEN]>::try_from(bytes.as_slice())
        .map_err(|_| CodeError::Key("public key must be 32 bytes".into()))
}

fn uuid_at(payload: &[u8; PAYLOAD_LEN], at: usize) -> Uuid {
    let mut b = [0u8; 16];
    b.copy_from_slice(&payload[at..at + 16]);
    Uuid::from_bytes(b)
}

/// Splits a code into its claims and signature, checking its structure only.
/// Nothing here is trusted: use [`verify`] at the door.
pub fn parse(code: &str) -> Result<(TicketClaims, [u8; SIGNATURE_LEN]), CodeError> {
    let body = code
        .strip_prefix(PREFIX)
        .ok_or(CodeError::Malformed("prefix"))?;
    if code.len() != CODE_LEN {
        return Err(CodeError::Malformed("length"));
    }
    // The engine refuses padding, whitespace, characters outside the URL-safe
    // alphabet and non-zero trailing bits; the re-encoding check below makes
    // canonical form explicit rather than a property of the engine's config.
    let bytes = URL_SAFE_NO_PAD
        .decode(body)
        .map_err(|_| CodeError::Malformed("encoding"))?;
    let payload = <[u8; PAYLOAD_LEN]>::try_from(bytes.as_slice())
        .map_err(|_| CodeError::Malformed("length"))?;
    if URL_SAFE_NO_PAD.encode(payload) != body {
        return Err(CodeError::Malformed("encoding"));
    }
    if payload[0] != VERSION {
        return Err(CodeError::Malformed("version"));
    }
    let claims = TicketClaims {
        ticket_id: uuid_at(&payload, 1),
        event_id: uuid_at(&payload, 17),
        ticket_type_id: uuid_at(&payload, 33),
    };
    let mut signature = [0u8; SIGNATURE_LEN];
    signature.copy_from_slice(&payload[SIGNED_LEN..]);
    Ok((claims, signature))
}

/// Parses a code and checks its signature against the event's public key.
///
/// The claims returned are authentic for whichever event owns `public_key`;
/// a scanner loaded with several events' keys should still compare
/// `event_id` with the event it is admitting to.
pub fn verify(code: &str, public_key: &[u8; PUBLIC_KEY_LEN]) -> Result<TicketClaims, CodeError> {
    let (claims, signature) = parse(code)?;
    UnparsedPublicKey::new(&ED25519, public_key)
        .verify(&message(&claims.signed_part()), &signature)
        .map_err(|_| CodeError::BadSignature)?;
    Ok(claims)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lengths() {
        assert_eq!(PAYLOAD_LEN, 113);
        assert_eq!(BODY_LEN, 151);
        assert_eq!(CODE_LEN, 155);
    }
}
