//! A fake Stripe for tests (feature `fake`): an axum server on
//! `127.0.0.1:0` speaking Stripe's wire format for the calls we make.
//!
//! - Form-encoded requests (`Content-Type: application/x-www-form-urlencoded`
//!   is required on POSTs, unknown parameters are refused as Stripe does),
//!   JSON answers, errors as `{"error":{"type","code","message"}}`.
//! - `Authorization: Bearer <key>` checked on every call (401 otherwise).
//! - `POST /v1/payment_intents`, `GET /v1/payment_intents/{id}`,
//!   `POST /v1/refunds`.
//! - `Idempotency-Key`: a successful answer is kept per key and replayed
//!   (with `Idempotent-Replayed: true`) for the same path and parameters; the
//!   same key with other parameters answers 400 `idempotency_error`. As at
//!   Stripe, a request refused for its parameters keeps nothing.
//! - Test controls: move an intent to a status ([`FakeStripe::succeed`],
//!   [`FakeStripe::fail`], [`FakeStripe::set_status`]), build signed webhook
//!   events ([`FakeStripe::signed_event`]), count requests, and make every
//!   call answer 500 or hang ([`FakeStripe::set_behavior`]).
//!
//! Like Stripe, Charges and Disputes in generated events do not carry the
//! PaymentIntent's metadata: their `booking_id` is `None` and the payment is
//! found by `payment_id`.

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};
use tg_http::Secret;
use uuid::Uuid;

use crate::signature;
use crate::stripe::{API_VERSION, StripeConfig};

/// The API key [`FakeStripe::start`] accepts.
pub const FAKE_API_KEY: &str = "sk_test_fake_0123456789";

/// How the fake answers every API call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Behavior {
    /// Like Stripe.
    Normal,
    /// 500 with an `api_error`.
    ServerError,
    /// Never answers (until the behaviour changes or the fake is dropped).
    Hang,
}

/// A running fake Stripe. Dropping it stops the server.
pub struct FakeStripe {
    addr: SocketAddr,
    shared: Arc<Shared>,
    server: tokio::task::JoinHandle<()>,
}

struct Shared {
    api_key: String,
    state: Mutex<FakeState>,
    requests: AtomicUsize,
    behavior: AtomicU8,
    closed: AtomicBool,
}

#[derive(Default)]
struct FakeState {
    intents: HashMap<String, Intent>,
    refunds: usize,
    idempotency: HashMap<String, Stored>,
}

struct Stored {
    fingerprint: String,
    status: StatusCode,
    body: Value,
}

struct Intent {
    id: String,
    amount: i64,
    currency: String,
    status: String,
    client_secret: String,
    description: Option<String>,
    metadata: BTreeMap<String, String>,
    last_error: Option<String>,
    amount_refunded: i64,
    created: i64,
    charge_id: String,
}

impl Intent {
    fn to_json(&self) -> Value {
        let received = if self.status == "succeeded" {
            self.amount
        } else {
            0
        };
        json!({
            "id": self.id,
            "object": "payment_intent",
            "amount": self.amount,
            "amount_received": received,
            "currency": self.currency,
            "status": self.status,
            "client_secret": self.client_secret,
            "description": self.description,
            "metadata": self.metadata,
            "automatic_payment_methods": {"enabled": true},
            "capture_method": "automatic",
            "latest_charge": if self.status == "succeeded" { json!(self.charge_id) } else { Value::Null },
            "last_payment_error": self.last_error.as_ref().map(|m| json!({
                "type": "card_error",
                "code": "card_declined",
                "decline_code": "generic_decline",
                "message": m,
            })),
            "cancellation_reason": if self.status == "canceled" { json!("requested_by_customer") } else { Value::Null },
            "next_action": Value::Null,
            "created": self.created,
            "livemode": false,
        })
    }
}

impl Behavior {
    fn to_u8(self) -> u8 {
        match self {
            Behavior::Normal => 0,
            Behavior::ServerError => 1,
            Behavior::Hang => 2,
        }
    }

    fn from_u8(v: u8) -> Behavior {
        match v {
            1 => Behavior::ServerError,
            2 => Behavior::Hang,
            _ => Behavior::Normal,
        }
    }
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, FakeState> {
        // A panicking test thread must not take the fake down for the others.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn behavior(&self) -> Behavior {
        Behavior::from_u8(self.behavior.load(Ordering::SeqCst))
    }
}

impl FakeStripe {
    /// Starts a fake accepting [`FAKE_API_KEY`].
    pub async fn start() -> std::io::Result<FakeStripe> {
        Self::start_with_key(FAKE_API_KEY).await
    }

    pub async fn start_with_key(api_key: &str) -> std::io::Result<FakeStripe> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared {
            api_key: api_key.to_owned(),
            state: Mutex::new(FakeState::default()),
            requests: AtomicUsize::new(0),
            behavior: AtomicU8::new(Behavior::Normal.to_u8()),
            closed: AtomicBool::new(false),
        });
        let app = Router::new()
            .route("/v1/payment_intents", post(create_intent))
            .route("/v1/payment_intents/{id}", get(retrieve_intent))
            .route("/v1/refunds", post(create_refund))
            .fallback(unknown_route)
            .with_state(shared.clone());
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(FakeStripe {
            addr,
            shared,
            server,
        })
    }

    /// `http://127.0.0.1:<port>`, for [`StripeConfig::base_url`].
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn api_key(&self) -> &str {
        &self.shared.api_key
    }

    /// A provider configuration pointing at this fake with its API key.
    pub fn config(&self, webhook_secrets: &[&str]) -> StripeConfig {
        StripeConfig {
            api_key: Secret::new(self.shared.api_key.clone()),
            webhook_secrets: webhook_secrets
                .iter()
                .map(|s| Secret::new((*s).to_owned()))
                .collect(),
            base_url: self.base_url(),
        }
    }

    pub fn set_behavior(&self, behavior: Behavior) {
        self.shared
            .behavior
            .store(behavior.to_u8(), Ordering::SeqCst);
    }

    /// Every HTTP request received, answered or not.
    pub fn requests_count(&self) -> usize {
        self.shared.requests.load(Ordering::SeqCst)
    }

    /// PaymentIntents created so far.
    pub fn payment_intents_count(&self) -> usize {
        self.shared.lock().intents.len()
    }

    /// Refunds created so far.
    pub fn refunds_count(&self) -> usize {
        self.shared.lock().refunds
    }

    /// The intent as `GET /v1/payment_intents/{id}` would show it.
    pub fn payment_intent(&self, pi_id: &str) -> Option<Value> {
        self.shared.lock().intents.get(pi_id).map(Intent::to_json)
    }

    /// Sets an intent's raw Stripe status (`requires_action`, `processing`,
    /// `succeeded`, `canceled`, ...). False if there is no such intent.
    pub fn set_status(&self, pi_id: &str, status: &str) -> bool {
        self.update(pi_id, |pi| {
            pi.status = status.to_owned();
            if status == "succeeded" {
                pi.last_error = None;
            }
        })
    }

    /// The client paid: the intent succeeds.
    pub fn succeed(&self, pi_id: &str) -> bool {
        self.set_status(pi_id, "succeeded")
    }

    /// The client's attempt failed: back to `requires_payment_method` with
    /// a `last_payment_error` carrying `message`.
    pub fn fail(&self, pi_id: &str, message: &str) -> bool {
        self.update(pi_id, |pi| {
            pi.status = "requires_payment_method".to_owned();
            pi.last_error = Some(message.to_owned());
        })
    }

    fn update(&self, pi_id: &str, f: impl FnOnce(&mut Intent)) -> bool {
        match self.shared.lock().intents.get_mut(pi_id) {
            Some(pi) => {
                f(pi);
                true
            }
            None => false,
        }
    }

    /// A Stripe event of `event_type` about intent `pi_id`, signed now with
    /// `secret`: `(Stripe-Signature header, raw body)`.
    pub fn signed_event(&self, secret: &str, event_type: &str, pi_id: &str) -> (String, Vec<u8>) {
        self.signed_event_at(secret, event_type, pi_id, now_unix())
    }

    /// As [`FakeStripe::signed_event`], created and signed at `timestamp`.
    pub fn signed_event_at(
        &self,
        secret: &str,
        event_type: &str,
        pi_id: &str,
        timestamp: i64,
    ) -> (String, Vec<u8>) {
        let body = self.event_body(event_type, pi_id, timestamp);
        let sig = signature::sign(secret, timestamp, &body);
        (signature::header(timestamp, &[sig]), body)
    }

    /// The body of a Stripe event of `event_type` about intent `pi_id`,
    /// reflecting the intent's current state. `payment_intent.*` events carry
    /// the intent, `charge.refunded` its charge (the amount refunded so far,
    /// or all of it if nothing was refunded through the API),
    /// `charge.dispute.created` a dispute over all of it; other types carry
    /// the intent. An unknown `pi_id` gives an intent of 0 USD.
    pub fn event_body(&self, event_type: &str, pi_id: &str, created: i64) -> Vec<u8> {
        let st = self.shared.lock();
        let (pi_json, amount, currency, refunded, charge_id) = match st.intents.get(pi_id) {
            Some(pi) => (
                pi.to_json(),
                pi.amount,
                pi.currency.clone(),
                pi.amount_refunded,
                pi.charge_id.clone(),
            ),
            None => (
                json!({
                    "id": pi_id, "object": "payment_intent", "amount": 0, "currency": "usd",
                    "status": "requires_payment_method", "metadata": {}, "last_payment_error": null,
                }),
                0,
                "usd".to_owned(),
                0,
                format!("ch_{}", new_suffix()),
            ),
        };
        drop(st);
        let object = match event_type {
            "charge.refunded" => {
                let refunded = if refunded == 0 { amount } else { refunded };
                json!({
                    "id": charge_id,
                    "object": "charge",
                    "amount": amount,
                    "amount_captured": amount,
                    "amount_refunded": refunded,
                    "refunded": refunded >= amount,
                    "currency": currency,
                    "payment_intent": pi_id,
                    "paid": true,
                    "status": "succeeded",
                    "metadata": {},
                })
            }
            "charge.dispute.created" => json!({
                "id": format!("dp_{}", new_suffix()),
                "object": "dispute",
                "amount": amount,
                "currency": currency,
                "charge": charge_id,
                "payment_intent": pi_id,
                "reason": "fraudulent",
                "status": "needs_response",
                "metadata": {},
            }),
            _ => pi_json,
        };
        let event = json!({
            "id": format!("evt_{}", new_suffix()),
            "object": "event",
            "api_version": API_VERSION,
            "created": created,
            "data": {"object": object},
            "livemode": false,
            "pending_webhooks": 1,
            "request": {"id": null, "idempotency_key": null},
            "type": event_type,
        });
        event.to_string().into_bytes()
    }
}

impl Drop for FakeStripe {
    fn drop(&mut self) {
        self.shared.closed.store(true, Ordering::SeqCst);
        self.server.abort();
    }
}

impl std::fmt::Debug for FakeStripe {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FakeStripe")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

fn now_unix() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

fn new_suffix() -> String {
    let mut s = Uuid::new_v4().simple().to_string();
    s.truncate(24);
    s
}

// ---------------------------------------------------------------- wire

type Answer = (StatusCode, Value);

fn stripe_error(status: StatusCode, kind: &str, code: Option<&str>, message: String) -> Answer {
    let mut error = json!({"type": kind, "message": message});
    if let Some(code) = code {
        error["code"] = json!(code);
    }
    (status, json!({ "error": error }))
}

fn invalid(code: &str, message: String) -> Answer {
    stripe_error(
        StatusCode::BAD_REQUEST,
        "invalid_request_error",
        Some(code),
        message,
    )
}

fn respond((status, body): Answer) -> Response {
    (status, axum::Json(body)).into_response()
}

/// What every call goes through: counting, the test behaviour, the API key.
async fn gate(shared: &Shared, headers: &HeaderMap) -> Result<(), Response> {
    shared.requests.fetch_add(1, Ordering::SeqCst);
    while shared.behavior() == Behavior::Hang && !shared.closed.load(Ordering::SeqCst) {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    if shared.behavior() == Behavior::ServerError {
        return Err(respond(stripe_error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "api_error",
            None,
            "An unknown error occurred".to_owned(),
        )));
    }
    let expected = format!("Bearer {}", shared.api_key);
    let authorized = headers
        .get(header::AUTHORIZATION)
        .is_some_and(|v| v.as_bytes() == expected.as_bytes());
    if !authorized {
        return Err(respond(stripe_error(
            StatusCode::UNAUTHORIZED,
            "invalid_request_error",
            None,
            "Invalid API Key provided".to_owned(),
        )));
    }
    Ok(())
}

/// Parses a form body; refuses other content types, as Stripe would not
/// understand them.
fn form(headers: &HeaderMap, body: &[u8]) -> Result<Vec<(String, String)>, Answer> {
    let form_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
    if !form_type && !body.is_empty() {
        return Err(invalid(
            "invalid_request",
            "Request bodies must be application/x-www-form-urlencoded".to_owned(),
        ));
    }
    Ok(form_urlencoded::parse(body).into_owned().collect())
}

/// Runs a POST under Stripe's idempotency rules: one lock over check, run
/// and store, so racing retries see a single execution.
async fn post_call(
    shared: &Shared,
    headers: &HeaderMap,
    path: &str,
    body: &[u8],
    run: impl FnOnce(&mut FakeState, &[(String, String)]) -> Answer,
) -> Response {
    if let Err(r) = gate(shared, headers).await {
        return r;
    }
    let params = match form(headers, body) {
        Ok(p) => p,
        Err(a) => return respond(a),
    };
    let key = headers
        .get("Idempotency-Key")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let mut sorted = params.clone();
    sorted.sort();
    let fingerprint = format!("POST {path}?{}", serde_json::json!(sorted));
    let mut st = shared.lock();
    if let Some(key) = &key
        && let Some(stored) = st.idempotency.get(key)
    {
        if stored.fingerprint != fingerprint {
            return respond(stripe_error(
                StatusCode::BAD_REQUEST,
                "idempotency_error",
                None,
                format!(
                    "Keys for idempotent requests can only be used with the same parameters they were first used with. Try using a key other than '{key}' if you meant to execute a different request."
                ),
            ));
        }
        let mut resp = respond((stored.status, stored.body.clone()));
        resp.headers_mut()
            .insert("Idempotent-Replayed", HeaderValue::from_static("true"));
        return resp;
    }
    let (status, answer) = run(&mut st, &params);
    if let Some(key) = key
        && status.is_success()
    {
        st.idempotency.insert(
            key,
            Stored {
                fingerprint,
                status,
                body: answer.clone(),
            },
        );
    }
    respond((status, answer))
}

fn check_known(params: &[(String, String)], known: &[&str]) -> Result<(), Answer> {
    for (k, _) in params {
        if !known.contains(&k.as_str()) && !k.starts_with("metadata[") {
            return Err(invalid(
                "parameter_unknown",
                format!("Received unknown parameter: {k}"),
            ));
        }
    }
    Ok(())
}

fn param<'a>(params: &'a [(String, String)], name: &str) -> Option<&'a str> {
    params
        .iter()
        .rev()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

fn positive_amount(params: &[(String, String)]) -> Result<Option<i64>, Answer> {
    match param(params, "amount") {
        None => Ok(None),
        Some(v) => match v.parse::<i64>() {
            Ok(n) if n >= 1 => Ok(Some(n)),
            _ => Err(invalid(
                "parameter_invalid_integer",
                "Invalid positive integer".to_owned(),
            )),
        },
    }
}

async fn create_intent(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    post_call(
        &shared,
        &headers,
        "/v1/payment_intents",
        &body,
        |st, params| new_intent(st, params).unwrap_or_else(|e| e),
    )
    .await
}

fn new_intent(st: &mut FakeState, params: &[(String, String)]) -> Result<Answer, Answer> {
    check_known(
        params,
        &[
            "amount",
            "currency",
            "description",
            "automatic_payment_methods[enabled]",
        ],
    )?;
    let amount = positive_amount(params)?.ok_or_else(|| {
        invalid(
            "parameter_missing",
            "Missing required param: amount.".to_owned(),
        )
    })?;
    let currency = param(params, "currency").ok_or_else(|| {
        invalid(
            "parameter_missing",
            "Missing required param: currency.".to_owned(),
        )
    })?;
    if currency.len() != 3 || !currency.bytes().all(|b| b.is_ascii_lowercase()) {
        return Err(invalid(
            "parameter_invalid_string",
            format!("Invalid currency: {currency}. Stripe currencies are lower-case ISO codes."),
        ));
    }
    let metadata = params
        .iter()
        .filter_map(|(k, v)| {
            k.strip_prefix("metadata[")
                .and_then(|k| k.strip_suffix(']'))
                .map(|k| (k.to_owned(), v.clone()))
        })
        .collect();
    let id = format!("pi_{}", new_suffix());
    let intent = Intent {
        client_secret: format!("{id}_secret_{}", new_suffix()),
        charge_id: format!("ch_{}", new_suffix()),
        id: id.clone(),
        amount,
        currency: currency.to_owned(),
        status: "requires_payment_method".to_owned(),
        description: param(params, "description").map(str::to_owned),
        metadata,
        last_error: None,
        amount_refunded: 0,
        created: now_unix(),
    };
    let answer = intent.to_json();
    st.intents.insert(id, intent);
    Ok((StatusCode::OK, answer))
}

async fn retrieve_intent(
    State(shared): State<Arc<Shared>>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    if let Err(r) = gate(&shared, &headers).await {
        return r;
    }
    let st = shared.lock();
    match st.intents.get(&id) {
        Some(pi) => respond((StatusCode::OK, pi.to_json())),
        None => respond(stripe_error(
            StatusCode::NOT_FOUND,
            "invalid_request_error",
            Some("resource_missing"),
            format!("No such payment_intent: '{id}'"),
        )),
    }
}

async fn create_refund(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    post_call(&shared, &headers, "/v1/refunds", &body, |st, params| {
        new_refund(st, params).unwrap_or_else(|e| e)
    })
    .await
}

fn new_refund(st: &mut FakeState, params: &[(String, String)]) -> Result<Answer, Answer> {
    check_known(params, &["payment_intent", "amount", "reason"])?;
    let pi_id = param(params, "payment_intent").ok_or_else(|| {
        invalid(
            "parameter_missing",
            "One of the following params should be provided for this request: payment_intent or charge.".to_owned(),
        )
    })?;
    let amount = positive_amount(params)?;
    let pi = st.intents.get_mut(pi_id).ok_or_else(|| {
        invalid(
            "resource_missing",
            format!("No such payment_intent: '{pi_id}'"),
        )
    })?;
    if pi.status != "succeeded" {
        return Err(invalid(
            "payment_intent_unexpected_state",
            "This PaymentIntent does not have a successful charge to refund.".to_owned(),
        ));
    }
    let remaining = pi.amount - pi.amount_refunded;
    if remaining <= 0 {
        return Err(invalid(
            "charge_already_refunded",
            format!("Charge {} has already been refunded.", pi.charge_id),
        ));
    }
    let amount = amount.unwrap_or(remaining);
    if amount > remaining {
        return Err(invalid(
            "amount_too_large",
            format!(
                "Refund amount ({amount}) is greater than unrefunded amount on charge ({remaining})"
            ),
        ));
    }
    pi.amount_refunded += amount;
    let answer = json!({
        "id": format!("re_{}", new_suffix()),
        "object": "refund",
        "amount": amount,
        "currency": pi.currency,
        "charge": pi.charge_id,
        "payment_intent": pi.id,
        "reason": param(params, "reason"),
        "status": "succeeded",
        "created": now_unix(),
        "metadata": {},
    });
    st.refunds += 1;
    Ok((StatusCode::OK, answer))
}

async fn unknown_route(State(shared): State<Arc<Shared>>, headers: HeaderMap) -> Response {
    if let Err(r) = gate(&shared, &headers).await {
        return r;
    }
    respond(stripe_error(
        StatusCode::NOT_FOUND,
        "invalid_request_error",
        None,
        "Unrecognized request URL.".to_owned(),
    ))
}
