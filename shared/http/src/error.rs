use axum::response::{IntoResponse, Response};
use http::{HeaderName, HeaderValue, StatusCode, header};
use serde::Serialize;
use utoipa::ToSchema;

/// Media type of every error body.
pub const PROBLEM_JSON: &str = "application/problem+json";

/// One offending input field of a validation error.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct FieldError {
    /// Dotted path of the field, e.g. `ticket_types[0].price_cents`.
    pub field: String,
    pub message: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }
}

/// The RFC 9457 body every error response carries.
#[derive(Debug, Serialize, ToSchema)]
pub struct ProblemDoc {
    /// URI identifying the problem type: `urn:ticketgw:problem:<code>`.
    #[serde(rename = "type")]
    pub type_: String,
    pub title: String,
    pub status: u16,
    pub detail: String,
    /// Stable machine-readable code, e.g. `sold_out`, `validation_failed`.
    pub code: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldError>,
    /// RFC 9457 extension members of this problem (e.g. `checked_in_at` and
    /// `gate` of `already_checked_in`).
    #[serde(flatten)]
    #[schema(value_type = Object)]
    pub extensions: serde_json::Map<String, serde_json::Value>,
}

/// The error every handler returns. Client-facing text is chosen by the code
/// that builds the error; an internal cause is logged (with its chain) and
/// never sent.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    detail: String,
    errors: Vec<FieldError>,
    headers: Vec<(HeaderName, HeaderValue)>,
    /// Boxed: most errors have none, and the error stays small.
    extensions: Option<Box<serde_json::Map<String, serde_json::Value>>>,
    source: Option<anyhow::Error>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, detail: impl Into<String>) -> Self {
        Self {
            status,
            code,
            detail: detail.into(),
            errors: Vec::new(),
            headers: Vec::new(),
            extensions: None,
            source: None,
        }
    }

    /// 422 `validation_failed` listing the offending fields.
    pub fn validation(errors: Vec<FieldError>) -> Self {
        let detail = match errors.as_slice() {
            [one] => format!("{}: {}", one.field, one.message),
            many => format!("{} fields are invalid", many.len()),
        };
        Self::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
            detail,
        )
        .with_errors(errors)
    }

    /// 422 `validation_failed` for a single field.
    pub fn invalid_field(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::validation(vec![FieldError::new(field, message)])
    }

    pub fn bad_request(code: &'static str, detail: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, detail)
    }

    pub fn not_found(what: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("{what} not found"),
        )
    }

    pub fn conflict(code: &'static str, detail: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, code, detail)
    }

    pub fn unauthorized(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "unauthorized", detail).with_header(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Bearer realm=\"ticketgw\""),
        )
    }

    pub fn forbidden(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "forbidden", detail)
    }

    /// A 500 whose cause is logged and whose body says nothing about it.
    pub fn internal(source: impl Into<anyhow::Error>) -> Self {
        let mut e = Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal_error",
            "an internal error occurred; it has been logged",
        );
        e.source = Some(source.into());
        e
    }

    /// A 503 (dependency down), cause logged, body generic.
    pub fn unavailable(source: impl Into<anyhow::Error>) -> Self {
        let mut e = Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "service_unavailable",
            "the service is temporarily unavailable; retry later",
        )
        .with_header(header::RETRY_AFTER, HeaderValue::from_static("1"));
        e.source = Some(source.into());
        e
    }

    /// Replaces the stable code (for a more specific reason).
    pub fn with_code(mut self, code: &'static str) -> Self {
        self.code = code;
        self
    }

    /// Attaches an internal cause (logged for 5xx, never sent).
    pub fn with_source(mut self, source: impl Into<anyhow::Error>) -> Self {
        self.source = Some(source.into());
        self
    }

    pub fn with_errors(mut self, errors: Vec<FieldError>) -> Self {
        self.errors = errors;
        self
    }

    pub fn with_header(mut self, name: HeaderName, value: HeaderValue) -> Self {
        self.headers.push((name, value));
        self
    }

    pub fn status(&self) -> StatusCode {
        self.status
    }

    pub fn code(&self) -> &'static str {
        self.code
    }

    pub fn detail(&self) -> &str {
        &self.detail
    }

    pub fn errors(&self) -> &[FieldError] {
        &self.errors
    }

    pub fn doc(&self) -> ProblemDoc {
        ProblemDoc {
            type_: format!("urn:ticketgw:problem:{}", self.code),
            title: self
                .status
                .canonical_reason()
                .unwrap_or("Error")
                .to_string(),
            status: self.status.as_u16(),
            detail: self.detail.clone(),
            code: self.code.to_string(),
            errors: self.errors.clone(),
            extensions: self.extensions.as_deref().cloned().unwrap_or_default(),
        }
    }

    /// Adds an extension member to the problem body (not `type`, `title`,
    /// `status`, `detail`, `code` or `errors`, which it cannot replace).
    pub fn with_extension(mut self, key: &str, value: serde_json::Value) -> Self {
        if !matches!(
            key,
            "type" | "title" | "status" | "detail" | "code" | "errors"
        ) {
            self.extensions
                .get_or_insert_with(Default::default)
                .insert(key.to_string(), value);
        }
        self
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}: {}", self.status.as_u16(), self.code, self.detail)
    }
}

impl std::error::Error for ApiError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source.as_ref().map(|e| e.as_ref())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if self.status.is_server_error() {
            match &self.source {
                // `{:#}` prints anyhow's whole cause chain on one line.
                Some(cause) => tracing::error!(
                    code = self.code,
                    error = format!("{cause:#}"),
                    "request failed"
                ),
                None => tracing::error!(code = self.code, detail = %self.detail, "request failed"),
            }
        }
        let body = match serde_json::to_vec(&self.doc()) {
            Ok(b) => b,
            Err(_) => b"{\"status\":500,\"code\":\"internal_error\"}".to_vec(),
        };
        let mut resp = (self.status, body).into_response();
        let headers = resp.headers_mut();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
        for (name, value) in self.headers {
            headers.insert(name, value);
        }
        resp
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn internal_error_hides_its_cause() {
        let err = ApiError::internal(anyhow::anyhow!(
            "relation \"events\" does not exist at /src/x.rs"
        ));
        let doc = serde_json::to_string(&err.doc()).expect("serialize");
        assert!(!doc.contains("relation"));
        assert!(!doc.contains("x.rs"));
        assert!(doc.contains("internal_error"));
    }

    #[test]
    fn validation_lists_fields() {
        let err = ApiError::validation(vec![FieldError::new("title", "must not be empty")]);
        let doc = err.doc();
        assert_eq!(doc.status, 422);
        assert_eq!(doc.errors[0].field, "title");
        assert_eq!(doc.type_, "urn:ticketgw:problem:validation_failed");
    }
}
