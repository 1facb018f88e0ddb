//! Stripe: PaymentIntents, refunds and webhook events over Stripe's REST API.
//!
//! Requests are form-encoded (`application/x-www-form-urlencoded`, nested
//! parameters as `metadata[booking_id]=...`), answers are JSON. Every POST
//! carries an `Idempotency-Key`, so a retried call never charges or refunds
//! twice. The API key and client secrets never reach an error message.

use std::time::Duration;

use reqwest::{Method, StatusCode, header};
use serde::Deserialize;
use tg_auth::LazyClient;
use tg_http::Secret;
use uuid::Uuid;

use crate::{
    CreatePayment, PaymentProvider, PaymentStatus, ProviderError, ProviderPayment, ProviderRefund,
    RefundStatus, WebhookError, WebhookEvent, WebhookKind, signature,
};

pub const DEFAULT_BASE_URL: &str = "https://api.stripe.com";

/// The pinned API version (`Stripe-Version`), so an account upgrade never
/// changes the shapes we parse. Webhook payloads follow the version set on
/// the webhook endpoint in the Stripe dashboard; pin it to the same one.
pub const API_VERSION: &str = "2025-04-30.basil";

/// Per-request timeout, covering connect, request and response body.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// Stripe's limit on `Idempotency-Key`.
const MAX_IDEMPOTENCY_KEY_LEN: usize = 255;

#[derive(Debug, Clone)]
pub struct StripeConfig {
    /// The secret API key (`sk_live_...` / `sk_test_...`, or a restricted key).
    pub api_key: Secret<String>,
    /// The webhook endpoint's signing secrets (`whsec_...`); two while one is
    /// being rolled.
    pub webhook_secrets: Vec<Secret<String>>,
    /// [`DEFAULT_BASE_URL`] in production; a local server in tests.
    pub base_url: String,
}

impl Default for StripeConfig {
    fn default() -> Self {
        Self {
            api_key: Secret::default(),
            webhook_secrets: Vec::new(),
            base_url: DEFAULT_BASE_URL.to_owned(),
        }
    }
}

/// [`PaymentProvider`] over Stripe PaymentIntents.
#[derive(Debug, Clone)]
pub struct StripeProvider {
    api_key: Secret<String>,
    webhook_secrets: Vec<Secret<String>>,
    base_url: String,
    http: LazyClient,
    timeout: Duration,
}

impl StripeProvider {
    pub fn new(cfg: StripeConfig, http: LazyClient) -> Self {
        Self {
            api_key: cfg.api_key,
            webhook_secrets: cfg.webhook_secrets,
            base_url: cfg.base_url.trim_end_matches('/').to_owned(),
            http,
            timeout: DEFAULT_TIMEOUT,
        }
    }

    /// Replaces the per-request timeout ([`DEFAULT_TIMEOUT`]).
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    async fn call(
        &self,
        method: Method,
        path: &str,
        form: Option<(&[(&str, String)], &str)>,
    ) -> Result<Vec<u8>, ProviderError> {
        let url = format!("{}{path}", self.base_url);
        let mut req = self
            .http
            .get()
            .request(method, url)
            .timeout(self.timeout)
            .header(
                header::AUTHORIZATION,
                format!("Bearer {}", self.api_key.expose()),
            )
            .header("Stripe-Version", API_VERSION)
            .header(header::ACCEPT, "application/json");
        if let Some((params, idempotency_key)) = form {
            let body = serde_urlencoded::to_string(params)
                .map_err(|e| local_reject("invalid_request", format!("unencodable form: {e}")))?;
            req = req
                .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
                .header("Idempotency-Key", idempotency_key)
                .body(body);
        }
        let resp = req.send().await.map_err(transport_error)?;
        let status = resp.status();
        let body = resp.bytes().await.map_err(transport_error)?;
        if status.is_success() {
            return Ok(body.to_vec());
        }
        Err(error_from_status(status, &body))
    }

    async fn post(
        &self,
        path: &str,
        params: &[(&str, String)],
        idempotency_key: &str,
    ) -> Result<Vec<u8>, ProviderError> {
        check_idempotency_key(idempotency_key)?;
        self.call(Method::POST, path, Some((params, idempotency_key)))
            .await
    }
}

#[async_trait::async_trait]
impl PaymentProvider for StripeProvider {
    fn name(&self) -> &'static str {
        "stripe"
    }

    async fn create_payment(&self, req: &CreatePayment) -> Result<ProviderPayment, ProviderError> {
        let mut params = vec![
            ("amount", req.amount_cents.to_string()),
            ("currency", req.currency.as_str().to_ascii_lowercase()),
            ("metadata[booking_id]", req.booking_id.to_string()),
            ("automatic_payment_methods[enabled]", "true".to_owned()),
        ];
        if !req.description.is_empty() {
            params.push(("description", req.description.clone()));
        }
        let body = self
            .post("/v1/payment_intents", &params, &req.idempotency_key)
            .await?;
        payment_from_json(&body)
    }

    async fn retrieve_payment(&self, id: &str) -> Result<ProviderPayment, ProviderError> {
        check_object_id(id)?;
        let body = self
            .call(Method::GET, &format!("/v1/payment_intents/{id}"), None)
            .await?;
        payment_from_json(&body)
    }

    async fn refund(
        &self,
        payment_id: &str,
        amount_cents: i64,
        idempotency_key: &str,
    ) -> Result<ProviderRefund, ProviderError> {
        check_object_id(payment_id)?;
        let params = [
            ("payment_intent", payment_id.to_owned()),
            ("amount", amount_cents.to_string()),
        ];
        let body = self.post("/v1/refunds", &params, idempotency_key).await?;
        refund_from_json(&body)
    }

    fn verify_webhook(
        &self,
        signature_header: Option<&str>,
        body: &[u8],
        now_unix: i64,
    ) -> Result<WebhookEvent, WebhookError> {
        let header = signature_header.ok_or(WebhookError::MissingSignature)?;
        signature::verify(header, body, &self.webhook_secrets, now_unix)?;
        parse_event(body)
    }
}

/// A request refused before it was sent (it would be refused by Stripe, or
/// could not be sent safely). Reported like Stripe's own 400s.
fn local_reject(code: &str, message: String) -> ProviderError {
    ProviderError::Rejected {
        status: 400,
        code: Some(code.to_owned()),
        message,
    }
}

/// An empty key would turn idempotency off: a retry could charge twice.
fn check_idempotency_key(key: &str) -> Result<(), ProviderError> {
    let ok = !key.is_empty()
        && key.len() <= MAX_IDEMPOTENCY_KEY_LEN
        && key.bytes().all(|b| b.is_ascii_graphic());
    if ok {
        Ok(())
    } else {
        Err(local_reject(
            "invalid_idempotency_key",
            "the idempotency key must be 1 to 255 visible ASCII characters".to_owned(),
        ))
    }
}

/// Ids go into URL paths: only Stripe's id alphabet is let through.
fn check_object_id(id: &str) -> Result<(), ProviderError> {
    let ok = !id.is_empty()
        && id.len() <= 255
        && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
    if ok {
        Ok(())
    } else {
        Err(local_reject(
            "invalid_payment_id",
            "not a Stripe object id".to_owned(),
        ))
    }
}

fn transport_error(e: reqwest::Error) -> ProviderError {
    let what = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "could not connect"
    } else if e.is_body() || e.is_decode() {
        "connection failed while reading the response"
    } else {
        "request failed"
    };
    ProviderError::Unavailable(format!("stripe: {what}"))
}

#[derive(Deserialize)]
struct ErrorEnvelope {
    error: StripeErrorObject,
}

#[derive(Deserialize)]
struct StripeErrorObject {
    #[serde(rename = "type")]
    kind: Option<String>,
    code: Option<String>,
    message: Option<String>,
}

fn error_from_status(status: StatusCode, body: &[u8]) -> ProviderError {
    let parsed = serde_json::from_slice::<ErrorEnvelope>(body)
        .ok()
        .map(|e| e.error);
    let message = parsed
        .as_ref()
        .and_then(|e| e.message.clone())
        .unwrap_or_else(|| format!("HTTP {}", status.as_u16()));
    // 409: another request with the same idempotency key is in flight;
    // 429: rate limited. Both succeed when retried later.
    if status.is_server_error()
        || status == StatusCode::TOO_MANY_REQUESTS
        || status == StatusCode::CONFLICT
    {
        return ProviderError::Unavailable(format!("stripe: HTTP {}: {message}", status.as_u16()));
    }
    if status.is_client_error() {
        let code = parsed.and_then(|e| e.code.or(e.kind));
        return ProviderError::Rejected {
            status: status.as_u16(),
            code,
            message,
        };
    }
    ProviderError::Invalid(format!("stripe: unexpected HTTP {}", status.as_u16()))
}

#[derive(Deserialize)]
struct PaymentIntentObject {
    id: String,
    status: String,
    amount: i64,
    currency: String,
    client_secret: Option<String>,
    last_payment_error: Option<LastPaymentError>,
    next_action: Option<NextAction>,
}

#[derive(Deserialize)]
struct LastPaymentError {
    message: Option<String>,
    code: Option<String>,
}

#[derive(Deserialize)]
struct NextAction {
    redirect_to_url: Option<RedirectToUrl>,
}

#[derive(Deserialize)]
struct RedirectToUrl {
    url: Option<String>,
}

fn payment_from_json(body: &[u8]) -> Result<ProviderPayment, ProviderError> {
    let pi: PaymentIntentObject = serde_json::from_slice(body)
        .map_err(|e| ProviderError::Invalid(format!("stripe payment intent: {e}")))?;
    let last_error = pi.last_payment_error.map(|e| {
        e.message
            .or(e.code)
            .unwrap_or_else(|| "payment failed".to_owned())
    });
    let status = payment_status(&pi.status, last_error.is_some()).ok_or_else(|| {
        ProviderError::Invalid(format!("unknown PaymentIntent status `{}`", pi.status))
    })?;
    Ok(ProviderPayment {
        id: pi.id,
        status,
        amount_cents: pi.amount,
        currency: pi.currency.to_ascii_uppercase(),
        client_secret: pi.client_secret,
        redirect_url: pi
            .next_action
            .and_then(|a| a.redirect_to_url)
            .and_then(|r| r.url),
        last_error,
    })
}

/// Stripe's PaymentIntent statuses. A failed attempt sends the intent back to
/// `requires_payment_method` with `last_payment_error` set: that is reported
/// as [`PaymentStatus::Failed`] (the client may still try again). An
/// authorised, uncaptured payment (`requires_capture`) is `Processing`.
pub fn payment_status(stripe_status: &str, has_last_error: bool) -> Option<PaymentStatus> {
    Some(match stripe_status {
        "requires_payment_method" if has_last_error => PaymentStatus::Failed,
        "requires_payment_method" | "requires_confirmation" | "requires_action" => {
            PaymentStatus::RequiresPayment
        }
        "processing" | "requires_capture" => PaymentStatus::Processing,
        "succeeded" => PaymentStatus::Succeeded,
        "canceled" => PaymentStatus::Canceled,
        _ => return None,
    })
}

#[derive(Deserialize)]
struct RefundObject {
    id: String,
    amount: i64,
    status: String,
}

fn refund_from_json(body: &[u8]) -> Result<ProviderRefund, ProviderError> {
    let r: RefundObject = serde_json::from_slice(body)
        .map_err(|e| ProviderError::Invalid(format!("stripe refund: {e}")))?;
    let status = match r.status.as_str() {
        "pending" | "requires_action" => RefundStatus::Pending,
        "succeeded" => RefundStatus::Succeeded,
        "failed" | "canceled" => RefundStatus::Failed,
        other => {
            return Err(ProviderError::Invalid(format!(
                "unknown refund status `{other}`"
            )));
        }
    };
    Ok(ProviderRefund {
        id: r.id,
        amount_cents: r.amount,
        status,
    })
}

// ---------------------------------------------------------------- events

#[derive(Deserialize)]
struct RawEvent {
    id: String,
    #[serde(rename = "type")]
    kind: String,
    created: i64,
    data: RawEventData,
}

#[derive(Deserialize)]
struct RawEventData {
    object: serde_json::Value,
}

#[derive(Deserialize, Default)]
struct Metadata {
    booking_id: Option<String>,
}

#[derive(Deserialize)]
struct EventPaymentIntent {
    id: String,
    amount: i64,
    currency: String,
    #[serde(default)]
    metadata: Option<Metadata>,
    last_payment_error: Option<LastPaymentError>,
    cancellation_reason: Option<String>,
}

#[derive(Deserialize)]
struct EventCharge {
    payment_intent: Option<String>,
    amount_refunded: i64,
    currency: String,
    #[serde(default)]
    metadata: Option<Metadata>,
}

#[derive(Deserialize)]
struct EventDispute {
    payment_intent: Option<String>,
    amount: i64,
    currency: String,
    reason: Option<String>,
    #[serde(default)]
    metadata: Option<Metadata>,
}

/// The event kind for a Stripe event type.
pub fn event_kind(stripe_type: &str) -> WebhookKind {
    match stripe_type {
        "payment_intent.succeeded" => WebhookKind::PaymentSucceeded,
        "payment_intent.payment_failed" => WebhookKind::PaymentFailed,
        "payment_intent.processing" => WebhookKind::PaymentProcessing,
        "payment_intent.canceled" => WebhookKind::PaymentCanceled,
        "charge.refunded" => WebhookKind::ChargeRefunded,
        "charge.dispute.created" => WebhookKind::DisputeCreated,
        other => WebhookKind::Other(other.to_owned()),
    }
}

/// Parses a Stripe event body. Call only on a body whose signature verified
/// ([`PaymentProvider::verify_webhook`] does both).
pub fn parse_event(body: &[u8]) -> Result<WebhookEvent, WebhookError> {
    let raw: RawEvent = serde_json::from_slice(body).map_err(bad_payload)?;
    if raw.id.is_empty() {
        return Err(WebhookError::BadPayload("empty event id".to_owned()));
    }
    let kind = event_kind(&raw.kind);
    let mut event = WebhookEvent {
        id: raw.id,
        kind,
        created: raw.created,
        payment_id: None,
        amount_cents: None,
        currency: None,
        failure_reason: None,
        booking_id: None,
    };
    let object = raw.data.object;
    match event.kind {
        WebhookKind::PaymentSucceeded
        | WebhookKind::PaymentFailed
        | WebhookKind::PaymentProcessing
        | WebhookKind::PaymentCanceled => {
            let pi: EventPaymentIntent = serde_json::from_value(object).map_err(bad_payload)?;
            event.payment_id = Some(pi.id);
            event.amount_cents = Some(pi.amount);
            event.currency = Some(pi.currency.to_ascii_uppercase());
            event.booking_id = booking_id(pi.metadata);
            event.failure_reason = pi.last_payment_error.and_then(|e| e.message.or(e.code)).or(
                if event.kind == WebhookKind::PaymentCanceled {
                    pi.cancellation_reason
                } else {
                    None
                },
            );
        }
        WebhookKind::ChargeRefunded => {
            let ch: EventCharge = serde_json::from_value(object).map_err(bad_payload)?;
            event.payment_id = ch.payment_intent;
            event.amount_cents = Some(ch.amount_refunded);
            event.currency = Some(ch.currency.to_ascii_uppercase());
            event.booking_id = booking_id(ch.metadata);
        }
        WebhookKind::DisputeCreated => {
            let dp: EventDispute = serde_json::from_value(object).map_err(bad_payload)?;
            event.payment_id = dp.payment_intent;
            event.amount_cents = Some(dp.amount);
            event.currency = Some(dp.currency.to_ascii_uppercase());
            event.failure_reason = dp.reason;
            event.booking_id = booking_id(dp.metadata);
        }
        WebhookKind::Other(_) => {}
    }
    Ok(event)
}

fn bad_payload(e: serde_json::Error) -> WebhookError {
    WebhookError::BadPayload(e.to_string())
}

/// A booking id we did not write (or a malformed one) is not an error: the
/// payment id still identifies the payment.
fn booking_id(metadata: Option<Metadata>) -> Option<Uuid> {
    metadata
        .and_then(|m| m.booking_id)
        .and_then(|s| Uuid::parse_str(&s).ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_map() {
        let cases = [
            (
                "requires_payment_method",
                false,
                Some(PaymentStatus::RequiresPayment),
            ),
            ("requires_payment_method", true, Some(PaymentStatus::Failed)),
            (
                "requires_confirmation",
                false,
                Some(PaymentStatus::RequiresPayment),
            ),
            (
                "requires_action",
                false,
                Some(PaymentStatus::RequiresPayment),
            ),
            ("processing", false, Some(PaymentStatus::Processing)),
            ("requires_capture", false, Some(PaymentStatus::Processing)),
            ("succeeded", false, Some(PaymentStatus::Succeeded)),
            ("canceled", true, Some(PaymentStatus::Canceled)),
            ("exploded", false, None),
        ];
        for (s, err, want) in cases {
            assert_eq!(payment_status(s, err), want, "{s} {err}");
        }
    }

    #[test]
    fn ids_and_keys_are_checked_before_sending() {
        assert!(check_object_id("pi_3MtwBwLkdIwHu7ix28a3tqPa").is_ok());
        for bad in [
            "",
            "../refunds",
            "pi_1?expand=x",
            "pi 1",
            "pi_1/cancel",
            "pi_é",
        ] {
            assert!(check_object_id(bad).is_err(), "{bad:?}");
        }
        assert!(check_idempotency_key("booking-7f1c:payment").is_ok());
        for bad in ["", "a b", "line\nbreak", &"k".repeat(256)] {
            assert!(check_idempotency_key(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn payment_intent_json_maps() {
        let body = br#"{"id":"pi_1","object":"payment_intent","amount":2500,"currency":"eur",
            "status":"requires_action","client_secret":"pi_1_secret_x",
            "next_action":{"type":"redirect_to_url","redirect_to_url":{"url":"https://bank.example/3ds","return_url":"https://x"}},
            "last_payment_error":null}"#;
        let p = payment_from_json(body).unwrap();
        assert_eq!(p.id, "pi_1");
        assert_eq!(p.status, PaymentStatus::RequiresPayment);
        assert_eq!(p.amount_cents, 2500);
        assert_eq!(p.currency, "EUR");
        assert_eq!(p.client_secret.as_deref(), Some("pi_1_secret_x"));
        assert_eq!(p.redirect_url.as_deref(), Some("https://bank.example/3ds"));
        assert_eq!(p.last_error, None);

        let failed = br#"{"id":"pi_2","amount":100,"currency":"usd","status":"requires_payment_method",
            "client_secret":null,"last_payment_error":{"type":"card_error","code":"card_declined","message":"Your card was declined."}}"#;
        let p = payment_from_json(failed).unwrap();
        assert_eq!(p.status, PaymentStatus::Failed);
        assert_eq!(p.last_error.as_deref(), Some("Your card was declined."));

        assert!(matches!(
            payment_from_json(b"<html>"),
            Err(ProviderError::Invalid(_))
        ));
        assert!(matches!(
            payment_from_json(br#"{"id":"pi_3","amount":1,"currency":"usd","status":"weird"}"#),
            Err(ProviderError::Invalid(_))
        ));
    }

    #[test]
    fn refund_json_maps() {
        let r =
            refund_from_json(br#"{"id":"re_1","object":"refund","amount":500,"status":"pending"}"#)
                .unwrap();
        assert_eq!(
            r,
            ProviderRefund {
                id: "re_1".into(),
                amount_cents: 500,
                status: RefundStatus::Pending
            }
        );
        assert!(refund_from_json(br#"{"id":"re_1","amount":1,"status":"?"}"#).is_err());
    }

    #[test]
    fn errors_map_by_status() {
        let body = br#"{"error":{"type":"invalid_request_error","code":"amount_too_large","message":"Refund amount is greater than unrefunded amount on charge"}}"#;
        assert_eq!(
            error_from_status(StatusCode::BAD_REQUEST, body),
            ProviderError::Rejected {
                status: 400,
                code: Some("amount_too_large".into()),
                message: "Refund amount is greater than unrefunded amount on charge".into()
            }
        );
        // No code: the error type stands in.
        let body = br#"{"error":{"type":"idempotency_error","message":"Keys for idempotent requests can only be used with the same parameters"}}"#;
        assert!(matches!(
            error_from_status(StatusCode::BAD_REQUEST, body),
            ProviderError::Rejected { code: Some(c), .. } if c == "idempotency_error"
        ));
        assert!(matches!(
            error_from_status(StatusCode::UNAUTHORIZED, b"not json"),
            ProviderError::Rejected {
                status: 401,
                code: None,
                ..
            }
        ));
        for s in [500, 502, 503, 429, 409] {
            let st = StatusCode::from_u16(s).unwrap();
            assert!(
                matches!(error_from_status(st, b""), ProviderError::Unavailable(_)),
                "{s}"
            );
        }
    }
}
