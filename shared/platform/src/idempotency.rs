//! Idempotency keys on every mutating endpoint, with Stripe's semantics.
//!
//! A `POST`, `PUT`, `PATCH` or `DELETE` may carry `Idempotency-Key` (1 to
//! 255 visible ASCII characters). The first response to it (status,
//! `Content-Type`, `Location` and body) is stored for 24 hours and sent again,
//! byte for byte and marked `Idempotent-Replayed: true`, for every retry of
//! the same request (method, path and query, body) by the same caller. While
//! the first request still runs, a retry gets 409 `idempotency_in_progress`;
//! the key with a different request gets 422 `idempotency_mismatch`.
//!
//! * Scope: a caller with a valid bearer token is `iss|sub` (verified here,
//!   without a database lookup); a request with a token that does not verify
//!   passes through untouched (its handler answers 401, nothing is stored).
//!   Anonymous requests (register, login, webhooks) are scoped to
//!   `anon:<request fingerprint>`: a stored answer only ever reaches someone
//!   who sent the identical body (a login body contains the password), and
//!   two anonymous clients choosing the same key never see each other's
//!   answer or a mismatch.
//! * Not stored: 5xx, 429 and 409 `idempotency_in_progress` answers; the
//!   claim is released so a retry runs the handler again. The same happens
//!   when the handler panics or the request is dropped, and for a response
//!   body of unknown or large size (passed through, logged).
//! * The claim is a 60-second lease in storage, so a process that dies
//!   mid-request blocks its key for at most that long. Storage failing at
//!   the start answers 503 without running the handler.
//! * Requests without the header, and every other method, pass straight
//!   through without touching storage.

use aws_lc_rs::digest::{Context, SHA256};
use axum::body::{Body, Bytes, HttpBody};
use axum::extract::{OriginalUri, Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Duration, Utc};
use http_body_util::{BodyExt, LengthLimitError, Limited};
use tg_http::{ApiError, FieldError};
use tg_store::{DynStore, IdempotencyBegin, StoredResponse};

use crate::{AppState, BODY_LIMIT_BYTES};

/// The request header carrying the key.
pub const IDEMPOTENCY_KEY: HeaderName = HeaderName::from_static("idempotency-key");
/// The header as clients write it, for error messages.
const IDEMPOTENCY_KEY_NAME: &str = "Idempotency-Key";
/// Set (`true`) on a replayed response.
pub const IDEMPOTENT_REPLAYED: HeaderName = HeaderName::from_static("idempotent-replayed");
/// Longest accepted key.
pub const MAX_KEY_LEN: usize = 255;
/// How long a claim holds its key before another process may take it over.
pub const LEASE_SECONDS: i64 = 60;
/// How long a response is kept for replay.
pub const RETENTION_HOURS: i64 = 24;
/// Largest response body that is stored; a larger one passes through
/// without being kept.
const MAX_STORED_BODY: usize = 1024 * 1024;

/// Marks a request this layer has handled, so a second instance of the
/// layer (a router wrapped twice) passes it through instead of finding the
/// key in progress.
#[derive(Clone, Copy)]
struct Handled;

/// The middleware's state: the app, and which routes require a bearer
/// token (from the OpenAPI document), so a malformed key on such a route
/// without valid credentials is answered 401 first, as the route would.
#[derive(Clone)]
pub(crate) struct Guard {
    pub state: AppState,
    pub secured: std::sync::Arc<std::collections::HashSet<(Method, String)>>,
}

/// The middleware (installed by `with_platform` on matched routes only).
pub(crate) async fn idempotency(
    State(Guard { state, secured }): State<Guard>,
    req: Request,
    next: Next,
) -> Response {
    if !is_mutating(req.method()) || req.extensions().get::<Handled>().is_some() {
        return next.run(req).await;
    }
    let key = match key_of(req.headers()) {
        Ok(None) => return next.run(req).await,
        Ok(Some(key)) => key,
        Err(e) => {
            let route = req
                .extensions()
                .get::<axum::extract::MatchedPath>()
                .map(|p| p.as_str().to_string())
                .unwrap_or_default();
            if secured.contains(&(req.method().clone(), route)) {
                let authenticated = match bearer(req.headers()) {
                    Bearer::Token(token) => state.auth.verifier().verify(&token).await.is_ok(),
                    _ => false,
                };
                if !authenticated {
                    return ApiError::unauthorized("a valid bearer token is required")
                        .into_response();
                }
            }
            return e.into_response();
        }
    };
    let caller = match bearer(req.headers()) {
        Bearer::Absent => None,
        // The handler answers 401; nothing is claimed or stored.
        Bearer::Malformed => return next.run(req).await,
        Bearer::Token(token) => match state.auth.verifier().verify(&token).await {
            Ok(claims) => Some(format!("{}|{}", claims.iss, claims.sub)),
            Err(_) => return next.run(req).await,
        },
    };

    let (mut parts, body) = req.into_parts();
    let body = match read_body(body).await {
        Ok(b) => b,
        Err(e) => return e.into_response(),
    };
    let uri = parts
        .extensions
        .get::<OriginalUri>()
        .map_or(&parts.uri, |u| &u.0);
    let path_and_query = uri.path_and_query().map_or("/", |pq| pq.as_str());
    let fingerprint = fingerprint(&parts.method, path_and_query, &body);
    let scope = caller.unwrap_or_else(|| format!("anon:{}", hex(&fingerprint)));

    let now = Utc::now();
    let lease_until = now + Duration::seconds(LEASE_SECONDS);
    let store = state.store.clone();
    match store
        .idempotency_begin(&scope, &key, &fingerprint, now, lease_until)
        .await
    {
        Ok(IdempotencyBegin::Started) => {}
        Ok(IdempotencyBegin::InProgress) => return in_progress().into_response(),
        Ok(IdempotencyBegin::Mismatch) => return mismatch().into_response(),
        Ok(IdempotencyBegin::Replay(stored)) => return replay(stored),
        Err(e) => return ApiError::unavailable(e).into_response(),
    }

    let claim = Claim {
        store,
        scope,
        key,
        lease_until,
        settled: false,
    };
    parts.extensions.insert(Handled);
    let response = next.run(Request::from_parts(parts, Body::from(body))).await;
    claim.settle(response).await
}

fn is_mutating(method: &Method) -> bool {
    matches!(
        *method,
        Method::POST | Method::PUT | Method::PATCH | Method::DELETE
    )
}

/// The key, if sent: once, 1 to 255 visible ASCII characters; otherwise a
/// 400 naming the header.
fn key_of(headers: &HeaderMap) -> Result<Option<String>, ApiError> {
    let mut values = headers.get_all(IDEMPOTENCY_KEY).iter();
    let Some(value) = values.next() else {
        return Ok(None);
    };
    if values.next().is_some() {
        return Err(invalid_key("must be sent at most once"));
    }
    let bytes = value.as_bytes();
    if bytes.is_empty() {
        return Err(invalid_key("must not be empty"));
    }
    if bytes.len() > MAX_KEY_LEN {
        return Err(invalid_key(format!(
            "must be at most {MAX_KEY_LEN} characters"
        )));
    }
    if !bytes.iter().all(|b| b.is_ascii_graphic()) {
        return Err(invalid_key(
            "must contain only visible ASCII characters (no spaces)",
        ));
    }
    Ok(Some(String::from_utf8_lossy(bytes).into_owned()))
}

fn invalid_key(message: impl Into<String>) -> ApiError {
    let message = message.into();
    ApiError::new(
        StatusCode::BAD_REQUEST,
        "validation_failed",
        format!("{IDEMPOTENCY_KEY_NAME}: {message}"),
    )
    .with_errors(vec![FieldError::new(IDEMPOTENCY_KEY_NAME, message)])
}

enum Bearer {
    Absent,
    Malformed,
    Token(String),
}

/// `Authorization: Bearer <token>` (scheme in any letter case), as the
/// `Caller` extractor reads it.
fn bearer(headers: &HeaderMap) -> Bearer {
    let Some(value) = headers.get(header::AUTHORIZATION) else {
        return Bearer::Absent;
    };
    let Some((scheme, token)) = value.to_str().ok().and_then(|v| v.split_once(' ')) else {
        return Bearer::Malformed;
    };
    let token = token.trim();
    if !scheme.eq_ignore_ascii_case("bearer") || token.is_empty() {
        return Bearer::Malformed;
    }
    Bearer::Token(token.to_string())
}

/// The whole request body, at most [`BODY_LIMIT_BYTES`] (413 beyond, as
/// the `Json` extractor answers).
async fn read_body(body: Body) -> Result<Bytes, ApiError> {
    match Limited::new(body, BODY_LIMIT_BYTES).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(e) if e.is::<LengthLimitError>() => Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            "the request body is larger than the limit",
        )),
        Err(_) => Err(ApiError::bad_request(
            "unreadable_body",
            "the request body could not be read",
        )),
    }
}

/// SHA-256 over the method, the path and query, and the body (NUL-separated:
/// neither a method nor a URI can contain one).
fn fingerprint(method: &Method, path_and_query: &str, body: &[u8]) -> Vec<u8> {
    let mut ctx = Context::new(&SHA256);
    ctx.update(method.as_str().as_bytes());
    ctx.update(&[0]);
    ctx.update(path_and_query.as_bytes());
    ctx.update(&[0]);
    ctx.update(body);
    ctx.finish().as_ref().to_vec()
}

fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(char::from(DIGITS[usize::from(b >> 4)]));
        s.push(char::from(DIGITS[usize::from(b & 0x0f)]));
    }
    s
}

fn in_progress() -> ApiError {
    ApiError::conflict(
        "idempotency_in_progress",
        "a request with this Idempotency-Key is still being processed; retry later",
    )
    .with_header(header::RETRY_AFTER, HeaderValue::from_static("1"))
}

fn mismatch() -> ApiError {
    ApiError::new(
        StatusCode::UNPROCESSABLE_ENTITY,
        "idempotency_mismatch",
        "this Idempotency-Key was already used for a different request",
    )
}

/// The stored response again, byte for byte.
fn replay(stored: StoredResponse) -> Response {
    let Ok(status) = StatusCode::from_u16(stored.status) else {
        return ApiError::internal(anyhow::anyhow!(
            "stored idempotent response has status {}",
            stored.status
        ))
        .into_response();
    };
    let mut response = Response::new(Body::from(stored.body));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    for (name, value) in [
        (header::CONTENT_TYPE, stored.content_type),
        (header::LOCATION, stored.location),
    ] {
        if let Some(value) = value.and_then(|v| HeaderValue::from_str(&v).ok()) {
            headers.insert(name, value);
        }
    }
    headers.insert(IDEMPOTENT_REPLAYED, HeaderValue::from_static("true"));
    response
}

/// This request's claim on its key. Dropped unsettled (the handler
/// panicked, or the request was cancelled), it releases the key so a retry
/// runs again instead of waiting out the lease.
struct Claim {
    store: DynStore,
    scope: String,
    key: String,
    lease_until: DateTime<Utc>,
    settled: bool,
}

impl Claim {
    /// Stores the handler's response (unless it must not be replayed) and
    /// returns it.
    async fn settle(self, response: Response) -> Response {
        let (parts, body) = response.into_parts();
        let small = body
            .size_hint()
            .upper()
            .is_some_and(|n| n <= MAX_STORED_BODY as u64);
        if !small {
            tracing::warn!(
                status = parts.status.as_u16(),
                "response body too large or of unknown size for an idempotent replay; not stored"
            );
            self.abandon().await;
            return Response::from_parts(parts, body);
        }
        let bytes = match axum::body::to_bytes(body, MAX_STORED_BODY).await {
            Ok(bytes) => bytes,
            Err(e) => {
                self.abandon().await;
                return ApiError::internal(e).into_response();
            }
        };
        if replayable(parts.status, &bytes) {
            let header = |name| {
                parts
                    .headers
                    .get(name)
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_owned)
            };
            let stored = StoredResponse {
                status: parts.status.as_u16(),
                content_type: header(header::CONTENT_TYPE),
                location: header(header::LOCATION),
                body: bytes.to_vec(),
            };
            self.finish(&stored).await;
        } else {
            self.abandon().await;
        }
        Response::from_parts(parts, Body::from(bytes))
    }

    async fn finish(mut self, response: &StoredResponse) {
        self.settled = true;
        let expires_at = Utc::now() + Duration::hours(RETENTION_HOURS);
        match self
            .store
            .idempotency_finish(
                &self.scope,
                &self.key,
                self.lease_until,
                response,
                expires_at,
            )
            .await
        {
            Ok(true) => {}
            // The lease lapsed and another request took the key over.
            Ok(false) => tracing::warn!("idempotency claim lost before the response was stored"),
            // The response still goes out; retries wait out the lease.
            Err(e) => tracing::error!(
                error = format!("{:#}", anyhow::Error::new(e)),
                "storing the idempotent response failed"
            ),
        }
    }

    async fn abandon(mut self) {
        self.settled = true;
        release(&self.store, &self.scope, &self.key, self.lease_until).await;
    }
}

impl Drop for Claim {
    fn drop(&mut self) {
        if self.settled {
            return;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let store = self.store.clone();
        let scope = std::mem::take(&mut self.scope);
        let key = std::mem::take(&mut self.key);
        let lease_until = self.lease_until;
        runtime.spawn(async move { release(&store, &scope, &key, lease_until).await });
    }
}

async fn release(store: &DynStore, scope: &str, key: &str, lease_until: DateTime<Utc>) {
    if let Err(e) = store.idempotency_abandon(scope, key, lease_until).await {
        // The key stays claimed until its lease lapses.
        tracing::warn!(
            error = format!("{:#}", anyhow::Error::new(e)),
            "releasing an idempotency key failed"
        );
    }
}

/// Whether a response may be replayed: not a 5xx, not a 429, not another
/// layer's 409 `idempotency_in_progress` (all worth retrying for real).
fn replayable(status: StatusCode, body: &[u8]) -> bool {
    if status.is_server_error() || status == StatusCode::TOO_MANY_REQUESTS {
        return false;
    }
    status != StatusCode::CONFLICT
        || problem_code(body).as_deref() != Some("idempotency_in_progress")
}

fn problem_code(body: &[u8]) -> Option<String> {
    #[derive(serde::Deserialize)]
    struct Problem {
        code: Option<String>,
    }
    serde_json::from_slice::<Problem>(body).ok()?.code
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(values: &[&[u8]]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for v in values {
            h.append(IDEMPOTENCY_KEY, HeaderValue::from_bytes(v).expect("header"));
        }
        h
    }

    #[test]
    fn keys_are_validated() {
        assert_eq!(key_of(&headers(&[])).expect("absent"), None);
        assert_eq!(
            key_of(&headers(&[b"order-7f3a~!"])).expect("valid"),
            Some("order-7f3a~!".to_string())
        );
        let long = vec![b'k'; MAX_KEY_LEN];
        assert!(key_of(&headers(&[&long[..]])).is_ok());
        let too_long = vec![b'k'; MAX_KEY_LEN + 1];
        let bad: [&[u8]; 5] = [b"", b"two words", b"tab\there", &too_long, b"caf\xc3\xa9"];
        for bad in bad {
            let e = key_of(&headers(&[bad])).expect_err("invalid");
            assert_eq!(e.status(), StatusCode::BAD_REQUEST);
            assert_eq!(e.code(), "validation_failed");
            assert_eq!(e.errors()[0].field, "Idempotency-Key");
        }
        assert!(key_of(&headers(&[b"a", b"b"])).is_err(), "sent twice");
    }

    #[test]
    fn fingerprint_separates_its_parts() {
        let a = fingerprint(&Method::POST, "/v1/events", b"{}");
        assert_eq!(a, fingerprint(&Method::POST, "/v1/events", b"{}"));
        assert_eq!(a.len(), 32);
        assert_ne!(a, fingerprint(&Method::PUT, "/v1/events", b"{}"));
        assert_ne!(a, fingerprint(&Method::POST, "/v1/events?x=1", b"{}"));
        assert_ne!(a, fingerprint(&Method::POST, "/v1/events", b"{ }"));
        assert_eq!(hex(&[0x00, 0xab, 0xff]), "00abff");
    }

    #[test]
    fn what_is_replayed() {
        assert!(replayable(StatusCode::CREATED, b"{}"));
        assert!(replayable(StatusCode::UNPROCESSABLE_ENTITY, b"{}"));
        assert!(replayable(
            StatusCode::CONFLICT,
            br#"{"code":"event_cancelled"}"#
        ));
        assert!(!replayable(
            StatusCode::CONFLICT,
            br#"{"code":"idempotency_in_progress"}"#
        ));
        assert!(!replayable(StatusCode::INTERNAL_SERVER_ERROR, b"{}"));
        assert!(!replayable(StatusCode::SERVICE_UNAVAILABLE, b""));
        assert!(!replayable(StatusCode::TOO_MANY_REQUESTS, b"{}"));
    }

    #[test]
    fn bearer_parsing() {
        let mut h = HeaderMap::new();
        assert!(matches!(bearer(&h), Bearer::Absent));
        h.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("bEaReR abc"),
        );
        assert!(matches!(bearer(&h), Bearer::Token(t) if t == "abc"));
        for v in ["Basic abc", "Bearer", "Bearer  ", "abc"] {
            h.insert(header::AUTHORIZATION, HeaderValue::from_static(v));
            assert!(matches!(bearer(&h), Bearer::Malformed), "{v}");
        }
    }
}
