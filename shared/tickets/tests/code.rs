//! Ticket codes: valid codes verify; a large corpus of forged and mutated
//! codes does not, and a verifier that skipped the signature check would
//! have accepted much of that corpus (so the test can fail).
#![allow(clippy::unwrap_used)]

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use tg_tickets::code::{self, CODE_LEN, CodeError, EventKey, PREFIX, TicketClaims};
use uuid::Uuid;

/// splitmix64: deterministic, so a failure reproduces.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn bytes<const N: usize>(&mut self) -> [u8; N] {
        let mut out = [0u8; N];
        for b in &mut out {
            *b = self.next() as u8;
        }
        out
    }
    fn uuid(&mut self) -> Uuid {
        Uuid::from_bytes(self.bytes())
    }
}

const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

fn claims(rng: &mut Rng, event_id: Uuid) -> TicketClaims {
    TicketClaims {
        ticket_id: rng.uuid(),
        event_id,
        ticket_type_id: rng.uuid(),
    }
}

fn decode(code: &str) -> Vec<u8> {
    URL_SAFE_NO_PAD
        .decode(code.strip_prefix(PREFIX).unwrap())
        .unwrap()
}

fn encode(payload: &[u8]) -> String {
    format!("{PREFIX}{}", URL_SAFE_NO_PAD.encode(payload))
}

/// One forged or mutated code and the key it is presented with.
struct Case {
    kind: &'static str,
    code: String,
    key: [u8; 32],
    /// Structurally a code (canonical, right length and version): only the
    /// signature check stands between it and the door.
    well_formed: bool,
}

struct Corpus {
    cases: Vec<Case>,
}

impl Corpus {
    fn push(&mut self, kind: &'static str, code: String, key: [u8; 32]) {
        self.cases.push(Case {
            kind,
            code,
            key,
            well_formed: false,
        });
    }
    /// A case built as a canonical payload with the right version.
    fn push_well_formed(&mut self, kind: &'static str, code: String, key: [u8; 32]) {
        assert!(code::parse(&code).is_ok(), "{kind}: {code}");
        self.cases.push(Case {
            kind,
            code,
            key,
            well_formed: true,
        });
    }
}

/// L, the order of the Ed25519 base point, little-endian.
const ED25519_L: [u8; 32] = [
    0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9, 0xde, 0x14,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10,
];

fn build_corpus(a: &EventKey, b: &EventKey, rng: &mut Rng) -> (String, Corpus) {
    let event_a = rng.uuid();
    let event_b = rng.uuid();
    let pa = a.public_key();
    let pb = b.public_key();
    let valid_claims = claims(rng, event_a);
    let valid = a.sign(&valid_claims);
    let payload = decode(&valid);
    let mut c = Corpus { cases: Vec::new() };

    // Every single-character substitution at every position, with every
    // base64url character and a few that are not.
    let mut subs: Vec<char> = ALPHABET.iter().map(|&b| char::from(b)).collect();
    subs.extend(['=', '+', '/', '.', ' ', '\n', '\0', '%', 'é', 'Ａ']);
    for (i, orig) in valid.char_indices() {
        for &s in &subs {
            if s == orig {
                continue;
            }
            let mut m = String::with_capacity(valid.len() + 2);
            m.push_str(&valid[..i]);
            m.push(s);
            m.push_str(&valid[i + 1..]);
            c.push("substitution", m, pa);
        }
    }

    // Truncations to every length, and extensions.
    for n in 0..valid.len() {
        c.push("truncation", valid[..n].to_string(), pa);
    }
    for &s in &subs {
        c.push("extension", format!("{valid}{s}"), pa);
        c.push("extension", format!("{s}{valid}"), pa);
    }
    for ext in ["=", "==", "A", "AA", "AAAA", " ", "\r\n", "\u{200B}"] {
        c.push("extension", format!("{valid}{ext}"), pa);
    }
    c.push("extension", format!("{valid}{valid}"), pa);
    c.push("extension", format!("{PREFIX}{valid}"), pa);
    c.push(
        "extension",
        format!("{valid}.{}", &valid[PREFIX.len()..]),
        pa,
    );

    // Every bit of the payload flipped, re-encoded canonically: the
    // signature's bits, the claims' bits (signature kept), the version's.
    for bit in 0..payload.len() * 8 {
        let mut p = payload.clone();
        p[bit / 8] ^= 1 << (bit % 8);
        if bit < 8 {
            c.push("version bit flip", encode(&p), pa);
        } else if bit < 49 * 8 {
            c.push_well_formed("claims bit flip", encode(&p), pa);
        } else {
            c.push_well_formed("signature bit flip", encode(&p), pa);
        }
    }
    // Signature malleability: S + L is the same scalar, not the canonical one.
    {
        let mut p = payload.clone();
        let s = &mut p[49 + 32..];
        let mut carry = 0u16;
        for (byte, l) in s.iter_mut().zip(ED25519_L) {
            let sum = u16::from(*byte) + u16::from(l) + carry;
            *byte = sum as u8;
            carry = sum >> 8;
        }
        assert_eq!(carry, 0);
        c.push_well_formed("signature S + L", encode(&p), pa);
    }
    // Zero and all-ones signatures; a signature copied from another ticket.
    for fill in [0x00u8, 0xFF] {
        let mut p = payload.clone();
        p[49..].fill(fill);
        c.push_well_formed("constant signature", encode(&p), pa);
    }
    {
        let other = decode(&a.sign(&claims(rng, event_a)));
        let mut p = payload.clone();
        p[49..].copy_from_slice(&other[49..]);
        c.push_well_formed("signature of another ticket", encode(&p), pa);
    }
    // Claims swapped around under the valid signature.
    {
        let mut p = payload.clone();
        p[1..17].copy_from_slice(&payload[33..49]);
        p[33..49].copy_from_slice(&payload[1..17]);
        c.push_well_formed("claims swapped", encode(&p), pa);
        let mut p = payload.clone();
        p[17..33].copy_from_slice(event_b.as_bytes());
        c.push_well_formed("event id replaced", encode(&p), pa);
    }

    // Claims re-signed with another event's key, presented to event A.
    c.push_well_formed("re-signed by event B", b.sign(&valid_claims), pa);
    for _ in 0..300 {
        c.push_well_formed("re-signed by event B", b.sign(&claims(rng, event_a)), pa);
    }
    for _ in 0..50 {
        let stranger = EventKey::generate().unwrap();
        c.push_well_formed(
            "signed by a fresh key",
            stranger.sign(&claims(rng, event_a)),
            pa,
        );
    }
    // Valid codes of event A presented to event B's scanner.
    c.push_well_formed("A's code at B", valid.clone(), pb);
    for _ in 0..300 {
        c.push_well_formed("A's code at B", a.sign(&claims(rng, event_a)), pb);
    }

    // Garbage: random text, random base64url behind the prefix, random
    // well-formed payloads.
    for _ in 0..1000 {
        let len = rng.below(400);
        let s: String = (0..len)
            .map(|_| char::from(b' ' + rng.below(95) as u8))
            .collect();
        c.push("random text", s, pa);
    }
    for _ in 0..1000 {
        let body: String = (0..CODE_LEN - PREFIX.len())
            .map(|_| char::from(ALPHABET[rng.below(64)]))
            .collect();
        c.push("random base64url", format!("{PREFIX}{body}"), pa);
    }
    for _ in 0..500 {
        let mut p: [u8; 113] = rng.bytes();
        p[0] = 1;
        c.push_well_formed("random payload", encode(&p), pa);
    }

    // Empty, prefixes only, wrong prefixes, padding, other alphabets.
    let body = &valid[PREFIX.len()..];
    for s in [
        String::new(),
        PREFIX.to_string(),
        "TG1".to_string(),
        body.to_string(),
        format!("tg1.{body}"),
        format!("TG2.{body}"),
        format!("TG0.{body}"),
        format!("TG1:{body}"),
        format!("TG1-{body}"),
        format!("TG1..{}", &body[1..]),
        format!(" TG1.{}", &body[1..]),
        format!("{valid}="),
        format!("{}=", &valid[..valid.len() - 1]),
        format!(
            "{PREFIX}{}",
            base64::engine::general_purpose::STANDARD.encode(&payload)
        ),
        format!(
            "{PREFIX}{}",
            base64::engine::general_purpose::URL_SAFE.encode(&payload)
        ),
        valid.to_lowercase(),
        valid.to_uppercase(),
    ] {
        c.push("wrong prefix or encoding", s, pa);
    }
    // Version bytes other than 1, correctly encoded.
    for v in [0u8, 2, 3, 0x7F, 0x80, 0xFF] {
        let mut p = payload.clone();
        p[0] = v;
        c.push("other version", encode(&p), pa);
    }

    (valid, c)
}

#[test]
fn a_valid_code_verifies() {
    let key = EventKey::generate().unwrap();
    let claims = TicketClaims {
        ticket_id: Uuid::now_v7(),
        event_id: Uuid::now_v7(),
        ticket_type_id: Uuid::now_v7(),
    };
    let code = key.sign(&claims);
    assert_eq!(code.len(), CODE_LEN);
    assert!(code.starts_with("TG1."));
    assert!(
        code[4..]
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    );
    assert_eq!(code::verify(&code, &key.public_key()), Ok(claims));
    assert_eq!(code::parse(&code).unwrap().0, claims);
    // Deterministic, and the same from the stored key.
    assert_eq!(key.sign(&claims), code);
    let reloaded = EventKey::from_pkcs8(key.pkcs8()).unwrap();
    assert_eq!(reloaded.public_key(), key.public_key());
    assert_eq!(reloaded.sign(&claims), code);
    // The scanner's copy of the public key.
    let pk = code::public_key_from_b64(&key.public_key_b64()).unwrap();
    assert_eq!(code::verify(&code, &pk), Ok(claims));
    // No secret in Debug.
    let debug = format!("{key:?}");
    assert!(debug.contains(&key.public_key_b64()));
    assert!(!debug.contains(&URL_SAFE_NO_PAD.encode(key.pkcs8())));
}

#[test]
fn bad_keys_are_refused() {
    assert!(matches!(
        EventKey::from_pkcs8(b"not a key"),
        Err(CodeError::Key(_))
    ));
    let key = EventKey::generate().unwrap();
    let mut der = key.pkcs8().to_vec();
    let last = der.len() - 1;
    der[last] ^= 1; // the embedded public key no longer matches
    assert!(matches!(EventKey::from_pkcs8(&der), Err(CodeError::Key(_))));
    assert!(code::public_key_from_b64("AAAA").is_err());
    assert!(code::public_key_from_b64(&format!("{}=", key.public_key_b64())).is_err());
}

#[test]
fn forged_and_mutated_codes_are_all_refused() {
    let mut rng = Rng(0x5EED_7469_636B_6574);
    let a = EventKey::generate().unwrap();
    let b = EventKey::generate().unwrap();
    let (valid, corpus) = build_corpus(&a, &b, &mut rng);
    let cases = &corpus.cases;
    // The size the claim names: exactly this many forged and mutated codes.
    assert_eq!(cases.len(), 15_714, "the corpus size");
    assert!(
        cases
            .iter()
            .all(|c| c.code != valid || c.key != a.public_key())
    );

    // Positive control: the real verifier accepts the genuine code.
    assert!(code::verify(&valid, &a.public_key()).is_ok());

    // The real verifier accepts none of the corpus.
    let accepted: Vec<&Case> = cases
        .iter()
        .filter(|c| code::verify(&c.code, &c.key).is_ok())
        .collect();
    assert!(
        accepted.is_empty(),
        "{} forged codes accepted, e.g. {} {:?}",
        accepted.len(),
        accepted[0].kind,
        accepted[0].code
    );
    // Forgeries that are well-formed fail on the signature; the rest on form.
    for c in cases {
        let err = code::verify(&c.code, &c.key).unwrap_err();
        if c.well_formed {
            assert_eq!(err, CodeError::BadSignature, "{}: {:?}", c.kind, c.code);
        } else if code::parse(&c.code).is_err() {
            assert!(matches!(err, CodeError::Malformed(_)), "{}", c.kind);
        }
    }

    // Negative control: a verifier that checks structure but skips the
    // signature would have let a large part of the corpus in, including
    // every well-formed forgery, so the assertion above can fail.
    let skips_signature = |code: &str, _key: &[u8; 32]| code::parse(code).is_ok();
    let let_in: Vec<&Case> = cases
        .iter()
        .filter(|c| skips_signature(&c.code, &c.key))
        .collect();
    let well_formed = cases.iter().filter(|c| c.well_formed).count();
    assert!(well_formed >= 1_000, "{well_formed}");
    assert!(let_in.iter().filter(|c| c.well_formed).count() == well_formed);
    assert!(
        let_in.len() >= 8_000,
        "only {} of {} accepted without the signature check",
        let_in.len(),
        cases.len()
    );
    // Substitutions inside the claims and signature are among them.
    assert!(let_in.iter().filter(|c| c.kind == "substitution").count() >= 9_000);
    eprintln!(
        "{} forged/mutated codes refused; {} would pass a verifier without the signature check",
        cases.len(),
        let_in.len()
    );
}

#[test]
fn parsing_is_strict_about_canonical_base64() {
    let key = EventKey::generate().unwrap();
    let code = key.sign(&TicketClaims {
        ticket_id: Uuid::nil(),
        event_id: Uuid::max(),
        ticket_type_id: Uuid::now_v7(),
    });
    // 113 bytes = 151 characters: the last character carries 4 bits and
    // 2 zero bits; each of its 3 siblings decodes to the same bytes.
    let last = code.as_bytes()[CODE_LEN - 1];
    let idx = ALPHABET.iter().position(|&c| c == last).unwrap();
    assert_eq!(idx & 0b11, 0);
    for low in 1..4 {
        let mut m = code[..CODE_LEN - 1].to_string();
        m.push(char::from(ALPHABET[idx | low]));
        assert_eq!(
            code::parse(&m),
            Err(CodeError::Malformed("encoding")),
            "{m}"
        );
        assert!(code::verify(&m, &key.public_key()).is_err());
    }
    assert_eq!(
        code::parse(&code[..CODE_LEN - 1]),
        Err(CodeError::Malformed("length"))
    );
    assert_eq!(
        code::parse(&format!("TG2.{}", &code[4..])),
        Err(CodeError::Malformed("prefix"))
    );
}
