//! CloudEvents 1.0: the envelope, and its HTTP binding in both content
//! modes (binary: attributes in `ce-*` headers, data as the body;
//! structured: the whole event as `application/cloudevents+json`), exactly
//! as Knative Eventing's brokers deliver events to a subscriber.

use std::collections::BTreeMap;

use axum::extract::{FromRequest, Request};
use base64::Engine;
use chrono::{DateTime, Utc};
use http::{HeaderMap, HeaderName, HeaderValue, header};
use serde::{Deserialize, Serialize};
use tg_http::ApiError;
use tg_store::OutboxEvent;

pub const SPEC_VERSION: &str = "1.0";
/// Content type of a structured-mode event.
pub const STRUCTURED: &str = "application/cloudevents+json";
/// Largest event body accepted over HTTP.
pub const MAX_BODY: usize = 1024 * 1024;

/// A CloudEvents 1.0 event with JSON data.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CloudEvent {
    pub specversion: String,
    pub id: String,
    pub source: String,
    #[serde(rename = "type")]
    pub ty: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub datacontenttype: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<serde_json::Value>,
    /// Extension attributes (`partitionkey`, `sequence`, `traceparent`,
    /// Knative's `knativeerrorcode`, ...), as strings.
    #[serde(flatten)]
    pub extensions: BTreeMap<String, serde_json::Value>,
}

/// Why a request is not a CloudEvent.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct InvalidEvent(pub String);

impl From<InvalidEvent> for ApiError {
    fn from(e: InvalidEvent) -> Self {
        ApiError::bad_request("invalid_cloudevent", e.0)
    }
}

const REQUIRED: [&str; 4] = ["specversion", "id", "source", "type"];
const OPTIONAL: [&str; 3] = ["subject", "time", "datacontenttype"];

impl CloudEvent {
    /// The envelope of an outbox row: `partitionkey` (the CloudEvents
    /// partitioning extension) and `sequence` (the outbox position) as
    /// extensions.
    pub fn from_outbox(e: &OutboxEvent) -> Self {
        let mut extensions = BTreeMap::new();
        extensions.insert(
            "partitionkey".to_owned(),
            serde_json::Value::String(e.partition_key.clone()),
        );
        extensions.insert(
            "sequence".to_owned(),
            serde_json::Value::String(format!("{:020}", e.seq)),
        );
        if let Some(tp) = &e.traceparent {
            // The CloudEvents distributed tracing extension.
            extensions.insert(
                "traceparent".to_owned(),
                serde_json::Value::String(tp.clone()),
            );
        }
        CloudEvent {
            specversion: SPEC_VERSION.into(),
            id: e.id.to_string(),
            source: e.source.clone(),
            ty: e.event_type.clone(),
            subject: Some(e.subject.clone()),
            time: Some(e.time),
            datacontenttype: Some("application/json".into()),
            data: Some(e.data.clone()),
            extensions,
        }
    }

    /// A new event (ops alerts, dead letters).
    pub fn new(ty: &str, source: &str, data: serde_json::Value) -> Self {
        CloudEvent {
            specversion: SPEC_VERSION.into(),
            id: uuid::Uuid::now_v7().to_string(),
            source: source.into(),
            ty: ty.into(),
            subject: None,
            time: Some(Utc::now()),
            datacontenttype: Some("application/json".into()),
            data: Some(data),
            extensions: BTreeMap::new(),
        }
    }

    /// An extension attribute as a string.
    pub fn extension(&self, name: &str) -> Option<String> {
        self.extensions.get(name).map(|v| match v {
            serde_json::Value::String(s) => s.clone(),
            other => other.to_string(),
        })
    }

    pub fn set_extension(&mut self, name: &str, value: impl Into<String>) {
        self.extensions
            .insert(name.to_owned(), serde_json::Value::String(value.into()));
    }

    /// The partition key (the booking id for booking events).
    pub fn partition_key(&self) -> String {
        self.extension("partitionkey")
            .unwrap_or_else(|| self.id.clone())
    }

    fn validate(self) -> Result<Self, InvalidEvent> {
        if self.specversion != SPEC_VERSION {
            return Err(InvalidEvent(format!(
                "specversion `{}` is not supported (only 1.0)",
                self.specversion
            )));
        }
        for (name, v) in [
            ("id", &self.id),
            ("source", &self.source),
            ("type", &self.ty),
        ] {
            if v.trim().is_empty() {
                return Err(InvalidEvent(format!("the `{name}` attribute is empty")));
            }
        }
        for name in self.extensions.keys() {
            if name.is_empty()
                || name.len() > 20
                || !name
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
            {
                return Err(InvalidEvent(format!(
                    "`{name}` is not a valid attribute name (lowercase letters and digits, at most 20)"
                )));
            }
        }
        Ok(self)
    }

    /// Structured mode: the event as one JSON document.
    pub fn to_structured(&self) -> Vec<u8> {
        serde_json::to_vec(self).unwrap_or_default()
    }

    /// Parses a structured-mode document (also the AMQP and SQS bodies).
    pub fn from_structured(body: &[u8]) -> Result<Self, InvalidEvent> {
        let mut raw: serde_json::Map<String, serde_json::Value> = serde_json::from_slice(body)
            .map_err(|e| InvalidEvent(format!("the body is not a JSON CloudEvent: {e}")))?;
        for name in REQUIRED {
            match raw.get(name) {
                Some(serde_json::Value::String(_)) => {}
                Some(_) => {
                    return Err(InvalidEvent(format!(
                        "the `{name}` attribute must be a string"
                    )));
                }
                None => {
                    return Err(InvalidEvent(format!(
                        "the required attribute `{name}` is missing"
                    )));
                }
            }
        }
        // Binary data in structured mode: `data_base64`; we only carry JSON.
        if let Some(b64) = raw.remove("data_base64") {
            let text = b64
                .as_str()
                .ok_or_else(|| InvalidEvent("`data_base64` must be a string".into()))?;
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(text)
                .map_err(|_| InvalidEvent("`data_base64` is not base64".into()))?;
            let data = serde_json::from_slice(&bytes)
                .map_err(|_| InvalidEvent("`data_base64` does not hold JSON data".into()))?;
            raw.insert("data".into(), data);
        }
        let ev: CloudEvent = serde_json::from_value(serde_json::Value::Object(raw))
            .map_err(|e| InvalidEvent(format!("the CloudEvent is malformed: {e}")))?;
        ev.validate()
    }

    /// Binary mode: attributes as `ce-*` headers, the data as the body.
    pub fn to_binary(&self) -> (HeaderMap, Vec<u8>) {
        let mut h = HeaderMap::new();
        let mut put = |name: &str, value: &str| {
            if let (Ok(n), Ok(v)) = (
                HeaderName::try_from(format!("ce-{name}")),
                HeaderValue::from_str(&percent_encode(value)),
            ) {
                h.insert(n, v);
            }
        };
        put("specversion", &self.specversion);
        put("id", &self.id);
        put("source", &self.source);
        put("type", &self.ty);
        if let Some(s) = &self.subject {
            put("subject", s);
        }
        if let Some(t) = &self.time {
            put(
                "time",
                &t.to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
            );
        }
        for (k, v) in &self.extensions {
            let s = match v {
                serde_json::Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            put(k, &s);
        }
        let body = match &self.data {
            Some(d) => serde_json::to_vec(d).unwrap_or_default(),
            None => Vec::new(),
        };
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_str(
                self.datacontenttype
                    .as_deref()
                    .unwrap_or("application/json"),
            )
            .unwrap_or(HeaderValue::from_static("application/json")),
        );
        (h, body)
    }

    /// Reads an event from an HTTP request in either content mode.
    pub fn from_http(headers: &HeaderMap, body: &[u8]) -> Result<Self, InvalidEvent> {
        let content_type = headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_ascii_lowercase();
        if content_type.starts_with(STRUCTURED) {
            return Self::from_structured(body);
        }
        if content_type.starts_with("application/cloudevents-batch+json") {
            return Err(InvalidEvent("batched mode is not supported".into()));
        }
        let mut attrs: BTreeMap<String, String> = BTreeMap::new();
        for (name, value) in headers {
            if let Some(attr) = name.as_str().strip_prefix("ce-") {
                let v = value.to_str().map_err(|_| {
                    InvalidEvent(format!("the `{name}` header is not visible ASCII"))
                })?;
                attrs.insert(attr.to_owned(), percent_decode(v));
            }
        }
        if attrs.is_empty() {
            return Err(InvalidEvent(
                "not a CloudEvent: no `ce-*` headers and not application/cloudevents+json".into(),
            ));
        }
        let mut take = |name: &str| attrs.remove(name);
        let specversion = take("specversion").ok_or_else(|| {
            InvalidEvent("the required attribute `specversion` (ce-specversion) is missing".into())
        })?;
        let id = take("id")
            .ok_or_else(|| InvalidEvent("the required attribute `id` (ce-id) is missing".into()))?;
        let source = take("source").ok_or_else(|| {
            InvalidEvent("the required attribute `source` (ce-source) is missing".into())
        })?;
        let ty = take("type").ok_or_else(|| {
            InvalidEvent("the required attribute `type` (ce-type) is missing".into())
        })?;
        let subject = take("subject");
        let time = match take("time") {
            Some(t) => Some(
                DateTime::parse_from_rfc3339(&t)
                    .map_err(|_| InvalidEvent(format!("ce-time `{t}` is not an RFC 3339 time")))?
                    .with_timezone(&Utc),
            ),
            None => None,
        };
        let data = if body.iter().all(u8::is_ascii_whitespace) {
            None
        } else if content_type.is_empty()
            || content_type.starts_with("application/json")
            || content_type.contains("+json")
            || content_type.starts_with("text/json")
        {
            Some(
                serde_json::from_slice(body)
                    .map_err(|e| InvalidEvent(format!("the data is not valid JSON: {e}")))?,
            )
        } else {
            return Err(InvalidEvent(format!(
                "data of content type `{content_type}` is not supported (JSON only)"
            )));
        };
        let datacontenttype = if content_type.is_empty() {
            None
        } else {
            Some(content_type)
        };
        for name in OPTIONAL {
            attrs.remove(name);
        }
        CloudEvent {
            specversion,
            id,
            source,
            ty,
            subject,
            time,
            datacontenttype,
            data,
            extensions: attrs
                .into_iter()
                .map(|(k, v)| (k, serde_json::Value::String(v)))
                .collect(),
        }
        .validate()
    }
}

/// Percent-encodes what HTTP header values cannot carry (CloudEvents HTTP
/// binding, section 3.1.3.2): space, `"`, `%` and non-printable or
/// non-ASCII bytes.
fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if (0x21..=0x7e).contains(&b) && b != b'"' && b != b'%' {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let Ok(v) = u8::from_str_radix(&s[i + 1..i + 3], 16)
        {
            out.push(v);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The axum extractor: a CloudEvent in either content mode, or a 400
/// problem naming what is wrong.
impl<S: Send + Sync> FromRequest<S> for CloudEvent {
    type Rejection = ApiError;

    async fn from_request(req: Request, _state: &S) -> Result<Self, Self::Rejection> {
        let (parts, body) = req.into_parts();
        let bytes = axum::body::to_bytes(body, MAX_BODY).await.map_err(|_| {
            ApiError::new(
                http::StatusCode::PAYLOAD_TOO_LARGE,
                "payload_too_large",
                format!("the event is larger than {MAX_BODY} bytes"),
            )
        })?;
        Ok(CloudEvent::from_http(&parts.headers, &bytes)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> CloudEvent {
        let mut e = CloudEvent::new(
            "booking.confirmed",
            "/ticketgw/bookings",
            serde_json::json!({"booking_id": "b1", "note": "ü \"q\" 100%"}),
        );
        e.subject = Some("bookings/b1 with space".into());
        e.set_extension("partitionkey", "b1");
        e
    }

    #[test]
    fn binary_round_trip() {
        let e = sample();
        let (h, body) = e.to_binary();
        assert_eq!(
            h.get("ce-subject").map(|v| v.to_str().ok()),
            Some(Some("bookings/b1%20with%20space"))
        );
        let back = CloudEvent::from_http(&h, &body).expect("parse");
        assert_eq!(back.id, e.id);
        assert_eq!(back.subject, e.subject);
        assert_eq!(back.data, e.data);
        assert_eq!(back.partition_key(), "b1");
        assert_eq!(
            back.time.map(|t| t.timestamp_micros()),
            e.time.map(|t| t.timestamp_micros())
        );
    }

    #[test]
    fn structured_round_trip() {
        let e = sample();
        let mut h = HeaderMap::new();
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/cloudevents+json; charset=utf-8"),
        );
        let back = CloudEvent::from_http(&h, &e.to_structured()).expect("parse");
        assert_eq!(back, e);
    }

    #[test]
    fn outbox_rows_carry_partition_sequence_and_trace_context() {
        let row = OutboxEvent {
            seq: 42,
            id: uuid::Uuid::now_v7(),
            event_type: "booking.confirmed".into(),
            source: "/ticketgw/bookings".into(),
            subject: "bookings/b1".into(),
            partition_key: "b1".into(),
            time: Utc::now(),
            data: serde_json::json!({"booking_id": "b1"}),
            sent_at: None,
            attempts: 0,
            traceparent: Some("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01".into()),
        };
        let e = CloudEvent::from_outbox(&row);
        assert_eq!(e.partition_key(), "b1");
        assert_eq!(
            e.extension("sequence").as_deref(),
            Some("00000000000000000042")
        );
        let (h, _) = e.to_binary();
        assert_eq!(
            h["ce-traceparent"],
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
        );
        assert_eq!(h["ce-type"], "booking.confirmed");
    }

    #[test]
    fn structured_data_base64() {
        let body = serde_json::json!({
            "specversion": "1.0", "id": "1", "source": "/s", "type": "t",
            "data_base64": base64::engine::general_purpose::STANDARD.encode(br#"{"a":1}"#),
        });
        let e = CloudEvent::from_structured(body.to_string().as_bytes()).expect("parse");
        assert_eq!(e.data, Some(serde_json::json!({"a": 1})));
    }

    #[test]
    fn rejects_what_is_not_an_event() {
        let mut h = HeaderMap::new();
        assert!(CloudEvent::from_http(&h, b"{}").is_err(), "no ce headers");
        h.insert("ce-id", HeaderValue::from_static("1"));
        h.insert("ce-source", HeaderValue::from_static("/s"));
        h.insert("ce-type", HeaderValue::from_static("t"));
        let err = CloudEvent::from_http(&h, b"").expect_err("no specversion");
        assert!(err.0.contains("specversion"), "{err}");
        h.insert("ce-specversion", HeaderValue::from_static("0.3"));
        assert!(CloudEvent::from_http(&h, b"").is_err(), "old spec version");
        h.insert("ce-specversion", HeaderValue::from_static("1.0"));
        assert!(CloudEvent::from_http(&h, b"").is_ok());
        assert!(CloudEvent::from_http(&h, b"{not json").is_err());
        h.insert("ce-time", HeaderValue::from_static("yesterday"));
        assert!(CloudEvent::from_http(&h, b"").is_err());
        let mut s = HeaderMap::new();
        s.insert(header::CONTENT_TYPE, HeaderValue::from_static(STRUCTURED));
        assert!(
            CloudEvent::from_http(&s, br#"{"specversion":"1.0","id":"1","source":"/s"}"#).is_err()
        );
        assert!(
            CloudEvent::from_http(
                &s,
                br#"{"specversion":"1.0","id":"","source":"/s","type":"t"}"#
            )
            .is_err()
        );
        assert!(
            CloudEvent::from_http(
                &s,
                br#"{"specversion":"1.0","id":1,"source":"/s","type":"t"}"#
            )
            .is_err()
        );
        assert!(
            CloudEvent::from_http(
                &s,
                br#"{"specversion":"1.0","id":"1","source":"/s","type":"t","Bad-Name":"x"}"#
            )
            .is_err()
        );
    }
}
