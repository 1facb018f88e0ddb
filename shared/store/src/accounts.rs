//! Account tokens (email verification, password reset) and the OpenID
//! Provider's authorization codes, written once for both backends.
//!
//! Both are random values the caller holds; storage keeps only their
//! SHA-256. Each is spent by one conditional `UPDATE ... WHERE used_at IS
//! NULL AND expires_at > now RETURNING`, so however many requests (and
//! instances) race with the same value, exactly one gets the row.
//! Requesting a token writes its mail as an outbox event in the same
//! transaction, so the mail exists exactly when the token does.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::StoreResult;

/// CloudEvent `source` of account mails.
pub const ACCOUNTS_SOURCE: &str = "/ticketgw/identity";
/// Outbox type of the verification mail.
pub const VERIFICATION_REQUESTED: &str = "account.verification_requested";
/// Outbox type of the password-reset mail.
pub const PASSWORD_RESET_REQUESTED: &str = "account.password_reset_requested";

/// What an account token is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenPurpose {
    VerifyEmail,
    PasswordReset,
}

impl TokenPurpose {
    pub fn as_str(self) -> &'static str {
        match self {
            TokenPurpose::VerifyEmail => "verify_email",
            TokenPurpose::PasswordReset => "password_reset",
        }
    }

    /// The outbox event type of the mail carrying the token.
    pub fn event_type(self) -> &'static str {
        match self {
            TokenPurpose::VerifyEmail => VERIFICATION_REQUESTED,
            TokenPurpose::PasswordReset => PASSWORD_RESET_REQUESTED,
        }
    }
}

/// A new account token and the mail that carries it.
#[derive(Debug, Clone)]
pub struct NewAccountToken {
    /// SHA-256 of the token.
    pub token_hash: Vec<u8>,
    pub user_id: Uuid,
    pub purpose: TokenPurpose,
    pub email: String,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    /// The outbox event's data (the link the mail must contain, recipient,
    /// language). The outbox row is pruned after publication.
    pub mail: serde_json::Value,
}

/// A new authorization code (only its hash is stored).
#[derive(Debug, Clone)]
pub struct NewAuthCode {
    pub code_hash: Vec<u8>,
    pub client_id: String,
    pub redirect_uri: String,
    pub user_id: Uuid,
    /// The PKCE S256 challenge.
    pub code_challenge: String,
    pub nonce: Option<String>,
    pub scope: String,
    /// The refresh-token family the redemption starts.
    pub session_id: Uuid,
    pub auth_time: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

/// A redeemed authorization code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthCode {
    pub client_id: String,
    pub redirect_uri: String,
    pub user_id: Uuid,
    pub code_challenge: String,
    pub nonce: Option<String>,
    pub scope: String,
    pub session_id: Uuid,
    pub auth_time: DateTime<Utc>,
}

/// What presenting an authorization code led to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CodeRedemption {
    /// Live: it is now spent and belongs to this caller alone.
    Redeemed(AuthCode),
    /// Already spent: the session issued from it has been revoked.
    Replayed { session_id: Uuid },
    /// Unknown or expired.
    Invalid,
}

#[async_trait]
pub trait AccountStore: Send + Sync {
    /// Stores a token and writes its mail to the outbox, in one
    /// transaction. A new password-reset token spends the user's older
    /// unused ones.
    async fn create_account_token(&self, token: &NewAccountToken) -> StoreResult<()>;
    /// Spends a live verification token and marks the address it was sent
    /// to verified; the user's id, or `None` (unknown, expired, used).
    async fn verify_email(
        &self,
        token_hash: &[u8],
        now: DateTime<Utc>,
    ) -> StoreResult<Option<Uuid>>;
    /// Spends a live reset token: sets the password hash, marks the email
    /// verified, spends the user's other reset tokens and revokes every
    /// refresh token (all sessions end), audited. `None`: unknown, expired
    /// or used.
    async fn reset_password(
        &self,
        token_hash: &[u8],
        password_hash: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<Uuid>>;
    async fn insert_auth_code(&self, code: &NewAuthCode) -> StoreResult<()>;
    /// Spends a live code. A spent code presented again revokes the
    /// refresh-token family issued from it.
    async fn redeem_auth_code(
        &self,
        code_hash: &[u8],
        now: DateTime<Utc>,
    ) -> StoreResult<CodeRedemption>;
    /// Deletes account tokens and authorization codes expired before
    /// `before` (for the expiry worker).
    async fn prune_account_tokens(&self, before: DateTime<Utc>) -> StoreResult<u64>;
}

/// Expands to `impl AccountStore for $store`.
macro_rules! accounts_impl {
    ($store:ty, $db:ty) => {
        #[async_trait::async_trait]
        impl $crate::accounts::AccountStore for $store {
            #[tracing::instrument(skip(self, t), level = "debug")]
            async fn create_account_token(&self, t: &$crate::accounts::NewAccountToken) -> $crate::StoreResult<()> {
                let now = $crate::model::truncate_micros(t.created_at);
                let mut tx = self.begin_write().await?;
                if t.purpose == $crate::accounts::TokenPurpose::PasswordReset {
                    sqlx::query("UPDATE account_tokens SET used_at = $3 WHERE user_id = $1 AND purpose = $2 AND used_at IS NULL")
                        .bind(t.user_id)
                        .bind(t.purpose.as_str())
                        .bind(now)
                        .execute(&mut *tx)
                        .await?;
                }
                sqlx::query(
                    "INSERT INTO account_tokens (token_hash, user_id, purpose, email, created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6)",
                )
                .bind(&t.token_hash)
                .bind(t.user_id)
                .bind(t.purpose.as_str())
                .bind(&t.email)
                .bind(now)
                .bind($crate::model::truncate_micros(t.expires_at))
                .execute(&mut *tx)
                .await?;
                Self::outbox_raw(
                    &mut tx,
                    t.purpose.event_type(),
                    $crate::accounts::ACCOUNTS_SOURCE,
                    &format!("users/{}", t.user_id),
                    &t.user_id.to_string(),
                    &t.mail,
                    now,
                )
                .await?;
                tx.commit().await?;
                Ok(())
            }

            #[tracing::instrument(skip(self, token_hash), level = "debug")]
            async fn verify_email(&self, token_hash: &[u8], now: chrono::DateTime<chrono::Utc>) -> $crate::StoreResult<Option<uuid::Uuid>> {
                let now = $crate::model::truncate_micros(now);
                let mut tx = self.begin_write().await?;
                let row: Option<(uuid::Uuid, String)> = sqlx::query_as(
                    "UPDATE account_tokens SET used_at = $3 WHERE token_hash = $1 AND purpose = $2 \
                     AND used_at IS NULL AND expires_at > $3 RETURNING user_id, email",
                )
                .bind(token_hash)
                .bind($crate::accounts::TokenPurpose::VerifyEmail.as_str())
                .bind(now)
                .fetch_optional(&mut *tx)
                .await?;
                let Some((user_id, email)) = row else {
                    return Ok(None);
                };
                sqlx::query(
                    "UPDATE users SET email_verified_at = COALESCE(email_verified_at, $3), updated_at = $3 \
                     WHERE id = $1 AND lower(email) = lower($2)",
                )
                .bind(user_id)
                .bind(&email)
                .bind(now)
                .execute(&mut *tx)
                .await?;
                tx.commit().await?;
                Ok(Some(user_id))
            }

            #[tracing::instrument(skip(self, token_hash, password_hash), level = "debug")]
            async fn reset_password(&self, token_hash: &[u8], password_hash: &str, now: chrono::DateTime<chrono::Utc>) -> $crate::StoreResult<Option<uuid::Uuid>> {
                let now = $crate::model::truncate_micros(now);
                let mut tx = self.begin_write().await?;
                let row: Option<(uuid::Uuid, String)> = sqlx::query_as(
                    "UPDATE account_tokens SET used_at = $3 WHERE token_hash = $1 AND purpose = $2 \
                     AND used_at IS NULL AND expires_at > $3 RETURNING user_id, email",
                )
                .bind(token_hash)
                .bind($crate::accounts::TokenPurpose::PasswordReset.as_str())
                .bind(now)
                .fetch_optional(&mut *tx)
                .await?;
                let Some((user_id, email)) = row else {
                    return Ok(None);
                };
                // The mail reached its owner: the address is verified too.
                sqlx::query(
                    "UPDATE users SET password_hash = $2, updated_at = $3, \
                     email_verified_at = CASE WHEN lower(email) = lower($4) THEN COALESCE(email_verified_at, $3) ELSE email_verified_at END \
                     WHERE id = $1",
                )
                .bind(user_id)
                .bind(password_hash)
                .bind(now)
                .bind(&email)
                .execute(&mut *tx)
                .await?;
                sqlx::query("UPDATE account_tokens SET used_at = $3 WHERE user_id = $1 AND purpose = $2 AND used_at IS NULL")
                    .bind(user_id)
                    .bind($crate::accounts::TokenPurpose::PasswordReset.as_str())
                    .bind(now)
                    .execute(&mut *tx)
                    .await?;
                // Every session ends: whoever knew the old password is out.
                sqlx::query("UPDATE refresh_tokens SET revoked_at = $2 WHERE user_id = $1 AND revoked_at IS NULL")
                    .bind(user_id)
                    .bind(now)
                    .execute(&mut *tx)
                    .await?;
                Self::audit_in(&mut tx, Some(user_id), "user.password_reset", &format!("user:{user_id}"), &serde_json::json!({})).await?;
                tx.commit().await?;
                Ok(Some(user_id))
            }

            #[tracing::instrument(skip(self, c), level = "debug")]
            async fn insert_auth_code(&self, c: &$crate::accounts::NewAuthCode) -> $crate::StoreResult<()> {
                sqlx::query(
                    "INSERT INTO oidc_codes (code_hash, client_id, redirect_uri, user_id, code_challenge, nonce, scope, \
                     session_id, auth_time, created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
                )
                .bind(&c.code_hash)
                .bind(&c.client_id)
                .bind(&c.redirect_uri)
                .bind(c.user_id)
                .bind(&c.code_challenge)
                .bind(&c.nonce)
                .bind(&c.scope)
                .bind(c.session_id)
                .bind($crate::model::truncate_micros(c.auth_time))
                .bind($crate::model::truncate_micros(c.created_at))
                .bind($crate::model::truncate_micros(c.expires_at))
                .execute(&self.pool)
                .await?;
                Ok(())
            }

            #[tracing::instrument(skip(self, code_hash), level = "debug")]
            async fn redeem_auth_code(&self, code_hash: &[u8], now: chrono::DateTime<chrono::Utc>) -> $crate::StoreResult<$crate::accounts::CodeRedemption> {
                use $crate::accounts::{AuthCode, CodeRedemption};
                let now = $crate::model::truncate_micros(now);
                type Row = (String, String, uuid::Uuid, String, Option<String>, String, uuid::Uuid, chrono::DateTime<chrono::Utc>);
                // The claim: one statement, so exactly one of any number of
                // racing redemptions gets the row.
                let row: Option<Row> = sqlx::query_as(
                    "UPDATE oidc_codes SET used_at = $2 WHERE code_hash = $1 AND used_at IS NULL AND expires_at > $2 \
                     RETURNING client_id, redirect_uri, user_id, code_challenge, nonce, scope, session_id, auth_time",
                )
                .bind(code_hash)
                .bind(now)
                .fetch_optional(&self.pool)
                .await?;
                if let Some((client_id, redirect_uri, user_id, code_challenge, nonce, scope, session_id, auth_time)) = row {
                    return Ok(CodeRedemption::Redeemed(AuthCode {
                        client_id, redirect_uri, user_id, code_challenge, nonce, scope, session_id, auth_time,
                    }));
                }
                let mut tx = self.begin_write().await?;
                let spent: Option<(uuid::Uuid, uuid::Uuid)> = sqlx::query_as(
                    "SELECT session_id, user_id FROM oidc_codes WHERE code_hash = $1 AND used_at IS NOT NULL",
                )
                .bind(code_hash)
                .fetch_optional(&mut *tx)
                .await?;
                let Some((session_id, user_id)) = spent else {
                    return Ok(CodeRedemption::Invalid);
                };
                // A replayed code: whoever redeemed it first may not be
                // its owner. End what was issued from it.
                sqlx::query("UPDATE refresh_tokens SET revoked_at = $2 WHERE family_id = $1 AND revoked_at IS NULL")
                    .bind(session_id)
                    .bind(now)
                    .execute(&mut *tx)
                    .await?;
                Self::audit_in(&mut tx, Some(user_id), "session.code_replay", &format!("session:{session_id}"), &serde_json::json!({})).await?;
                tx.commit().await?;
                Ok(CodeRedemption::Replayed { session_id })
            }

            #[tracing::instrument(skip(self), level = "debug")]
            async fn prune_account_tokens(&self, before: chrono::DateTime<chrono::Utc>) -> $crate::StoreResult<u64> {
                let a = sqlx::query("DELETE FROM account_tokens WHERE expires_at < $1")
                    .bind(before)
                    .execute(&self.pool)
                    .await?
                    .rows_affected();
                let b = sqlx::query("DELETE FROM oidc_codes WHERE expires_at < $1")
                    .bind(before)
                    .execute(&self.pool)
                    .await?
                    .rows_affected();
                Ok(a + b)
            }
        }
    };
}

pub(crate) use accounts_impl;
