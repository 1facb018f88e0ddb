//! Tickets: one per admission, with a signed code a door verifies offline.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum TicketStatus {
    /// Good for entry (once).
    Valid,
    /// Refunded, cancelled or disputed: refused at the door.
    Revoked,
}

impl TicketStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            TicketStatus::Valid => "valid",
            TicketStatus::Revoked => "revoked",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "valid" => Some(TicketStatus::Valid),
            "revoked" => Some(TicketStatus::Revoked),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ticket {
    pub id: Uuid,
    pub booking_id: Uuid,
    pub event_id: Uuid,
    pub ticket_type_id: Uuid,
    pub ticket_type_name: String,
    /// The buyer's account.
    pub user_id: Uuid,
    pub organizer_id: Uuid,
    pub code: String,
    pub status: TicketStatus,
    /// Who goes in (set by the holder; the buyer's name by default).
    pub attendee_name: String,
    pub checked_in_at: Option<DateTime<Utc>>,
    pub gate: Option<String>,
    pub created_at: DateTime<Utc>,
    pub revoked_at: Option<DateTime<Utc>>,
}

/// One scan at a door.
#[derive(Debug, Clone)]
pub struct Scan {
    pub ticket_id: Uuid,
    pub event_id: Uuid,
    pub gate: Option<String>,
    /// The scanner's id for this scan: a retry with the same nonce gets the
    /// same answer.
    pub nonce: Option<String>,
    /// When the gate scanned it (offline gates upload later).
    pub scanned_at: DateTime<Utc>,
    pub by: Uuid,
    /// Offline upload: an earlier scan wins over a later one already stored.
    pub earliest_wins: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ScanOutcome {
    /// Admitted now (or the same scan retried with its nonce).
    Admitted {
        replay: bool,
    },
    /// An offline scan earlier than the one stored replaced it.
    AdmittedEarlier {
        superseded_at: DateTime<Utc>,
        superseded_gate: Option<String>,
    },
    AlreadyCheckedIn {
        at: DateTime<Utc>,
        gate: Option<String>,
    },
    Revoked,
    /// No ticket with this id for this event.
    Unknown,
}

/// Door numbers: admissions checked in against sold, per ticket type and gate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct DoorCount {
    pub ticket_type_id: Uuid,
    pub ticket_type: String,
    /// `null`: not checked in yet (the row counts valid tickets not yet in).
    pub gate: Option<String>,
    pub checked_in: i64,
}
