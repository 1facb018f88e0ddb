//! Email verification and password reset for built-in accounts.
//!
//! Both mail a link to the web app carrying a random token (256 bits,
//! base64url). Storage keeps only the token's SHA-256; the token is spent
//! by one conditional UPDATE, so it works once, and only before it expires
//! (24 h for verification, 1 h for a reset; a new reset request spends the
//! older ones). The mail is an outbox event written in the token's
//! transaction (`account.verification_requested`,
//! `account.password_reset_requested`); its data carries the link because
//! the mail must contain it, and the outbox row is pruned after it was
//! published.

use std::time::{Duration as StdDuration, Instant};

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::{Duration, Utc};
use serde::{Deserialize, Serialize};
use tg_auth::Caller;
use tg_http::{ApiError, FieldError, Json, ProblemDoc};
use tg_idp::oidc as core;
use tg_platform::{AppState, ClientIp, rate_limit};
use tg_store::{NewAccountToken, TokenPurpose, User, UserStatus};
use utoipa::ToSchema;

use crate::page::Lang;

/// Lifetime of a verification link.
pub const VERIFY_HOURS: i64 = 24;
/// Lifetime of a password-reset link.
pub const RESET_MINUTES: i64 = 60;
/// Verification mails one account may ask for per minute.
const RESEND_PER_MINUTE: u32 = 3;
/// A reset request takes at least this long whether or not the account
/// exists, so its timing tells nothing.
const RESET_FLOOR: StdDuration = StdDuration::from_millis(250);

const VERIFY_PREFIX: &str = "tgv_";
const RESET_PREFIX: &str = "tgp_";

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VerifyEmailRequest {
    /// The token from the link in the verification mail.
    pub token: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct EmailVerifiedView {
    pub email_verified: bool,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PasswordResetRequest {
    #[schema(schema_with = crate::email_schema)]
    pub email: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PasswordResetConfirm {
    /// The token from the link in the reset mail.
    pub token: String,
    /// The new password: 12 to 128 characters.
    #[schema(min_length = 12, max_length = 128)]
    pub password: String,
}

/// A request that was accepted (and, where it applies, mailed).
#[derive(Debug, Serialize, ToSchema)]
pub struct AcceptedView {
    /// Always `accepted`.
    pub status: &'static str,
}

fn invalid_token() -> ApiError {
    ApiError::bad_request(
        "invalid_token",
        "the link is not valid: it is unknown, expired or was already used",
    )
}

fn plausible(token: &str, prefix: &str) -> bool {
    token.starts_with(prefix) && token.len() <= 128
}

/// Queues a verification mail for `user` (a new token; older ones stay
/// valid until they expire).
pub async fn send_verification(state: &AppState, user: &User, lang: &str) -> anyhow::Result<()> {
    let Some(email) = user.email.clone() else {
        return Ok(());
    };
    let token = core::random_token(VERIFY_PREFIX, 32)?;
    let link = format!("{}/verify-email?token={token}", state.config.web_url);
    queue(
        state,
        user,
        &email,
        TokenPurpose::VerifyEmail,
        &token,
        &link,
        Duration::hours(VERIFY_HOURS),
        lang,
    )
    .await
}

#[allow(clippy::too_many_arguments)]
async fn queue(
    state: &AppState,
    user: &User,
    email: &str,
    purpose: TokenPurpose,
    token: &str,
    link: &str,
    lifetime: Duration,
    lang: &str,
) -> anyhow::Result<()> {
    let now = tg_store::truncate_micros(Utc::now());
    let expires_at = now + lifetime;
    state
        .store
        .create_account_token(&NewAccountToken {
            token_hash: core::hash(token),
            user_id: user.id,
            purpose,
            email: email.to_string(),
            created_at: now,
            expires_at,
            mail: serde_json::json!({
                "user_id": user.id,
                "email": email,
                "name": user.name,
                "language": lang,
                "link": link,
                "expires_at": expires_at,
            }),
        })
        .await?;
    Ok(())
}

/// Confirm an email address with the token from the verification mail.
#[utoipa::path(post, path = "/v1/auth/verify-email", tag = "identity", request_body = VerifyEmailRequest,
    responses(
        (status = 200, description = "The address is verified", body = EmailVerifiedView),
        (status = 400, description = "`invalid_token`: unknown, expired or already used", body = ProblemDoc, content_type = "application/problem+json"),
        (status = 429, description = "Too many attempts", body = ProblemDoc, content_type = "application/problem+json"),
    ))]
#[tracing::instrument(skip_all)]
pub async fn verify_email(
    State(state): State<AppState>,
    ip: ClientIp,
    Json(body): Json<VerifyEmailRequest>,
) -> Result<Json<EmailVerifiedView>, ApiError> {
    crate::idp(&state)?;
    rate_limit::check(
        state.store.as_ref(),
        &format!("verify:ip:{}", ip.key()),
        state.config.auth_rate_per_ip,
    )
    .await?;
    if !plausible(&body.token, VERIFY_PREFIX) {
        return Err(invalid_token());
    }
    match state
        .store
        .verify_email(&core::hash(&body.token), Utc::now())
        .await?
    {
        Some(user_id) => {
            tracing::info!(%user_id, "email verified");
            Ok(Json(EmailVerifiedView {
                email_verified: true,
            }))
        }
        None => Err(invalid_token()),
    }
}

/// Send the verification mail again (signed in).
#[utoipa::path(post, path = "/v1/auth/verify-email/resend", tag = "identity", security(("bearer" = [])),
    responses(
        (status = 202, description = "Mailed (or nothing to do: `email_verified` is already true)", body = EmailVerifiedView),
        (status = 401, description = "No or invalid token", body = ProblemDoc, content_type = "application/problem+json"),
        (status = 404, description = "Not an account of the built-in provider", body = ProblemDoc, content_type = "application/problem+json"),
        (status = 429, description = "Too many requests; see Retry-After", body = ProblemDoc, content_type = "application/problem+json"),
    ))]
#[tracing::instrument(skip_all)]
pub async fn resend_verification(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    crate::idp(&state)?;
    rate_limit::check(
        state.store.as_ref(),
        &format!("verify-resend:user:{}", caller.user_id),
        RESEND_PER_MINUTE,
    )
    .await?;
    let user = state.store.get_user(caller.user_id).await?;
    if user.iss != tg_store::BUILTIN_ISSUER || user.email.is_none() {
        return Err(ApiError::not_found("built-in account"));
    }
    if !user.email_verified {
        let lang = language(&user, &headers);
        send_verification(&state, &user, &lang)
            .await
            .map_err(ApiError::internal)?;
    }
    Ok((
        StatusCode::ACCEPTED,
        Json(EmailVerifiedView {
            email_verified: user.email_verified,
        }),
    )
        .into_response())
}

/// The stored language when it was chosen, else the request's.
fn language(user: &User, headers: &HeaderMap) -> String {
    match Lang::parse(&user.language) {
        Some(l) if user.language != "en" => l.code().to_string(),
        _ => Lang::from_headers(None, headers).code().to_string(),
    }
}

/// Ask for a password-reset link. The answer is the same, and takes about
/// as long, whether or not an account has this address.
#[utoipa::path(post, path = "/v1/auth/password-reset", tag = "identity", request_body = PasswordResetRequest,
    responses(
        (status = 202, description = "Accepted: if an account has this address, a link was mailed", body = AcceptedView),
        (status = 422, description = "Not an email address", body = ProblemDoc, content_type = "application/problem+json"),
        (status = 429, description = "Too many requests from this address or for this email; see Retry-After", body = ProblemDoc, content_type = "application/problem+json"),
    ))]
#[tracing::instrument(skip_all)]
pub async fn password_reset(
    State(state): State<AppState>,
    ip: ClientIp,
    headers: HeaderMap,
    Json(body): Json<PasswordResetRequest>,
) -> Result<Response, ApiError> {
    crate::idp(&state)?;
    let started = Instant::now();
    let email = crate::normalize_email(&body.email)?;
    let store = state.store.as_ref();
    rate_limit::check(
        store,
        &format!("reset:ip:{}", ip.key()),
        state.config.auth_rate_per_ip,
    )
    .await?;
    rate_limit::check(
        store,
        &format!("reset:account:{email}"),
        state.config.auth_rate_per_account,
    )
    .await?;
    if let Some((user, _)) = store
        .local_credentials(tg_store::BUILTIN_ISSUER, &email)
        .await?
        && user.status == UserStatus::Active
    {
        let token = core::random_token(RESET_PREFIX, 32).map_err(ApiError::internal)?;
        let link = format!("{}/reset-password?token={token}", state.config.web_url);
        let lang = language(&user, &headers);
        queue(
            &state,
            &user,
            &email,
            TokenPurpose::PasswordReset,
            &token,
            &link,
            Duration::minutes(RESET_MINUTES),
            &lang,
        )
        .await
        .map_err(ApiError::internal)?;
        tracing::info!(user_id = %user.id, "password reset requested");
    }
    if let Some(rest) = RESET_FLOOR.checked_sub(started.elapsed()) {
        tokio::time::sleep(rest).await;
    }
    Ok((
        StatusCode::ACCEPTED,
        Json(AcceptedView { status: "accepted" }),
    )
        .into_response())
}

/// Set a new password with the token from the reset mail. Ends every
/// session of the account and marks its email verified.
#[utoipa::path(post, path = "/v1/auth/password-reset/confirm", tag = "identity", request_body = PasswordResetConfirm,
    responses(
        (status = 204, description = "Password changed; every session ended"),
        (status = 400, description = "`invalid_token`: unknown, expired or already used", body = ProblemDoc, content_type = "application/problem+json"),
        (status = 422, description = "`validation_failed`: the password breaks the rules (`password`)", body = ProblemDoc, content_type = "application/problem+json"),
        (status = 429, description = "Too many attempts", body = ProblemDoc, content_type = "application/problem+json"),
    ))]
#[tracing::instrument(skip_all)]
pub async fn password_reset_confirm(
    State(state): State<AppState>,
    ip: ClientIp,
    Json(body): Json<PasswordResetConfirm>,
) -> Result<StatusCode, ApiError> {
    crate::idp(&state)?;
    let n = body.password.chars().count();
    if !(crate::MIN_PASSWORD..=crate::MAX_PASSWORD).contains(&n) {
        return Err(ApiError::validation(vec![FieldError::new(
            "password",
            format!(
                "must be {} to {} characters",
                crate::MIN_PASSWORD,
                crate::MAX_PASSWORD
            ),
        )]));
    }
    rate_limit::check(
        state.store.as_ref(),
        &format!("reset-confirm:ip:{}", ip.key()),
        state.config.auth_rate_per_ip,
    )
    .await?;
    if !plausible(&body.token, RESET_PREFIX) {
        return Err(invalid_token());
    }
    let hash = tg_platform::hash_password(&body.password)
        .await
        .map_err(ApiError::internal)?;
    match state
        .store
        .reset_password(&core::hash(&body.token), &hash, Utc::now())
        .await?
    {
        Some(user_id) => {
            tracing::info!(%user_id, "password reset; every session ended");
            Ok(StatusCode::NO_CONTENT)
        }
        None => Err(invalid_token()),
    }
}
