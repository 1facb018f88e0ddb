//! The built-in identity provider's core, used by the `identity` function
//! and by the local platform:
//!
//! * [`KeyRing`]: ES256 signing keys generated on first start and kept in
//!   storage (so every instance signs with, and publishes, the same keys);
//!   the public half is served as the JWKS.
//! * [`KeyRing::mint_access_token`]: RFC 9068 access tokens (`typ: at+jwt`)
//!   that the shared verifier checks exactly as it checks Keycloak's.
//! * [`passwords`]: argon2id at OWASP's recommended parameters.
//! * [`refresh`]: opaque refresh tokens, stored only as SHA-256 hashes.
//! * [`oidc`]: registered clients, authorization codes and account tokens
//!   (random, stored as SHA-256), PKCE S256, the sign-in form's MAC, ID
//!   tokens.

pub mod oidc;
pub mod passwords;
pub mod refresh;

use std::sync::Arc;

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde::Serialize;
use tg_store::{Role, SigningKey, Store, User};
use tokio::sync::RwLock;
use uuid::Uuid;

/// Audience of the built-in provider's access tokens.
pub const AUDIENCE: &str = "ticketgw";
/// Lifetime of an access token.
pub const ACCESS_TOKEN_SECONDS: i64 = 15 * 60;

#[derive(Debug, Serialize)]
struct AccessClaims<'a> {
    iss: &'a str,
    sub: String,
    aud: &'a str,
    exp: i64,
    iat: i64,
    nbf: i64,
    jti: String,
    sid: String,
    client_id: &'a str,
    roles: Vec<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    email: Option<&'a str>,
    name: &'a str,
}

/// The provider's signing keys, loaded from storage (and created there on
/// first use).
pub struct KeyRing {
    issuer: String,
    store: Arc<dyn Store>,
    keys: RwLock<Vec<SigningKey>>,
}

impl KeyRing {
    pub fn new(issuer: impl Into<String>, store: Arc<dyn Store>) -> Self {
        Self {
            issuer: issuer.into(),
            store,
            keys: RwLock::new(Vec::new()),
        }
    }

    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// Loads the keys, generating the first one if storage has none.
    pub async fn ensure_key(&self) -> anyhow::Result<()> {
        let mut keys = self.store.signing_keys().await?;
        if !keys.iter().any(|k| k.retired_at.is_none()) {
            let key = generate_es256()?;
            self.store.insert_signing_key(&key).await?;
            tracing::info!(kid = %key.kid, "generated a new ES256 signing key");
            keys = self.store.signing_keys().await?;
        }
        *self.keys.write().await = keys;
        Ok(())
    }

    async fn active_key(&self) -> anyhow::Result<SigningKey> {
        if let Some(k) = self
            .keys
            .read()
            .await
            .iter()
            .rev()
            .find(|k| k.retired_at.is_none())
        {
            return Ok(k.clone());
        }
        self.ensure_key().await?;
        self.keys
            .read()
            .await
            .iter()
            .rev()
            .find(|k| k.retired_at.is_none())
            .cloned()
            .ok_or_else(|| anyhow::anyhow!("no signing key"))
    }

    /// The public keys (every unretired key), as served at the JWKS URL.
    pub async fn jwks(&self) -> anyhow::Result<JwkSet> {
        // Reload: another instance may have added a key.
        let keys = self.store.signing_keys().await?;
        let jwks = keys
            .iter()
            .filter(|k| k.retired_at.is_none())
            .map(|k| serde_json::from_str(&k.public_jwk))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(JwkSet { keys: jwks })
    }

    /// A signed access token for `user` in session `sid`.
    pub async fn mint_access_token(
        &self,
        user: &User,
        sid: Uuid,
        now: DateTime<Utc>,
    ) -> anyhow::Result<String> {
        self.mint_access_token_for(user, sid, "ticketgw", now).await
    }

    /// [`KeyRing::mint_access_token`] naming the OAuth client it was
    /// issued to (`client_id`); the audience stays the platform's.
    pub async fn mint_access_token_for(
        &self,
        user: &User,
        sid: Uuid,
        client_id: &str,
        now: DateTime<Utc>,
    ) -> anyhow::Result<String> {
        let key = self.active_key().await?;
        let mut header = Header::new(Algorithm::ES256);
        header.typ = Some("at+jwt".into());
        header.kid = Some(key.kid.clone());
        let ts = now.timestamp();
        let claims = AccessClaims {
            iss: &self.issuer,
            sub: user.sub.clone(),
            aud: AUDIENCE,
            exp: ts + ACCESS_TOKEN_SECONDS,
            iat: ts,
            nbf: ts,
            jti: Uuid::new_v4().to_string(),
            sid: sid.to_string(),
            client_id,
            roles: user.roles.iter().map(|r| r.as_str()).collect(),
            email: user.email.as_deref(),
            name: &user.name,
        };
        Ok(jsonwebtoken::encode(
            &header,
            &claims,
            &EncodingKey::from_ec_der(&key.private_der),
        )?)
    }
}

/// Generates an ES256 (P-256) key: PKCS#8 private key and public JWK.
pub fn generate_es256() -> anyhow::Result<SigningKey> {
    let rng = SystemRandom::new();
    let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng)
        .map_err(|_| anyhow::anyhow!("key generation failed"))?;
    let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref())
        .map_err(|_| anyhow::anyhow!("generated key rejected"))?;
    let point = pair.public_key().as_ref();
    // Uncompressed SEC1 point: 0x04 || X (32) || Y (32).
    anyhow::ensure!(
        point.len() == 65 && point[0] == 4,
        "unexpected public key encoding"
    );
    let kid = Uuid::new_v4().simple().to_string();
    let jwk = serde_json::json!({
        "kty": "EC",
        "crv": "P-256",
        "x": URL_SAFE_NO_PAD.encode(&point[1..33]),
        "y": URL_SAFE_NO_PAD.encode(&point[33..65]),
        "kid": kid,
        "alg": "ES256",
        "use": "sig",
    });
    Ok(SigningKey {
        kid,
        alg: "ES256".into(),
        private_der: pkcs8.as_ref().to_vec(),
        public_jwk: jwk.to_string(),
        created_at: tg_store::now(),
        retired_at: None,
    })
}

/// Role names as they appear in tokens.
pub fn role_names(roles: &[Role]) -> Vec<&'static str> {
    roles.iter().map(|r| r.as_str()).collect()
}
