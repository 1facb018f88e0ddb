//! Access tokens (`tg-auth`): every request's bearer token reaches the
//! verifier's header and claims parsing before anything else.
//!
//! * Any text as a token: `verify` never panics and never accepts (the
//!   fuzzer holds no signing key).
//! * Any header and claims bytes, genuinely signed with the issuer's ES256
//!   key: `verify` never panics, and whatever it accepts has a JSON header
//!   naming ES256 without `jku`/`x5u`/`jwk`/`crit`, the configured `iss`,
//!   an `aud` containing the audience and an unexpired `exp`.
//! * A genuine token with one character changed never verifies, unless the
//!   change leaves every segment decoding to the same bytes.
#![no_main]

use std::sync::{Arc, LazyLock};

use async_trait::async_trait;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use libfuzzer_sys::fuzz_target;
use serde_json::{Value, json};
use tg_auth::jwt::{Algorithm, JwkSet};
use tg_auth::{IssuerConfig, JwksProvider, KeySource, Verifier};

const ISS: &str = "https://idp.fuzz.test";
const AUD: &str = "ticketgw";
const KID: &str = "fuzz-1";

struct Keys(Value);

#[async_trait]
impl JwksProvider for Keys {
    async fn jwks(&self) -> anyhow::Result<JwkSet> {
        Ok(serde_json::from_value(self.0.clone())?)
    }
}

struct World {
    rt: tokio::runtime::Runtime,
    verifier: Verifier,
    pair: EcdsaKeyPair,
    genuine: String,
}

fn b64(b: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(b)
}

impl World {
    fn sign(&self, header: &[u8], claims: &[u8]) -> String {
        let input = format!("{}.{}", b64(header), b64(claims));
        let sig = self
            .pair
            .sign(&SystemRandom::new(), input.as_bytes())
            .expect("sign");
        format!("{input}.{}", b64(sig.as_ref()))
    }

    fn verify(&self, token: &str) -> Option<tg_auth::Claims> {
        self.rt.block_on(self.verifier.verify(token)).ok()
    }
}

static WORLD: LazyLock<World> = LazyLock::new(|| {
    let pkcs8 =
        EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &SystemRandom::new())
            .expect("keygen");
    let pair =
        EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref()).expect("pkcs8");
    let point = pair.public_key().as_ref().to_vec();
    let jwks = json!({"keys": [{"kty": "EC", "crv": "P-256", "x": b64(&point[1..33]),
        "y": b64(&point[33..65]), "kid": KID, "alg": "ES256", "use": "sig"}]});
    let verifier = Verifier::new(
        vec![IssuerConfig::new(
            ISS,
            vec![AUD.into()],
            vec![Algorithm::ES256],
            KeySource::Local(Arc::new(Keys(jwks))),
        )],
        tg_auth::LazyClient::new(),
    )
    .expect("verifier");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("runtime");
    let mut w = World {
        rt,
        verifier,
        pair,
        genuine: String::new(),
    };
    let header = json!({"alg": "ES256", "typ": "at+jwt", "kid": KID});
    let claims = json!({"iss": ISS, "aud": AUD, "sub": "fuzzer",
        "exp": chrono::Utc::now().timestamp() + 86_400, "iat": chrono::Utc::now().timestamp()});
    w.genuine = w.sign(header.to_string().as_bytes(), claims.to_string().as_bytes());
    assert!(w.verify(&w.genuine).is_some(), "the genuine token verifies");
    w
});

fn segments(token: &str) -> Option<Vec<Vec<u8>>> {
    token
        .split('.')
        .map(|s| URL_SAFE_NO_PAD.decode(s).ok())
        .collect()
}

fuzz_target!(|data: &[u8]| {
    let w = &*WORLD;
    if let Ok(text) = std::str::from_utf8(data) {
        assert!(w.verify(text).is_none(), "a token the fuzzer made verified");
    }

    // Header and claims from the input (split at the first NUL), signed.
    let split = data.iter().position(|b| *b == 0).unwrap_or(data.len());
    let (header, claims) = (&data[..split], data.get(split + 1..).unwrap_or(&[]));
    let token = w.sign(header, claims);
    if let Some(c) = w.verify(&token) {
        let h: Value = serde_json::from_slice(header).expect("an accepted header is JSON");
        assert_eq!(h["alg"], "ES256");
        for banned in ["jku", "x5u", "jwk", "crit"] {
            assert!(h.get(banned).is_none(), "accepted a header with {banned}");
        }
        let p: Value = serde_json::from_slice(claims).expect("accepted claims are JSON");
        assert_eq!(p["iss"], ISS);
        assert_eq!(c.iss, ISS);
        assert!(
            p["aud"] == AUD
                || p["aud"]
                    .as_array()
                    .is_some_and(|a| a.iter().any(|x| x == AUD)),
            "accepted without the audience"
        );
        let exp = p["exp"].as_f64().expect("accepted without a numeric exp");
        assert!(
            exp + 60.0 >= chrono::Utc::now().timestamp() as f64,
            "accepted expired"
        );
    }

    // The genuine token, one character changed.
    if let [a, b, c, ..] = data {
        let mut bytes = w.genuine.clone().into_bytes();
        let at = (usize::from(*a) << 8 | usize::from(*b)) % bytes.len();
        const ALPHABET: &[u8] =
            b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.=+/";
        let replacement = ALPHABET[*c as usize % ALPHABET.len()];
        if bytes[at] != replacement {
            bytes[at] = replacement;
            let changed = String::from_utf8(bytes).expect("ascii");
            if w.verify(&changed).is_some() {
                assert_eq!(
                    segments(&changed),
                    segments(&w.genuine),
                    "a changed token verified: {changed}"
                );
            }
        }
    }
});
