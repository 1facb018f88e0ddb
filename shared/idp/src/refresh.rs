//! Refresh tokens: 256 random bits, base64url, prefixed; only their
//! SHA-256 is stored. Each use spends the token and issues the next one of
//! the same family (rotation); a spent token used again revokes the family.

use aws_lc_rs::digest::{SHA256, digest};
use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Duration, Utc};
use tg_store::NewRefreshToken;
use uuid::Uuid;

pub const PREFIX: &str = "tgr_";
/// Lifetime of one refresh token (each rotation starts a new one).
pub const LIFETIME_DAYS: i64 = 30;

/// A new opaque token and the row that stores its hash.
pub fn issue(
    user_id: Uuid,
    family_id: Uuid,
    now: DateTime<Utc>,
) -> anyhow::Result<(String, NewRefreshToken)> {
    let mut bytes = [0u8; 32];
    SystemRandom::new()
        .fill(&mut bytes)
        .map_err(|_| anyhow::anyhow!("no randomness"))?;
    let token = format!("{PREFIX}{}", URL_SAFE_NO_PAD.encode(bytes));
    let row = NewRefreshToken {
        id: Uuid::now_v7(),
        family_id,
        user_id,
        token_hash: hash(&token),
        created_at: now,
        expires_at: now + Duration::days(LIFETIME_DAYS),
    };
    Ok((token, row))
}

pub fn hash(token: &str) -> Vec<u8> {
    digest(&SHA256, token.as_bytes()).as_ref().to_vec()
}
