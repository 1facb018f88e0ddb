//! What clients send and get back.

use std::collections::BTreeMap;

use chrono::{DateTime, FixedOffset, Utc};
use serde::{Deserialize, Serialize};
use tg_http::{ApiError, FieldError};
use tg_store::{DoorCount, Event, Ticket, TicketStatus};
use utoipa::ToSchema;
use uuid::Uuid;

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct TicketView {
    pub id: Uuid,
    pub booking_id: Uuid,
    pub event_id: Uuid,
    pub ticket_type_id: Uuid,
    pub ticket_type: String,
    /// The signed code the QR carries; a door verifies it offline with the
    /// event's public key.
    pub code: String,
    pub status: TicketStatus,
    pub attendee_name: String,
    pub checked_in_at: Option<DateTime<Utc>>,
    pub gate: Option<String>,
    pub qr_svg_url: String,
    pub pdf_url: String,
}

impl From<Ticket> for TicketView {
    fn from(t: Ticket) -> Self {
        Self {
            qr_svg_url: format!("/v1/tickets/{}/qr.svg", t.id),
            pdf_url: format!("/v1/tickets/{}.pdf", t.id),
            id: t.id,
            booking_id: t.booking_id,
            event_id: t.event_id,
            ticket_type_id: t.ticket_type_id,
            ticket_type: t.ticket_type_name,
            code: t.code,
            status: t.status,
            attendee_name: t.attendee_name,
            checked_in_at: t.checked_in_at,
            gate: t.gate,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct TicketList {
    pub items: Vec<TicketView>,
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AttendeeRequest {
    /// 1 to 100 characters, not blank, no control characters.
    #[schema(
        min_length = 1,
        max_length = 100,
        pattern = "^[^\\x00-\\x1f\\x7f-\\x9f]*[^\\s\\x00-\\x1f\\x7f-\\x9f][^\\x00-\\x1f\\x7f-\\x9f]*$"
    )]
    pub attendee_name: String,
}

impl AttendeeRequest {
    pub fn validate(&self) -> Result<String, ApiError> {
        let name = self.attendee_name.trim();
        let n = name.chars().count();
        if n == 0 || n > 100 || name.chars().any(char::is_control) {
            return Err(ApiError::invalid_field(
                "attendee_name",
                "1 to 100 characters, no control characters",
            ));
        }
        Ok(name.to_string())
    }
}

fn short_text(
    field: &str,
    v: &Option<String>,
    max: usize,
    errors: &mut Vec<FieldError>,
) -> Option<String> {
    let v = v.as_deref()?.trim();
    if v.is_empty() || v.chars().count() > max || v.chars().any(char::is_control) {
        errors.push(FieldError::new(field, format!("1 to {max} characters")));
        return None;
    }
    Some(v.to_string())
}

/// One scan at a door.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CheckinRequest {
    /// The ticket's code as read from the QR.
    #[schema(min_length = 1, max_length = 512)]
    pub code: String,
    /// The gate scanning (up to 50 characters).
    #[serde(default)]
    #[schema(
        min_length = 1,
        max_length = 50,
        pattern = "^[^\\x00-\\x1f\\x7f-\\x9f]*[^\\s\\x00-\\x1f\\x7f-\\x9f][^\\x00-\\x1f\\x7f-\\x9f]*$"
    )]
    pub gate: Option<String>,
    /// The scanner's id of this scan: a retry with the same nonce is
    /// answered as the first (up to 100 characters).
    #[serde(default)]
    #[schema(
        min_length = 1,
        max_length = 100,
        pattern = "^[^\\x00-\\x1f\\x7f-\\x9f]*[^\\s\\x00-\\x1f\\x7f-\\x9f][^\\x00-\\x1f\\x7f-\\x9f]*$"
    )]
    pub nonce: Option<String>,
    /// The event this door is for: a ticket of another event is refused
    /// (`wrong_event`).
    #[serde(default)]
    pub event_id: Option<Uuid>,
}

impl CheckinRequest {
    pub fn validate(&self) -> Result<(Option<String>, Option<String>), ApiError> {
        let mut errors = Vec::new();
        if self.code.is_empty() || self.code.len() > 512 {
            errors.push(FieldError::new("code", "1 to 512 characters"));
        }
        let gate = short_text("gate", &self.gate, 50, &mut errors);
        let nonce = short_text("nonce", &self.nonce, 100, &mut errors);
        if errors.is_empty() {
            Ok((gate, nonce))
        } else {
            Err(ApiError::validation(errors))
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct CheckinResult {
    /// `ok`: let them in.
    pub result: String,
    pub ticket_id: Uuid,
    pub ticket_type: String,
    pub attendee_name: String,
    pub checked_in_at: Option<DateTime<Utc>>,
    pub gate: Option<String>,
    /// The same scan retried (same nonce).
    pub replay: bool,
    /// An offline scan earlier than the stored one replaced it: when and
    /// where the later one was.
    pub superseded: Option<SupersededScan>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct SupersededScan {
    pub checked_in_at: DateTime<Utc>,
    pub gate: Option<String>,
}

impl CheckinResult {
    pub fn ok(
        t: &Ticket,
        replay: bool,
        superseded: Option<(DateTime<Utc>, Option<String>)>,
    ) -> Self {
        Self {
            result: "ok".into(),
            ticket_id: t.id,
            ticket_type: t.ticket_type_name.clone(),
            attendee_name: t.attendee_name.clone(),
            checked_in_at: t.checked_in_at,
            gate: t.gate.clone(),
            replay,
            superseded: superseded.map(|(checked_in_at, gate)| SupersededScan {
                checked_in_at,
                gate,
            }),
        }
    }
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BatchScan {
    #[schema(min_length = 1, max_length = 512)]
    pub code: String,
    /// When the gate scanned it (RFC 3339 with offset).
    pub scanned_at: DateTime<FixedOffset>,
    #[serde(default)]
    #[schema(
        min_length = 1,
        max_length = 100,
        pattern = "^[^\\x00-\\x1f\\x7f-\\x9f]*[^\\s\\x00-\\x1f\\x7f-\\x9f][^\\x00-\\x1f\\x7f-\\x9f]*$"
    )]
    pub nonce: Option<String>,
}

/// An offline gate's upload.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BatchRequest {
    #[serde(default)]
    #[schema(
        min_length = 1,
        max_length = 50,
        pattern = "^[^\\x00-\\x1f\\x7f-\\x9f]*[^\\s\\x00-\\x1f\\x7f-\\x9f][^\\x00-\\x1f\\x7f-\\x9f]*$"
    )]
    pub gate: Option<String>,
    #[serde(default)]
    pub event_id: Option<Uuid>,
    /// 1 to 500 scans.
    #[schema(min_items = 1, max_items = 500)]
    pub scans: Vec<BatchScan>,
}

impl BatchRequest {
    pub fn validate(&self) -> Result<Option<String>, ApiError> {
        let mut errors = Vec::new();
        if self.scans.is_empty() || self.scans.len() > crate::MAX_BATCH {
            errors.push(FieldError::new(
                "scans",
                format!("1 to {} scans", crate::MAX_BATCH),
            ));
        }
        let gate = short_text("gate", &self.gate, 50, &mut errors);
        for (i, s) in self.scans.iter().enumerate() {
            if s.code.is_empty() || s.code.len() > 512 {
                errors.push(FieldError::new(
                    format!("scans[{i}].code"),
                    "1 to 512 characters",
                ));
            }
            short_text(&format!("scans[{i}].nonce"), &s.nonce, 100, &mut errors);
        }
        if errors.is_empty() {
            Ok(gate)
        } else {
            Err(ApiError::validation(errors))
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct BatchItem {
    /// Position of the scan in the upload.
    pub index: usize,
    /// `ok`, or the problem code (`already_checked_in`, `revoked`,
    /// `invalid_signature`, `wrong_event`, `unknown_ticket`).
    pub result: String,
    pub ticket_id: Option<Uuid>,
    /// For `ok`: when it was admitted; for `already_checked_in`: the winning scan.
    pub checked_in_at: Option<DateTime<Utc>>,
    pub gate: Option<String>,
    pub superseded: Option<SupersededScan>,
}

impl BatchItem {
    pub fn from_ok(index: usize, r: CheckinResult) -> Self {
        Self {
            index,
            result: r.result,
            ticket_id: Some(r.ticket_id),
            checked_in_at: r.checked_in_at,
            gate: r.gate,
            superseded: r.superseded,
        }
    }

    /// A refused scan; a failure that is not about the scan (storage down)
    /// fails the whole upload so the gate retries it.
    pub fn from_error(index: usize, e: &ApiError) -> Result<Self, ApiError> {
        let doc = e.doc();
        if doc.status >= 500 {
            return Err(ApiError::unavailable(anyhow::anyhow!("{}", doc.detail)));
        }
        let ext = |k: &str| doc.extensions.get(k).cloned();
        Ok(Self {
            index,
            result: doc.code.clone(),
            ticket_id: ext("ticket_id").and_then(|v| serde_json::from_value(v).ok()),
            checked_in_at: ext("checked_in_at").and_then(|v| serde_json::from_value(v).ok()),
            gate: ext("gate").and_then(|v| serde_json::from_value(v).ok()),
            superseded: None,
        })
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct BatchResult {
    pub items: Vec<BatchItem>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct DoorTypeView {
    pub ticket_type_id: Uuid,
    pub name: String,
    pub capacity: i64,
    /// Paid admissions.
    pub sold: i64,
    pub checked_in: i64,
    /// Checked in per gate (`""`: no gate named).
    pub by_gate: BTreeMap<String, i64>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct DoorView {
    pub event_id: Uuid,
    pub sold: i64,
    pub checked_in: i64,
    pub ticket_types: Vec<DoorTypeView>,
}

impl DoorView {
    pub fn new(e: &Event, counts: &[DoorCount]) -> Self {
        let ticket_types: Vec<DoorTypeView> = e
            .ticket_types
            .iter()
            .map(|t| {
                let mut by_gate = BTreeMap::new();
                for c in counts.iter().filter(|c| c.ticket_type_id == t.id) {
                    if let Some(g) = &c.gate {
                        *by_gate.entry(g.clone()).or_insert(0) += c.checked_in;
                    }
                }
                DoorTypeView {
                    ticket_type_id: t.id,
                    name: t.name.clone(),
                    capacity: t.capacity,
                    sold: t.sold,
                    checked_in: by_gate.values().sum(),
                    by_gate,
                }
            })
            .collect();
        Self {
            event_id: e.id,
            sold: ticket_types.iter().map(|t| t.sold).sum(),
            checked_in: ticket_types.iter().map(|t| t.checked_in).sum(),
            ticket_types,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct TicketKeyView {
    pub event_id: Uuid,
    /// Always `Ed25519`.
    pub alg: String,
    /// The raw 32-byte public key, base64url without padding.
    pub public_key: String,
    /// The same key as a JWK (`kty: OKP`, `crv: Ed25519`).
    pub jwk: serde_json::Value,
}

impl TicketKeyView {
    pub fn new(event_id: Uuid, key: &[u8; 32]) -> Self {
        use base64::Engine as _;
        let x = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(key);
        Self {
            event_id,
            alg: "Ed25519".into(),
            jwk: serde_json::json!({"kty": "OKP", "crv": "Ed25519", "x": x, "use": "sig", "kid": event_id}),
            public_key: x,
        }
    }
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StaffRequest {
    /// The user to let run the door (they sign in as usual).
    pub user_id: Uuid,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct StaffList {
    pub items: Vec<Uuid>,
}
