//! The built-in provider as a minimal OpenID Provider for public clients:
//! the authorization code flow with PKCE S256 (RFC 6749, RFC 7636, OIDC
//! Core), refresh-token rotation at the token endpoint, and RP-initiated
//! logout. The same web code therefore runs against Keycloak.
//!
//! * `GET /v1/auth/authorize` checks the client and its redirect URI first
//!   (either unknown: an HTML error page, never a redirect), then the rest
//!   of the request (errors go back to the client per RFC 6749 4.1.2.1),
//!   and renders the sign-in form. The request travels in a hidden field
//!   sealed with an HMAC derived from the provider's signing keys, so it
//!   cannot be altered and needs no server-side row.
//! * `POST /v1/auth/authorize` checks the credentials exactly as
//!   `/v1/auth/login` does (same function: rate limits, backoff, CAPTCHA,
//!   no enumeration) and answers 303 to `redirect_uri?code&state&iss`.
//! * `POST /v1/auth/token` redeems a code once (one conditional UPDATE; a
//!   replay revokes the session issued from it), checks client, redirect
//!   URI and the PKCE verifier, and answers OAuth's JSON (errors too).
//!
//! There is no provider session cookie: every authorization shows the
//! form, so ending a session is the client revoking its refresh token.

use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{Duration, Utc};
use serde::{Deserialize, Serialize};
use tg_http::ApiError;
use tg_idp::oidc::{self as core, Client};
use tg_platform::{AppState, ClientIp};
use tg_store::{CodeRedemption, NewAuthCode, RefreshOutcome, UserStatus};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::page::{self, FormError, Lang, Refusal};

/// Scopes the provider knows; others in a request are ignored.
pub const SCOPES: [&str; 4] = ["openid", "profile", "email", "offline_access"];
const MAX_PARAM: usize = 512;

/// The registered clients.
pub fn clients(state: &AppState) -> Vec<Client> {
    vec![Client::web(&state.config.web_url)]
}

fn find_client(state: &AppState, id: &str) -> Option<Client> {
    clients(state).into_iter().find(|c| c.id == id)
}

/// Form or query pairs; `None` when a parameter appears twice (RFC 6749
/// 3.1: parameters must not be repeated).
fn pairs(input: &[u8]) -> Option<Vec<(String, String)>> {
    let mut out: Vec<(String, String)> = Vec::new();
    for (k, v) in form_urlencoded::parse(input) {
        if out.iter().any(|(x, _)| *x == k) {
            return None;
        }
        out.push((k.into_owned(), v.into_owned()));
    }
    Some(out)
}

fn param<'a>(p: &'a [(String, String)], name: &str) -> Option<&'a str> {
    p.iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
        .filter(|v| !v.is_empty())
}

/// The authorization request as the sealed hidden field carries it.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Pending {
    client_id: String,
    redirect_uri: String,
    scope: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    state: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    nonce: Option<String>,
    code_challenge: String,
    lang: String,
    /// Unix time after which the form is refused.
    exp: i64,
}

fn with_params(uri: &str, params: &[(&str, &str)]) -> String {
    let mut s = form_urlencoded::Serializer::new(String::new());
    for (k, v) in params {
        s.append_pair(k, v);
    }
    let sep = if uri.contains('?') { '&' } else { '?' };
    format!("{uri}{sep}{}", s.finish())
}

fn see_other(location: &str) -> Response {
    let mut r = StatusCode::SEE_OTHER.into_response();
    if let Ok(v) = HeaderValue::from_str(location) {
        r.headers_mut().insert(header::LOCATION, v);
    }
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

fn idp(state: &AppState) -> Result<&tg_idp::KeyRing, ApiError> {
    state
        .idp
        .as_deref()
        .ok_or_else(|| ApiError::not_found("the built-in identity provider is disabled; route"))
}

/// An error sent back to the client's redirect URI.
fn redirect_error(
    issuer: &str,
    redirect_uri: &str,
    state: Option<&str>,
    error: &str,
    description: &str,
) -> Response {
    let mut params = vec![("error", error), ("error_description", description)];
    if let Some(s) = state {
        params.push(("state", s));
    }
    params.push(("iss", issuer));
    see_other(&with_params(redirect_uri, &params))
}

/// The sign-in form's fields.
#[derive(Debug, Deserialize, ToSchema)]
pub struct SignInForm {
    /// The sealed authorization request from the rendered form.
    pub request: String,
    pub email: String,
    pub password: String,
    /// CAPTCHA token (required when CAPTCHA is configured).
    pub captcha_token: Option<String>,
}

/// Start signing in (OAuth 2.0 authorization endpoint, code flow with PKCE
/// S256). Renders the provider's sign-in page.
#[utoipa::path(get, path = "/v1/auth/authorize", tag = "identity",
    params(
        ("response_type" = String, Query, description = "`code`"),
        ("client_id" = String, Query, description = "A registered client, e.g. `ticketgw-web`"),
        ("redirect_uri" = String, Query, description = "Exactly one of the client's registered redirect URIs"),
        ("scope" = String, Query, description = "Must include `openid`; also `profile`, `email`, `offline_access`"),
        ("state" = Option<String>, Query, description = "Returned unchanged"),
        ("code_challenge" = String, Query, description = "PKCE: base64url(SHA-256(code_verifier))"),
        ("code_challenge_method" = String, Query, description = "`S256`"),
        ("nonce" = Option<String>, Query, description = "Copied into the ID token"),
        ("ui_locales" = Option<String>, Query, description = "`en` or `de` (else Accept-Language)"),
        ("prompt" = Option<String>, Query, description = "`login` (always the case); `none` answers `login_required`"),
        ("login_hint" = Option<String>, Query, description = "Prefills the email field"),
    ),
    responses(
        (status = 200, description = "The sign-in page", content_type = "text/html"),
        (status = 303, description = "An error sent back to the client: `redirect_uri?error=...&state=...&iss=...`"),
        (status = 400, description = "Unknown client or redirect URI: an error page, no redirect", content_type = "text/html"),
    ))]
#[tracing::instrument(skip_all)]
pub async fn authorize(
    State(state): State<AppState>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    let ring = idp(&state)?;
    let web = state.config.web_url.clone();
    let raw = query.unwrap_or_default();
    let p = pairs(raw.as_bytes());
    let lang = Lang::from_headers(p.as_deref().and_then(|p| param(p, "ui_locales")), &headers);
    let refuse = |why| {
        Ok(page::html(
            StatusCode::BAD_REQUEST,
            page::error_page(lang, why, &web),
        ))
    };
    // Client and redirect URI first: until both are known, nothing is
    // ever sent anywhere.
    let Some(p) = p else {
        return refuse(Refusal::BadRedirect);
    };
    let Some(client) = param(&p, "client_id").and_then(|id| find_client(&state, id)) else {
        return refuse(Refusal::UnknownClient);
    };
    let Some(redirect_uri) = param(&p, "redirect_uri").filter(|u| client.allows_redirect(u)) else {
        return refuse(Refusal::BadRedirect);
    };
    let issuer = ring.issuer();
    let st = param(&p, "state");
    let fail = |error: &str, description: &str| {
        Ok(redirect_error(issuer, redirect_uri, st, error, description))
    };
    if p.iter().any(|(_, v)| v.len() > 2048) || st.is_some_and(|s| s.len() > MAX_PARAM) {
        return fail("invalid_request", "a parameter is too long");
    }
    match param(&p, "response_type") {
        Some("code") => {}
        None => return fail("invalid_request", "response_type is required"),
        Some(_) => {
            return fail(
                "unsupported_response_type",
                "only the code flow is supported",
            );
        }
    }
    let scopes: Vec<&str> = param(&p, "scope")
        .unwrap_or("")
        .split(' ')
        .filter(|s| !s.is_empty())
        .collect();
    if !scopes.contains(&"openid") {
        return fail("invalid_scope", "the scope must include openid");
    }
    let granted: Vec<&str> = SCOPES
        .iter()
        .copied()
        .filter(|s| scopes.contains(s))
        .collect();
    let Some(challenge) = param(&p, "code_challenge") else {
        return fail("invalid_request", "PKCE is required: code_challenge");
    };
    if param(&p, "code_challenge_method") != Some("S256") {
        return fail("invalid_request", "code_challenge_method must be S256");
    }
    if !core::valid_challenge(challenge) {
        return fail("invalid_request", "code_challenge is not an S256 challenge");
    }
    let nonce = param(&p, "nonce");
    if nonce.is_some_and(|n| n.len() > MAX_PARAM) {
        return fail("invalid_request", "nonce is too long");
    }
    let prompts: Vec<&str> = param(&p, "prompt").unwrap_or("").split(' ').collect();
    if prompts.contains(&"none") {
        return fail("login_required", "the user must sign in");
    }
    if param(&p, "request").is_some() || param(&p, "request_uri").is_some() {
        return fail("request_not_supported", "request objects are not supported");
    }
    let pending = Pending {
        client_id: client.id.clone(),
        redirect_uri: redirect_uri.to_string(),
        scope: granted.join(" "),
        state: st.map(str::to_string),
        nonce: nonce.map(str::to_string),
        code_challenge: challenge.to_string(),
        lang: lang.code().to_string(),
        exp: (Utc::now() + Duration::seconds(core::FORM_SECONDS)).timestamp(),
    };
    let sealed = ring
        .seal(&serde_json::to_vec(&pending).map_err(ApiError::internal)?)
        .await
        .map_err(ApiError::internal)?;
    let hint = param(&p, "login_hint")
        .filter(|h| h.len() <= 254)
        .unwrap_or("");
    Ok(page::html(
        StatusCode::OK,
        page::sign_in(&page::SignIn {
            lang,
            request: &sealed,
            email: hint,
            error: None,
            web_url: &web,
        }),
    ))
}

/// Submit the sign-in form. Checked exactly like `/v1/auth/login`; success
/// redirects to the client with a single-use code.
#[utoipa::path(post, path = "/v1/auth/authorize", tag = "identity",
    request_body(content = SignInForm, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 303, description = "Signed in: `redirect_uri?code=...&state=...&iss=...` (the code works once, for 60 s)"),
        (status = 400, description = "The form expired or was altered, or CAPTCHA failed (HTML)", content_type = "text/html"),
        (status = 401, description = "Wrong email or password: the form again with the error (HTML)", content_type = "text/html"),
        (status = 403, description = "The account is suspended (HTML)", content_type = "text/html"),
        (status = 422, description = "Email or password missing: the form with field errors (HTML)", content_type = "text/html"),
        (status = 429, description = "Too many attempts; see Retry-After (HTML)", content_type = "text/html"),
    ))]
#[tracing::instrument(skip_all)]
pub async fn authorize_submit(
    State(state): State<AppState>,
    ip: ClientIp,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let ring = idp(&state)?;
    let web = state.config.web_url.clone();
    let header_lang = Lang::from_headers(None, &headers);
    let form_ok = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
    let p = pairs(&body).filter(|_| form_ok);
    let pending: Option<Pending> = match p.as_deref().and_then(|p| param(p, "request")) {
        Some(sealed) => ring
            .unseal(sealed)
            .await
            .and_then(|b| serde_json::from_slice(&b).ok()),
        None => None,
    };
    let (Some(p), Some(pending)) = (p, pending) else {
        return Ok(page::html(
            StatusCode::BAD_REQUEST,
            page::error_page(header_lang, Refusal::Expired, &web),
        ));
    };
    let lang = Lang::parse(&pending.lang).unwrap_or(header_lang);
    if pending.exp < Utc::now().timestamp() {
        return Ok(page::html(
            StatusCode::BAD_REQUEST,
            page::error_page(lang, Refusal::Expired, &web),
        ));
    }
    // The configuration may have changed since the form was rendered.
    let Some(client) = find_client(&state, &pending.client_id) else {
        return Ok(page::html(
            StatusCode::BAD_REQUEST,
            page::error_page(lang, Refusal::UnknownClient, &web),
        ));
    };
    if !client.allows_redirect(&pending.redirect_uri) {
        return Ok(page::html(
            StatusCode::BAD_REQUEST,
            page::error_page(lang, Refusal::BadRedirect, &web),
        ));
    }
    let sealed = param(&p, "request").unwrap_or_default();
    let email = param(&p, "email").unwrap_or("").trim();
    let password = param(&p, "password").unwrap_or("");
    let captcha = param(&p, "captcha_token").or_else(|| param(&p, "g-recaptcha-response"));
    let show = |status: StatusCode, error: FormError, retry: Option<HeaderValue>| {
        let mut r = page::html(
            status,
            page::sign_in(&page::SignIn {
                lang,
                request: sealed,
                email,
                error: Some(error),
                web_url: &web,
            }),
        );
        if let Some(v) = retry {
            r.headers_mut().insert(header::RETRY_AFTER, v);
        }
        r
    };
    let missing = match (email.is_empty(), password.is_empty()) {
        (true, true) => Some(FormError::MissingBoth),
        (true, false) => Some(FormError::MissingEmail),
        (false, true) => Some(FormError::MissingPassword),
        (false, false) => None,
    };
    if let Some(e) = missing {
        return Ok(show(StatusCode::UNPROCESSABLE_ENTITY, e, None));
    }
    let user = match crate::authenticate(&state, &ip, email, password, captcha).await {
        Ok(u) => u,
        Err(e) => {
            let (status, fe) = match e.code() {
                "invalid_credentials" => (StatusCode::UNAUTHORIZED, FormError::InvalidCredentials),
                "rate_limited" | "login_throttled" => {
                    (StatusCode::TOO_MANY_REQUESTS, FormError::Throttled)
                }
                "account_suspended" => (StatusCode::FORBIDDEN, FormError::Suspended),
                "captcha_failed" => (StatusCode::BAD_REQUEST, FormError::Captcha),
                "captcha_unavailable" => (StatusCode::SERVICE_UNAVAILABLE, FormError::Unavailable),
                _ => return Err(e),
            };
            return Ok(show(status, fe, retry_after(e)));
        }
    };
    let now = Utc::now();
    let code = core::random_token("tgc_", 32).map_err(ApiError::internal)?;
    state
        .store
        .insert_auth_code(&NewAuthCode {
            code_hash: core::hash(&code),
            client_id: client.id.clone(),
            redirect_uri: pending.redirect_uri.clone(),
            user_id: user.id,
            code_challenge: pending.code_challenge.clone(),
            nonce: pending.nonce.clone(),
            scope: pending.scope.clone(),
            session_id: Uuid::now_v7(),
            auth_time: now,
            created_at: now,
            expires_at: now + Duration::seconds(core::CODE_SECONDS),
        })
        .await?;
    tracing::info!(user_id = %user.id, client = %client.id, "signed in at the authorization endpoint");
    let mut params = vec![("code", code.as_str())];
    if let Some(s) = &pending.state {
        params.push(("state", s));
    }
    params.push(("iss", ring.issuer()));
    Ok(see_other(&with_params(&pending.redirect_uri, &params)))
}

/// The token endpoint's request (`application/x-www-form-urlencoded`).
#[derive(Debug, Deserialize, ToSchema)]
pub struct TokenRequest {
    /// `authorization_code` or `refresh_token`.
    pub grant_type: String,
    pub code: Option<String>,
    pub redirect_uri: Option<String>,
    pub client_id: Option<String>,
    pub code_verifier: Option<String>,
    pub refresh_token: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct OAuthTokenResponse {
    pub access_token: String,
    /// Always `Bearer`.
    pub token_type: &'static str,
    /// Seconds until the access token expires.
    pub expires_in: i64,
    pub refresh_token: String,
    /// Signed JWT (ES256) for the client: iss, sub, aud, exp, iat,
    /// auth_time, nonce, email, email_verified, name (code grant only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id_token: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
}

/// OAuth 2.0's error response (RFC 6749 5.2), used by the token endpoint
/// only.
#[derive(Debug, Serialize, ToSchema)]
pub struct OAuthError {
    /// `invalid_request`, `invalid_client`, `invalid_grant`,
    /// `unsupported_grant_type`.
    pub error: &'static str,
    pub error_description: String,
}

fn no_store(mut r: Response) -> Response {
    let h = r.headers_mut();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    r
}

fn oauth_error(error: &'static str, description: &str) -> Response {
    no_store(
        (
            StatusCode::BAD_REQUEST,
            axum::Json(OAuthError {
                error,
                error_description: description.to_string(),
            }),
        )
            .into_response(),
    )
}

/// Exchange an authorization code (with its PKCE verifier) or a refresh
/// token for tokens (RFC 6749 section 4.1.3 and 6).
#[utoipa::path(post, path = "/v1/auth/token", tag = "identity",
    request_body(content = TokenRequest, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 200, description = "Tokens (`Cache-Control: no-store`)", body = OAuthTokenResponse),
        (status = 400, description = "OAuth error: `invalid_request`, `invalid_client`, `invalid_grant` (bad, expired, used or mismatched code; wrong verifier; bad refresh token), `unsupported_grant_type`", body = OAuthError),
    ))]
#[tracing::instrument(skip_all)]
pub async fn token(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let ring = idp(&state)?;
    let form_ok = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
    if !form_ok {
        return Ok(oauth_error(
            "invalid_request",
            "send application/x-www-form-urlencoded",
        ));
    }
    let Some(p) = pairs(&body) else {
        return Ok(oauth_error("invalid_request", "a parameter is repeated"));
    };
    // No per-address limit here: codes and refresh tokens are 256 random
    // bits (guessing is hopeless), and the callers are BFF servers whose one
    // address stands for all their users, so a per-address budget would
    // throttle every user of the web app at once.
    if headers.contains_key(header::AUTHORIZATION) {
        return Ok(oauth_error(
            "invalid_client",
            "public clients do not authenticate; send client_id only",
        ));
    }
    let Some(client) = param(&p, "client_id").and_then(|id| find_client(&state, id)) else {
        return Ok(oauth_error("invalid_client", "unknown client_id"));
    };
    let now = Utc::now();
    match param(&p, "grant_type") {
        Some("authorization_code") => {
            let (Some(code), Some(redirect_uri), Some(verifier)) = (
                param(&p, "code"),
                param(&p, "redirect_uri"),
                param(&p, "code_verifier"),
            ) else {
                return Ok(oauth_error(
                    "invalid_request",
                    "code, redirect_uri and code_verifier are required",
                ));
            };
            if code.len() > 128 || !code.starts_with("tgc_") {
                return Ok(oauth_error("invalid_grant", "the code is not valid"));
            }
            let c = match state.store.redeem_auth_code(&core::hash(code), now).await? {
                CodeRedemption::Redeemed(c) => c,
                CodeRedemption::Replayed { session_id } => {
                    tracing::warn!(session = %session_id, "authorization code replayed: its session is revoked");
                    return Ok(oauth_error(
                        "invalid_grant",
                        "the code was already used; the tokens issued for it are revoked",
                    ));
                }
                CodeRedemption::Invalid => {
                    return Ok(oauth_error(
                        "invalid_grant",
                        "the code is not valid or has expired",
                    ));
                }
            };
            if c.client_id != client.id || c.redirect_uri != redirect_uri {
                return Ok(oauth_error(
                    "invalid_grant",
                    "the code was issued to another client or redirect_uri",
                ));
            }
            if !core::pkce_matches(verifier, &c.code_challenge) {
                return Ok(oauth_error(
                    "invalid_grant",
                    "the code_verifier does not match the code_challenge",
                ));
            }
            let user = state.store.get_user(c.user_id).await?;
            if user.status != UserStatus::Active {
                return Ok(oauth_error("invalid_grant", "the account is suspended"));
            }
            let t =
                crate::issue_tokens_for(&state, ring, &user, c.session_id, &client.id, now).await?;
            let id_token = ring
                .mint_id_token(
                    &user,
                    &client.id,
                    c.nonce.as_deref(),
                    c.auth_time,
                    c.session_id,
                    &t.access_token,
                    now,
                )
                .await
                .map_err(ApiError::internal)?;
            tracing::info!(user_id = %user.id, client = %client.id, "authorization code redeemed");
            Ok(no_store(
                axum::Json(OAuthTokenResponse {
                    access_token: t.access_token,
                    token_type: "Bearer",
                    expires_in: t.expires_in,
                    refresh_token: t.refresh_token,
                    id_token: Some(id_token),
                    scope: Some(c.scope),
                })
                .into_response(),
            ))
        }
        Some("refresh_token") => {
            let Some(presented) = param(&p, "refresh_token") else {
                return Ok(oauth_error("invalid_request", "refresh_token is required"));
            };
            if !presented.starts_with(tg_idp::refresh::PREFIX) || presented.len() > 128 {
                return Ok(oauth_error(
                    "invalid_grant",
                    "the refresh token is not valid",
                ));
            }
            let (next_token, next_row) =
                tg_idp::refresh::issue(Uuid::nil(), Uuid::nil(), tg_store::truncate_micros(now))
                    .map_err(ApiError::internal)?;
            match state
                .store
                .rotate_refresh_token(&tg_idp::refresh::hash(presented), &next_row, now)
                .await?
            {
                RefreshOutcome::Rotated { user_id, family_id } => {
                    let user = state.store.get_user(user_id).await?;
                    let access_token = ring
                        .mint_access_token_for(&user, family_id, &client.id, now)
                        .await
                        .map_err(ApiError::internal)?;
                    Ok(no_store(
                        axum::Json(OAuthTokenResponse {
                            access_token,
                            token_type: "Bearer",
                            expires_in: tg_idp::ACCESS_TOKEN_SECONDS,
                            refresh_token: next_token,
                            id_token: None,
                            scope: None,
                        })
                        .into_response(),
                    ))
                }
                RefreshOutcome::Reused { family_id } => {
                    tracing::warn!(session = %family_id, "spent refresh token reused: session revoked");
                    Ok(oauth_error(
                        "invalid_grant",
                        "the refresh token was already used; the session has been ended",
                    ))
                }
                RefreshOutcome::Invalid => Ok(oauth_error(
                    "invalid_grant",
                    "the refresh token is not valid",
                )),
            }
        }
        None => Ok(oauth_error("invalid_request", "grant_type is required")),
        Some(_) => Ok(oauth_error(
            "unsupported_grant_type",
            "use authorization_code or refresh_token",
        )),
    }
}

/// End the session at the provider (OIDC RP-Initiated Logout) and return
/// to the client. The provider keeps no session of its own; the client
/// revokes its refresh token with `/v1/auth/logout`.
#[utoipa::path(get, path = "/v1/auth/end-session", tag = "identity",
    params(
        ("id_token_hint" = Option<String>, Query, description = "An ID token this provider issued to the client"),
        ("post_logout_redirect_uri" = Option<String>, Query, description = "One of the client's registered post-logout URIs"),
        ("client_id" = Option<String>, Query, description = "The client, when no id_token_hint is sent"),
        ("state" = Option<String>, Query, description = "Returned unchanged"),
        ("ui_locales" = Option<String>, Query, description = "`en` or `de`"),
    ),
    responses(
        (status = 303, description = "To `post_logout_redirect_uri` (with `state`)"),
        (status = 200, description = "No return address given: a signed-out page", content_type = "text/html"),
        (status = 400, description = "The return address is not registered for the client: an error page, no redirect", content_type = "text/html"),
    ))]
#[tracing::instrument(skip_all)]
pub async fn end_session(
    State(state): State<AppState>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    let ring = idp(&state)?;
    let web = state.config.web_url.clone();
    let raw = query.unwrap_or_default();
    let p = pairs(raw.as_bytes()).unwrap_or_default();
    let lang = Lang::from_headers(param(&p, "ui_locales"), &headers);
    let Some(target) = param(&p, "post_logout_redirect_uri") else {
        return Ok(page::html(StatusCode::OK, page::signed_out(lang, &web)));
    };
    let hinted = match param(&p, "id_token_hint") {
        Some(h) => ring.read_id_token_hint(h).await.map(|c| c.aud),
        None => None,
    };
    let client_id = hinted.as_deref().or_else(|| param(&p, "client_id"));
    let allowed = match client_id {
        Some(id) => find_client(&state, id).is_some_and(|c| c.allows_post_logout(target)),
        // No client named: any registered client's address.
        None => clients(&state).iter().any(|c| c.allows_post_logout(target)),
    };
    if !allowed {
        return Ok(page::html(
            StatusCode::BAD_REQUEST,
            page::error_page(lang, Refusal::BadLogoutRedirect, &web),
        ));
    }
    let location = match param(&p, "state").filter(|s| s.len() <= MAX_PARAM) {
        Some(s) => with_params(target, &[("state", s)]),
        None => target.to_string(),
    };
    Ok(see_other(&location))
}

/// The `Retry-After` an error carries (logged as any error would be).
fn retry_after(e: ApiError) -> Option<HeaderValue> {
    e.into_response()
        .headers()
        .get(header::RETRY_AFTER)
        .cloned()
}
