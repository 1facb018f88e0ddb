//! Micro-benchmark: verifies one ES256 access token whose key is already
//! cached, N times, and prints the mean time per verification.
//!
//! `cargo run --release -p tg-auth --example verify_bench [-- N]`

use std::sync::Arc;
use std::time::Instant;

use async_trait::async_trait;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::json;
use tg_auth::jwt::{IssuerConfig, JwkSet, JwksProvider, KeySource, Verifier};

const ISSUER: &str = "http://localhost:7070/idp";

struct Keys(JwkSet);

#[async_trait]
impl JwksProvider for Keys {
    async fn jwks(&self) -> anyhow::Result<JwkSet> {
        Ok(self.0.clone())
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let n: u32 = match std::env::args().nth(1) {
        Some(arg) => arg.parse()?,
        None => 20_000,
    };

    let pkcs8 =
        EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &SystemRandom::new())
            .map_err(|_| anyhow::anyhow!("key generation failed"))?;
    let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref())
        .map_err(|_| anyhow::anyhow!("bad key"))?;
    let point = pair.public_key().as_ref();
    let jwks: JwkSet = serde_json::from_value(json!({ "keys": [{
        "kty": "EC", "crv": "P-256", "kid": "bench", "alg": "ES256", "use": "sig",
        "x": URL_SAFE_NO_PAD.encode(&point[1..33]),
        "y": URL_SAFE_NO_PAD.encode(&point[33..65]),
    }]}))?;

    let verifier = Verifier::new(
        vec![IssuerConfig::new(
            ISSUER,
            vec!["ticketgw".into()],
            vec![Algorithm::ES256],
            KeySource::Local(Arc::new(Keys(jwks))),
        )],
        reqwest::Client::new(),
    )?;

    let now = jsonwebtoken::get_current_timestamp();
    let mut header = Header::new(Algorithm::ES256);
    header.typ = Some("at+jwt".into());
    header.kid = Some("bench".into());
    let token = jsonwebtoken::encode(
        &header,
        &json!({
            "iss": ISSUER, "sub": "user-1", "aud": "ticketgw",
            "exp": now + 3600, "iat": now, "roles": ["organizer"],
            "email": "u@example.com", "name": "Bench", "jti": "j", "sid": "s",
        }),
        &EncodingKey::from_ec_der(pkcs8.as_ref()),
    )?;

    // Warm-up: loads and caches the key.
    for _ in 0..100 {
        verifier.verify(&token).await?;
    }
    let started = Instant::now();
    for _ in 0..n {
        std::hint::black_box(verifier.verify(std::hint::black_box(&token)).await?);
    }
    let elapsed = started.elapsed();
    println!(
        "{n} ES256 verifications (cached key): mean {:.1} µs per verification ({} JWKS load)",
        elapsed.as_secs_f64() * 1e6 / f64::from(n),
        verifier.jwks_fetches(ISSUER),
    );
    Ok(())
}
