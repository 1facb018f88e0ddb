//! `identity`: the built-in identity provider of the local platform (and of
//! small deployments without Keycloak). Registration and login with
//! argon2id passwords, ES256 access tokens (RFC 9068 `at+jwt`, 15 minutes),
//! rotating refresh tokens (a spent token used again revokes the whole
//! session), logout, and OIDC discovery plus the JWKS so the shared
//! verifier checks these tokens exactly as it checks Keycloak's.
//!
//! Abuse limits: per-IP and per-account rate limits (429 + `Retry-After`),
//! growing delays after repeated failed logins, the same answer and a
//! similar cost for an unknown email as for a wrong password, and CAPTCHA
//! checks when configured.

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use tg_http::{ApiError, FieldError, Json, ProblemDoc};
use tg_platform::{AppState, ClientIp, FunctionSpec, rate_limit};
use tg_store::{NewLocalUser, ProfilePatch, RefreshOutcome, Role, User, UserStatus};
use utoipa::{OpenApi, ToSchema};
use uuid::Uuid;

pub mod account;
pub mod oidc;
mod page;

pub const FUNCTION: FunctionSpec = FunctionSpec {
    name: "identity",
    router,
    openapi,
};

pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/v1/auth/register", post(register))
        .route("/v1/auth/login", post(login))
        .route("/v1/auth/refresh", post(refresh))
        .route("/v1/auth/logout", post(logout))
        .route("/v1/auth/jwks", get(jwks))
        .route(
            "/v1/auth/authorize",
            get(oidc::authorize).post(oidc::authorize_submit),
        )
        .route("/v1/auth/token", post(oidc::token))
        .route("/v1/auth/end-session", get(oidc::end_session))
        .route("/v1/auth/verify-email", post(account::verify_email))
        .route(
            "/v1/auth/verify-email/resend",
            post(account::resend_verification),
        )
        .route("/v1/auth/password-reset", post(account::password_reset))
        .route(
            "/v1/auth/password-reset/confirm",
            post(account::password_reset_confirm),
        )
        .route("/.well-known/openid-configuration", get(discovery))
        .with_state(state)
}

#[derive(OpenApi)]
#[openapi(
    paths(register, login, refresh, logout, jwks, discovery,
        oidc::authorize, oidc::authorize_submit, oidc::token, oidc::end_session,
        account::verify_email, account::resend_verification, account::password_reset, account::password_reset_confirm),
    components(schemas(RegisterRequest, LoginRequest, RefreshRequest, AccountView, TokenResponse, ProblemDoc,
        oidc::OAuthTokenResponse, oidc::OAuthError, oidc::SignInForm, oidc::TokenRequest,
        account::VerifyEmailRequest, account::EmailVerifiedView, account::PasswordResetRequest,
        account::PasswordResetConfirm, account::AcceptedView)),
    tags((name = "identity", description = "The built-in identity provider"))
)]
struct ApiDoc;

pub fn openapi() -> utoipa::openapi::OpenApi {
    ApiDoc::openapi()
}

// ------------------------------------------------------------------ types --

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RegisterRequest {
    #[schema(schema_with = email_schema)]
    pub email: String,
    /// 12 to 128 characters.
    #[schema(min_length = 12, max_length = 128)]
    pub password: String,
    /// 1 to 100 characters, not blank, no control characters.
    #[schema(
        min_length = 1,
        max_length = 100,
        pattern = "^[^\\x00-\\x1f\\x7f-\\x9f]*[^\\s\\x00-\\x1f\\x7f-\\x9f][^\\x00-\\x1f\\x7f-\\x9f]*$"
    )]
    pub name: String,
    /// The account's language for mails and the web app (`en` or `de`);
    /// the request's `Accept-Language` when absent.
    #[serde(default)]
    #[schema(pattern = "^(en|de)$")]
    pub language: Option<String>,
    /// Client CAPTCHA token (required when CAPTCHA is configured).
    #[serde(default)]
    pub captcha_token: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    pub email: String,
    pub password: String,
    #[serde(default)]
    pub captcha_token: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RefreshRequest {
    pub refresh_token: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AccountView {
    pub id: Uuid,
    pub email: String,
    pub name: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TokenResponse {
    pub access_token: String,
    pub refresh_token: String,
    /// Always `Bearer`.
    pub token_type: &'static str,
    /// Seconds until the access token expires.
    pub expires_in: i64,
}

const MIN_PASSWORD: usize = 12;
const MAX_PASSWORD: usize = 128;

fn idp(state: &AppState) -> Result<&tg_idp::KeyRing, ApiError> {
    state
        .idp
        .as_deref()
        .ok_or_else(|| ApiError::not_found("the built-in identity provider is disabled; route"))
}

/// The documented form of an email field (registration, password reset):
/// the rule [`normalize_email`] applies, as a JSON Schema that clients and
/// the contract test can check before sending.
pub(crate) fn email_schema() -> utoipa::openapi::schema::Object {
    use utoipa::openapi::schema::{ObjectBuilder, Type};
    ObjectBuilder::new()
        .schema_type(Type::String)
        .description(Some(
            "An email address: 3 to 254 characters, no whitespace or control\n\
             characters inside, a domain with a dot (surrounding whitespace is\n\
             trimmed; the address is stored in lower case).",
        ))
        .min_length(Some(3))
        .max_length(Some(254))
        .pattern(Some(
            r"^[^\S\x1c-\x1f]*[^\s@\x00-\x1f\x7f-\x9f]+@[^\s@.\x00-\x1f\x7f-\x9f][^\s@\x00-\x1f\x7f-\x9f]*\.[^\s@\x00-\x1f\x7f-\x9f]*[^\s@.\x00-\x1f\x7f-\x9f][^\S\x1c-\x1f]*$",
        ))
        .build()
}

/// Lower-cased, trimmed; a plausible address or a 422 naming `email`.
pub fn normalize_email(email: &str) -> Result<String, ApiError> {
    // Characters, as the schema's maxLength counts them, of what was sent.
    let ok_len = (3..=254).contains(&email.chars().count());
    let e = email.trim().to_lowercase();
    let ok = ok_len
        && !e.chars().any(|c| c.is_whitespace() || c.is_control())
        && e.split_once('@').is_some_and(|(local, domain)| {
            !local.is_empty()
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
                && !domain.contains('@')
        });
    if ok {
        Ok(e)
    } else {
        Err(ApiError::invalid_field("email", "must be an email address"))
    }
}

// --------------------------------------------------------------- handlers --

/// Create an account (role `user`).
#[utoipa::path(post, path = "/v1/auth/register", tag = "identity", request_body = RegisterRequest,
    responses(
        (status = 201, description = "The account", body = AccountView),
        (status = 409, description = "The email is taken", body = ProblemDoc, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields", body = ProblemDoc, content_type = "application/problem+json"),
        (status = 429, description = "Too many attempts", body = ProblemDoc, content_type = "application/problem+json"),
    ))]
#[tracing::instrument(skip_all)]
async fn register(
    State(state): State<AppState>,
    ip: ClientIp,
    headers: axum::http::HeaderMap,
    Json(body): Json<RegisterRequest>,
) -> Result<Response, ApiError> {
    idp(&state)?;
    let issuer = tg_store::BUILTIN_ISSUER.to_string();
    rate_limit::check(
        state.store.as_ref(),
        &format!("register:ip:{}", ip.key()),
        state.config.auth_rate_per_ip,
    )
    .await?;
    let mut errors = Vec::new();
    let email = normalize_email(&body.email)
        .map_err(|e| errors.extend(e.errors().to_vec()))
        .ok();
    let n = body.password.chars().count();
    if !(MIN_PASSWORD..=MAX_PASSWORD).contains(&n) {
        errors.push(FieldError::new(
            "password",
            format!("must be {MIN_PASSWORD} to {MAX_PASSWORD} characters"),
        ));
    } else if email.as_deref() == Some(body.password.trim().to_lowercase().as_str()) {
        errors.push(FieldError::new("password", "must not be the email address"));
    }
    let name = body.name.trim().to_string();
    if name.is_empty() || name.chars().count() > 100 || name.chars().any(char::is_control) {
        errors.push(FieldError::new("name", "must be 1 to 100 characters"));
    }
    if let Some(l) = &body.language
        && !matches!(l.as_str(), "en" | "de")
    {
        errors.push(FieldError::new("language", "must be one of en, de"));
    }
    if !errors.is_empty() {
        return Err(ApiError::validation(errors));
    }
    let lang = body
        .language
        .clone()
        .unwrap_or_else(|| page::Lang::from_headers(None, &headers).code().to_string());
    let email = email.unwrap_or_default();
    if let Some(c) = &state.captcha {
        c.verify(
            body.captcha_token.as_deref(),
            "register",
            ip.0.map(|i| i.to_string()),
        )
        .await?;
    }
    let hash = tg_platform::hash_password(&body.password)
        .await
        .map_err(ApiError::internal)?;
    let user = state
        .store
        .create_local_user(&NewLocalUser {
            iss: issuer,
            email: email.clone(),
            name: name.clone(),
            password_hash: hash,
            roles: vec![Role::User],
        })
        .await?;
    let user = state
        .store
        .update_profile(
            user.id,
            &ProfilePatch {
                language: Some(lang.clone()),
                ..ProfilePatch::default()
            },
        )
        .await?;
    tracing::info!(user_id = %user.id, "account registered");
    // The account exists either way; a mail that could not be queued is
    // requested again with /v1/auth/verify-email/resend.
    if let Err(e) = account::send_verification(&state, &user, &lang).await {
        tracing::warn!(user_id = %user.id, error = ?e, "verification mail not queued");
    }
    Ok((
        StatusCode::CREATED,
        Json(AccountView {
            id: user.id,
            email,
            name,
        }),
    )
        .into_response())
}

/// Seconds a login must wait after `failures` consecutive failures:
/// none for the first 3, then 1, 2, 4, ... up to 5 minutes.
pub fn backoff_seconds(failures: i64) -> i64 {
    if failures < 3 {
        0
    } else {
        1i64 << (failures - 3).min(9)
    }
    .min(300)
}

/// Log in with email and password.
#[utoipa::path(post, path = "/v1/auth/login", tag = "identity", request_body = LoginRequest,
    responses(
        (status = 200, description = "Tokens", body = TokenResponse),
        (status = 401, description = "Wrong email or password (the same answer for both)", body = ProblemDoc, content_type = "application/problem+json"),
        (status = 429, description = "Too many attempts; see Retry-After", body = ProblemDoc, content_type = "application/problem+json"),
    ))]
#[tracing::instrument(skip_all)]
async fn login(
    State(state): State<AppState>,
    ip: ClientIp,
    Json(body): Json<LoginRequest>,
) -> Result<Json<TokenResponse>, ApiError> {
    let ring = idp(&state)?;
    let user = authenticate(
        &state,
        &ip,
        &body.email,
        &body.password,
        body.captcha_token.as_deref(),
    )
    .await?;
    let now = Utc::now();
    let tokens = issue_tokens(&state, ring, &user, Uuid::now_v7(), now).await?;
    tracing::info!(user_id = %user.id, "logged in");
    Ok(Json(tokens))
}

/// Checks an email and password with every abuse rule: per-IP and
/// per-account rate limits, the failed-login backoff, CAPTCHA when
/// configured, the same answer and cost for an unknown email as for a wrong
/// password, suspended accounts refused. `/v1/auth/login` and the sign-in
/// form of `/v1/auth/authorize` both go through here.
pub(crate) async fn authenticate(
    state: &AppState,
    ip: &ClientIp,
    email: &str,
    password: &str,
    captcha_token: Option<&str>,
) -> Result<User, ApiError> {
    let store = state.store.as_ref();
    let email = email.trim().to_lowercase();
    if email.is_empty() || email.len() > 254 || password.len() > 1024 {
        return Err(invalid_credentials());
    }
    rate_limit::check(
        store,
        &format!("login:ip:{}", ip.key()),
        state.config.auth_rate_per_ip,
    )
    .await?;
    rate_limit::check(
        store,
        &format!("login:account:{email}"),
        state.config.auth_rate_per_account,
    )
    .await?;
    let fail_key = format!("login:{email}");
    let now = Utc::now();
    if let Some((failures, last)) = store.login_failures(&fail_key).await? {
        let wait = backoff_seconds(failures);
        let until = last + Duration::seconds(wait);
        if until > now {
            let retry = (until - now).num_seconds().max(1);
            return Err(rate_limit::too_many(
                "login_throttled",
                "too many failed logins; wait before trying again",
                retry,
            ));
        }
    }
    if let Some(c) = &state.captcha {
        c.verify(captcha_token, "login", ip.0.map(|i| i.to_string()))
            .await?;
    }
    let found = store
        .local_credentials(tg_store::BUILTIN_ISSUER, &email)
        .await?;
    // Verify against a dummy hash when the account does not exist, so an
    // unknown email costs what a wrong password costs.
    let (user, hash) = match found {
        Some((u, h)) => (Some(u), h),
        None => (None, tg_idp::passwords::dummy_hash().to_string()),
    };
    let ok = tg_idp::passwords::verify_async(password.to_string(), hash)
        .await
        .map_err(ApiError::internal)?;
    let user = match (user, ok) {
        (Some(u), true) => u,
        _ => {
            store.record_login_failure(&fail_key, now).await?;
            return Err(invalid_credentials());
        }
    };
    store.clear_login_failures(&fail_key).await?;
    if user.status == UserStatus::Suspended {
        return Err(ApiError::forbidden("this account is suspended").with_code("account_suspended"));
    }
    Ok(user)
}

fn invalid_credentials() -> ApiError {
    ApiError::new(
        StatusCode::UNAUTHORIZED,
        "invalid_credentials",
        "the email or the password is wrong",
    )
}

async fn issue_tokens(
    state: &AppState,
    ring: &tg_idp::KeyRing,
    user: &User,
    family: Uuid,
    now: DateTime<Utc>,
) -> Result<TokenResponse, ApiError> {
    issue_tokens_for(state, ring, user, family, "ticketgw", now).await
}

/// A new refresh token in session `family` and an access token naming
/// `client_id`.
pub(crate) async fn issue_tokens_for(
    state: &AppState,
    ring: &tg_idp::KeyRing,
    user: &User,
    family: Uuid,
    client_id: &str,
    now: DateTime<Utc>,
) -> Result<TokenResponse, ApiError> {
    let (refresh_token, row) =
        tg_idp::refresh::issue(user.id, family, tg_store::truncate_micros(now))
            .map_err(ApiError::internal)?;
    state.store.insert_refresh_token(&row).await?;
    let access_token = ring
        .mint_access_token_for(user, family, client_id, now)
        .await
        .map_err(ApiError::internal)?;
    Ok(TokenResponse {
        access_token,
        refresh_token,
        token_type: "Bearer",
        expires_in: tg_idp::ACCESS_TOKEN_SECONDS,
    })
}

/// Exchange a refresh token for new tokens. Each refresh token works once;
/// presenting a spent one revokes the whole session.
#[utoipa::path(post, path = "/v1/auth/refresh", tag = "identity", request_body = RefreshRequest,
    responses(
        (status = 200, description = "New tokens", body = TokenResponse),
        (status = 401, description = "Invalid, expired, revoked or reused refresh token", body = ProblemDoc, content_type = "application/problem+json"),
    ))]
#[tracing::instrument(skip_all)]
async fn refresh(
    State(state): State<AppState>,
    ip: ClientIp,
    Json(body): Json<RefreshRequest>,
) -> Result<Json<TokenResponse>, ApiError> {
    let ring = idp(&state)?;
    rate_limit::check(
        state.store.as_ref(),
        &format!("refresh:ip:{}", ip.key()),
        state.config.auth_rate_per_ip * 4,
    )
    .await?;
    let invalid = || {
        ApiError::new(
            StatusCode::UNAUTHORIZED,
            "invalid_refresh_token",
            "the refresh token is not valid",
        )
    };
    if !body.refresh_token.starts_with(tg_idp::refresh::PREFIX) || body.refresh_token.len() > 128 {
        return Err(invalid());
    }
    let now = Utc::now();
    let presented = tg_idp::refresh::hash(&body.refresh_token);
    let (next_token, next_row) =
        tg_idp::refresh::issue(Uuid::nil(), Uuid::nil(), tg_store::truncate_micros(now))
            .map_err(ApiError::internal)?;
    match state
        .store
        .rotate_refresh_token(&presented, &next_row, now)
        .await?
    {
        RefreshOutcome::Rotated { user_id, family_id } => {
            let user = state.store.get_user(user_id).await?;
            let access_token = ring
                .mint_access_token(&user, family_id, now)
                .await
                .map_err(ApiError::internal)?;
            Ok(Json(TokenResponse {
                access_token,
                refresh_token: next_token,
                token_type: "Bearer",
                expires_in: tg_idp::ACCESS_TOKEN_SECONDS,
            }))
        }
        RefreshOutcome::Reused { family_id } => {
            tracing::warn!(session = %family_id, "spent refresh token reused: session revoked");
            Err(ApiError::new(
                StatusCode::UNAUTHORIZED,
                "refresh_token_reused",
                "the refresh token was already used; the session has been ended",
            ))
        }
        RefreshOutcome::Invalid => Err(invalid()),
    }
}

/// End the session of a refresh token (always 204).
#[utoipa::path(post, path = "/v1/auth/logout", tag = "identity", request_body = RefreshRequest,
    responses((status = 204, description = "Logged out")))]
#[tracing::instrument(skip_all)]
async fn logout(
    State(state): State<AppState>,
    Json(body): Json<RefreshRequest>,
) -> Result<StatusCode, ApiError> {
    idp(&state)?;
    if body.refresh_token.len() <= 128 {
        state
            .store
            .revoke_refresh_family(&tg_idp::refresh::hash(&body.refresh_token), Utc::now())
            .await?;
    }
    Ok(StatusCode::NO_CONTENT)
}

/// The provider's public signing keys.
#[utoipa::path(get, path = "/v1/auth/jwks", tag = "identity", responses((status = 200, description = "JWK Set", body = Object)))]
async fn jwks(State(state): State<AppState>) -> Result<Response, ApiError> {
    let set = idp(&state)?.jwks().await.map_err(ApiError::internal)?;
    Ok((
        [(axum::http::header::CACHE_CONTROL, "public, max-age=300")],
        axum::Json(set),
    )
        .into_response())
}

/// OpenID Connect discovery document.
#[utoipa::path(get, path = "/.well-known/openid-configuration", tag = "identity", responses((status = 200, description = "Discovery document", body = Object)))]
async fn discovery(
    State(state): State<AppState>,
) -> Result<axum::Json<serde_json::Value>, ApiError> {
    let issuer = idp(&state)?.issuer().to_string();
    Ok(axum::Json(serde_json::json!({
        "issuer": issuer,
        "authorization_endpoint": format!("{issuer}/v1/auth/authorize"),
        "token_endpoint": format!("{issuer}/v1/auth/token"),
        "end_session_endpoint": format!("{issuer}/v1/auth/end-session"),
        "userinfo_endpoint": format!("{issuer}/v1/me"),
        "jwks_uri": format!("{issuer}/v1/auth/jwks"),
        "registration_endpoint": format!("{issuer}/v1/auth/register"),
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": ["authorization_code", "refresh_token"],
        "code_challenge_methods_supported": ["S256"],
        "token_endpoint_auth_methods_supported": ["none"],
        "scopes_supported": oidc::SCOPES,
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["ES256"],
        "ui_locales_supported": ["en", "de"],
        "prompt_values_supported": ["login"],
        "authorization_response_iss_parameter_supported": true,
        "claims_supported": ["iss", "sub", "aud", "exp", "iat", "auth_time", "nonce", "azp", "sid", "at_hash", "email", "email_verified", "name", "roles"],
    })))
}

#[cfg(test)]
mod email_tests {
    use super::normalize_email;

    /// The same cases the schema's `email` pattern decides (checked against
    /// it with Python's `re`, which schemathesis uses): the server and the
    /// document agree on what an address is.
    #[test]
    fn the_email_rule_matches_the_documented_pattern() {
        for ok in ["a@b.c", " a@b.c ", "é@ü.de", "a@b..c", "A@B.C"] {
            assert!(normalize_email(ok).is_ok(), "{ok:?}");
        }
        for bad in [
            "a@.b",
            "a@b.",
            "ab@c",
            "a b@c.d",
            "a@b@c.d",
            "\u{1c}a@b.c",
            "@b.c",
            "a@",
        ] {
            assert!(normalize_email(bad).is_err(), "{bad:?}");
        }
        assert_eq!(normalize_email(" A@B.C ").ok().as_deref(), Some("a@b.c"));
        // 254 characters is the limit, counted as characters, not bytes.
        let long = format!("{}@b.de", "ü".repeat(249));
        assert_eq!(long.chars().count(), 254);
        assert!(normalize_email(&long).is_ok());
        assert!(normalize_email(&format!("ü{long}")).is_err());
    }
}
