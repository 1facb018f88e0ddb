//! Strict extractors: every rejection is problem+json naming what is wrong.

use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use http::{StatusCode, header, request::Parts};
use serde::{Serialize, de::DeserializeOwned};

use crate::{ApiError, FieldError};

/// JSON request body (and response body). Requires `Content-Type:
/// application/json` (or `+json`), rejects trailing data, and reports
/// unknown fields, wrong types and missing fields per field (422); syntax
/// errors are 400, an over-limit body 413.
#[derive(Debug, Clone, Copy, Default)]
pub struct Json<T>(pub T);

impl<S, T> FromRequest<S> for Json<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        if !is_json(req.headers()) {
            return Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                "expected a request body with Content-Type: application/json",
            ));
        }
        let bytes = Bytes::from_request(req, state).await.map_err(|rej| {
            if rej.status() == StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "payload_too_large",
                    "the request body is larger than the limit",
                )
            } else {
                ApiError::bad_request("unreadable_body", "the request body could not be read")
            }
        })?;
        parse_json(&bytes).map(Json)
    }
}

impl<T: Serialize> IntoResponse for Json<T> {
    fn into_response(self) -> Response {
        axum::Json(self.0).into_response()
    }
}

fn is_json(headers: &http::HeaderMap) -> bool {
    let Some(ct) = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let essence = ct
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    essence == "application/json"
        || (essence.starts_with("application/") && essence.ends_with("+json"))
}

/// Parses a JSON document into `T`, turning serde's errors into problem+json.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value: T = match serde_path_to_error::deserialize(&mut de) {
        Ok(v) => v,
        Err(err) => return Err(json_error(err)),
    };
    de.end().map_err(|_| {
        ApiError::bad_request("malformed_json", "unexpected data after the JSON document")
    })?;
    Ok(value)
}

fn json_error(err: serde_path_to_error::Error<serde_json::Error>) -> ApiError {
    let path = err.path().to_string();
    let inner = err.inner();
    if inner.is_syntax() || inner.is_eof() {
        return ApiError::bad_request(
            "malformed_json",
            format!(
                "the request body is not valid JSON (line {}, column {})",
                inner.line(),
                inner.column()
            ),
        );
    }
    let message = strip_position(&inner.to_string());
    let field = field_name(&path, &message);
    ApiError::validation(vec![FieldError::new(field, message)])
}

/// serde_json appends " at line L column C"; the field name says more.
fn strip_position(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(i) => message[..i].to_string(),
        None => message.to_string(),
    }
}

/// The field a serde error is about: serde_path_to_error's path already
/// ends with an unknown field's name, but stops at the parent of a missing
/// field, so that name is appended from the message.
fn field_name(path: &str, message: &str) -> String {
    let quoted = |prefix: &str| {
        message
            .strip_prefix(prefix)
            .and_then(|rest| rest.split('`').next())
            .map(str::to_string)
    };
    let root = matches!(path, "." | "");
    if let Some(name) = quoted("unknown field `") {
        return if root { name } else { path.to_string() };
    }
    match (quoted("missing field `"), root) {
        (Some(name), true) => name,
        (Some(name), false) => format!("{path}.{name}"),
        (None, true) => "body".to_string(),
        (None, false) => path.to_string(),
    }
}

/// Path parameters; a value that does not parse (e.g. a non-UUID id) is a
/// 400 `invalid_path_parameter` naming the parameter.
#[derive(Debug, Clone, Copy)]
pub struct Path<T>(pub T);

impl<S, T> FromRequestParts<S> for Path<T>
where
    S: Send + Sync,
    T: DeserializeOwned + Send,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        use axum::extract::RawPathParams;
        let raw = RawPathParams::from_request_parts(parts, state)
            .await
            .map_err(|_| ApiError::bad_request("invalid_path_parameter", "invalid path"))?;
        // Name the first parameter that is not a UUID where the route expects
        // ids (every id in the API is a UUID, see API.md).
        match axum::extract::Path::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Path(v)) => Ok(Path(v)),
            Err(_) => {
                let bad: Vec<FieldError> = raw
                    .iter()
                    .filter(|(_, v)| uuid_like(v).is_none())
                    .map(|(k, _)| FieldError::new(k, "must be a UUID"))
                    .collect();
                let errors = if bad.is_empty() {
                    raw.iter()
                        .map(|(k, _)| FieldError::new(k, "is not valid"))
                        .collect()
                } else {
                    bad
                };
                let detail = errors
                    .iter()
                    .map(|e| format!("path parameter `{}` {}", e.field, e.message))
                    .collect::<Vec<_>>()
                    .join("; ");
                Err(ApiError::bad_request("invalid_path_parameter", detail).with_errors(errors))
            }
        }
    }
}

fn uuid_like(s: &str) -> Option<()> {
    let hex = s.chars().filter(|c| *c != '-').count();
    (hex == 32 && s.chars().all(|c| c.is_ascii_hexdigit() || c == '-')).then_some(())
}

/// Query string; unknown parameters and bad values are a 400
/// `invalid_query` naming the parameter.
#[derive(Debug, Clone, Default)]
pub struct Query<T>(pub T);

impl<S, T> FromRequestParts<S> for Query<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let query = parts.uri.query().unwrap_or("");
        let de = serde_urlencoded::Deserializer::new(form_urlencoded::parse(query.as_bytes()));
        match serde_path_to_error::deserialize(de) {
            Ok(v) => Ok(Query(v)),
            Err(err) => {
                let message = err.inner().to_string();
                let field = field_name(&err.path().to_string(), &message);
                let field = if field == "body" {
                    "query".to_string()
                } else {
                    field
                };
                Err(ApiError::bad_request(
                    "invalid_query",
                    format!("query parameter `{field}`: {message}"),
                )
                .with_errors(vec![FieldError::new(field, message)]))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Body {
        title: String,
        price_cents: i64,
    }

    #[test]
    fn names_the_wrong_type() {
        let err = parse_json::<Body>(br#"{"title":"a","price_cents":"x"}"#).unwrap_err();
        assert_eq!(err.status(), StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(err.errors()[0].field, "price_cents");
    }

    #[test]
    fn names_unknown_fields() {
        let err =
            parse_json::<Body>(br#"{"title":"a","price_cents":1,"roles":["admin"]}"#).unwrap_err();
        assert_eq!(err.errors()[0].field, "roles");
    }

    #[test]
    fn syntax_is_400() {
        let err = parse_json::<Body>(br#"{"title":"#).unwrap_err();
        assert_eq!(err.status(), StatusCode::BAD_REQUEST);
        assert_eq!(err.code(), "malformed_json");
        let err = parse_json::<Body>(br#"{"title":"a","price_cents":1} x"#).unwrap_err();
        assert_eq!(err.code(), "malformed_json");
    }

    #[test]
    fn missing_field_is_named() {
        let err = parse_json::<Body>(br#"{"title":"a"}"#).unwrap_err();
        assert_eq!(err.errors()[0].field, "price_cents");
    }
}
