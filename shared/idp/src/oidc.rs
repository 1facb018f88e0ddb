//! The OpenID Provider's primitives: registered clients, single-use random
//! values (authorization codes, account tokens) stored only as SHA-256,
//! PKCE S256, MACs over the sign-in form's hidden request field, and ID
//! tokens.

use aws_lc_rs::digest::{SHA256, digest};
use aws_lc_rs::hmac;
use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use jsonwebtoken::jwk::Jwk;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use tg_store::User;
use uuid::Uuid;

use crate::KeyRing;

/// The web app's client id.
pub const WEB_CLIENT_ID: &str = "ticketgw-web";
/// Lifetime of an authorization code.
pub const CODE_SECONDS: i64 = 60;
/// Lifetime of an ID token.
pub const ID_TOKEN_SECONDS: i64 = 15 * 60;
/// How long a rendered sign-in form stays usable.
pub const FORM_SECONDS: i64 = 30 * 60;

/// A registered public client (PKCE S256 required, exact redirect URIs).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Client {
    pub id: String,
    pub redirect_uris: Vec<String>,
    pub post_logout_redirect_uris: Vec<String>,
}

impl Client {
    /// The web app at `web_url` (no trailing slash).
    pub fn web(web_url: &str) -> Client {
        let base = web_url.trim_end_matches('/');
        Client {
            id: WEB_CLIENT_ID.into(),
            redirect_uris: vec![format!("{base}/auth/callback")],
            post_logout_redirect_uris: vec![format!("{base}/")],
        }
    }

    /// Exact string comparison, as OAuth 2.1 requires.
    pub fn allows_redirect(&self, uri: &str) -> bool {
        self.redirect_uris.iter().any(|u| u == uri)
    }

    pub fn allows_post_logout(&self, uri: &str) -> bool {
        self.post_logout_redirect_uris.iter().any(|u| u == uri)
    }
}

/// `n` random bytes, base64url without padding, after `prefix`.
pub fn random_token(prefix: &str, n: usize) -> anyhow::Result<String> {
    let mut bytes = vec![0u8; n];
    SystemRandom::new()
        .fill(&mut bytes)
        .map_err(|_| anyhow::anyhow!("no randomness"))?;
    Ok(format!("{prefix}{}", URL_SAFE_NO_PAD.encode(bytes)))
}

/// SHA-256 of a token: what storage keeps.
pub fn hash(token: &str) -> Vec<u8> {
    digest(&SHA256, token.as_bytes()).as_ref().to_vec()
}

/// RFC 7636 S256: base64url(SHA-256(verifier)).
pub fn s256(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(digest(&SHA256, verifier.as_bytes()))
}

/// A code verifier: 43 to 128 characters of `[A-Za-z0-9-._~]`.
pub fn valid_verifier(v: &str) -> bool {
    (43..=128).contains(&v.len())
        && v.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'))
}

/// A S256 challenge: 43 base64url characters.
pub fn valid_challenge(c: &str) -> bool {
    c.len() == 43
        && c.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_'))
}

/// Constant-time comparison of the verifier's S256 with the challenge.
pub fn pkce_matches(verifier: &str, challenge: &str) -> bool {
    valid_verifier(verifier)
        && aws_lc_rs::constant_time::verify_slices_are_equal(
            s256(verifier).as_bytes(),
            challenge.as_bytes(),
        )
        .is_ok()
}

#[derive(Debug, Serialize)]
struct IdClaims<'a> {
    iss: &'a str,
    sub: &'a str,
    aud: &'a str,
    exp: i64,
    iat: i64,
    auth_time: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    nonce: Option<&'a str>,
    azp: &'a str,
    sid: String,
    at_hash: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    email: Option<&'a str>,
    email_verified: bool,
    name: &'a str,
}

/// What an ID token presented as `id_token_hint` says.
#[derive(Debug, Clone, Deserialize)]
pub struct IdTokenHint {
    pub aud: String,
    pub sub: String,
    #[serde(default)]
    pub sid: Option<String>,
}

impl KeyRing {
    /// An ID token (`typ: JWT`, audience the client) for `user`.
    #[allow(clippy::too_many_arguments)]
    pub async fn mint_id_token(
        &self,
        user: &User,
        client_id: &str,
        nonce: Option<&str>,
        auth_time: DateTime<Utc>,
        sid: Uuid,
        access_token: &str,
        now: DateTime<Utc>,
    ) -> anyhow::Result<String> {
        let key = self.active_key().await?;
        let mut header = Header::new(Algorithm::ES256);
        header.typ = Some("JWT".into());
        header.kid = Some(key.kid.clone());
        // OIDC Core 3.1.3.6: the left half of the access token's SHA-256.
        let h = digest(&SHA256, access_token.as_bytes());
        let ts = now.timestamp();
        let claims = IdClaims {
            iss: &self.issuer,
            sub: &user.sub,
            aud: client_id,
            exp: ts + ID_TOKEN_SECONDS,
            iat: ts,
            auth_time: auth_time.timestamp(),
            nonce,
            azp: client_id,
            sid: sid.to_string(),
            at_hash: URL_SAFE_NO_PAD.encode(&h.as_ref()[..16]),
            email: user.email.as_deref(),
            email_verified: user.email_verified,
            name: &user.name,
        };
        Ok(jsonwebtoken::encode(
            &header,
            &claims,
            &EncodingKey::from_ec_der(&key.private_der),
        )?)
    }

    /// An ID token this provider signed (expired ones too: a hint names a
    /// past session), or `None`.
    pub async fn read_id_token_hint(&self, token: &str) -> Option<IdTokenHint> {
        let header = jsonwebtoken::decode_header(token).ok()?;
        if header.alg != Algorithm::ES256 || header.typ.as_deref() != Some("JWT") {
            return None;
        }
        let kid = header.kid?;
        let keys = self.store.signing_keys().await.ok()?;
        let key = keys.iter().find(|k| k.kid == kid)?;
        let jwk: Jwk = serde_json::from_str(&key.public_jwk).ok()?;
        let mut v = Validation::new(Algorithm::ES256);
        v.validate_exp = false;
        v.validate_aud = false;
        v.set_issuer(&[self.issuer.as_str()]);
        v.set_required_spec_claims(&["iss", "sub", "aud"]);
        let data =
            jsonwebtoken::decode::<IdTokenHint>(token, &DecodingKey::from_jwk(&jwk).ok()?, &v)
                .ok()?;
        Some(data.claims)
    }

    /// HMAC-SHA256 keys for the sign-in form, one per unretired signing key
    /// (newest first), derived from the private keys every instance shares.
    async fn form_keys(&self) -> anyhow::Result<Vec<hmac::Key>> {
        self.active_key().await?;
        let keys = self.keys.read().await;
        Ok(keys
            .iter()
            .rev()
            .filter(|k| k.retired_at.is_none())
            .map(|k| {
                let mut material = b"ticketgw authorize form v1\0".to_vec();
                material.extend_from_slice(&k.private_der);
                hmac::Key::new(hmac::HMAC_SHA256, digest(&SHA256, &material).as_ref())
            })
            .collect())
    }

    /// `payload` sealed against tampering: `base64url(payload).base64url(mac)`.
    pub async fn seal(&self, payload: &[u8]) -> anyhow::Result<String> {
        let keys = self.form_keys().await?;
        let key = keys
            .first()
            .ok_or_else(|| anyhow::anyhow!("no signing key"))?;
        let tag = hmac::sign(key, payload);
        Ok(format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(payload),
            URL_SAFE_NO_PAD.encode(tag.as_ref())
        ))
    }

    /// The payload of a value from [`KeyRing::seal`], or `None` when it was
    /// altered or sealed with a key no longer in use.
    pub async fn unseal(&self, sealed: &str) -> Option<Vec<u8>> {
        let (p, t) = sealed.split_once('.')?;
        let payload = URL_SAFE_NO_PAD.decode(p).ok()?;
        let tag = URL_SAFE_NO_PAD.decode(t).ok()?;
        let keys = self.form_keys().await.ok()?;
        keys.iter()
            .any(|k| hmac::verify(k, &payload, &tag).is_ok())
            .then_some(payload)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pkce_s256_matches_an_independent_computation() {
        // Python: base64.urlsafe_b64encode(hashlib.sha256(v).digest()).rstrip(b"=")
        let verifier = "dBjftJeZ4CVP-mJ92K27uhbUJU1p1r_wW1gFWFOEjXk";
        assert_eq!(
            s256(verifier),
            "ngF5GsXcbwljx6u133FFr3Xht9xooA_DuaX_3QwODtc"
        );
        assert!(pkce_matches(
            verifier,
            "ngF5GsXcbwljx6u133FFr3Xht9xooA_DuaX_3QwODtc"
        ));
        assert!(!pkce_matches(
            "dBjftJeZ4CVP-mJ92K27uhbUJU1p1r_wW1gFWFOEjXj",
            "ngF5GsXcbwljx6u133FFr3Xht9xooA_DuaX_3QwODtc"
        ));
        assert!(!valid_verifier("short"));
        assert!(valid_challenge(
            "ngF5GsXcbwljx6u133FFr3Xht9xooA_DuaX_3QwODtc"
        ));
    }

    #[test]
    fn redirects_match_exactly() {
        let c = Client::web("https://tickets.example.test/");
        assert!(c.allows_redirect("https://tickets.example.test/auth/callback"));
        for bad in [
            "https://tickets.example.test/auth/callback/",
            "https://tickets.example.test/auth/callback?x=1",
            "https://TICKETS.example.test/auth/callback",
            "https://tickets.example.test.evil/auth/callback",
        ] {
            assert!(!c.allows_redirect(bad), "{bad}");
        }
        assert!(c.allows_post_logout("https://tickets.example.test/"));
    }
}
