//! Tickets, door staff and check-in, written once for both backends.
//!
//! Tickets are issued inside the transaction that confirms their booking
//! (`bookings::confirm_in`), each with a code signed by its event's Ed25519
//! key (kept here, never served), and revoked inside the transaction that
//! refunds or cancels it. A check-in is one conditional `UPDATE ... WHERE
//! checked_in_at IS NULL`, so however many gates scan a ticket at once,
//! exactly one admits it.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::{ColumnIndex, Decode, Row, Type};
use uuid::Uuid;

use crate::{DoorCount, Scan, ScanOutcome, Scope, StoreError, StoreResult, Ticket, TicketStatus};

#[async_trait]
pub trait TicketStore: Send + Sync {
    /// The event's public verification key, if it has one. A read: the
    /// key pair is made when the event is published (or, for events
    /// published before that, by the migration step or the first ticket
    /// issued), never here.
    async fn event_public_key(&self, event_id: Uuid) -> StoreResult<Option<[u8; 32]>>;
    async fn tickets_of_booking(&self, booking_id: Uuid) -> StoreResult<Vec<Ticket>>;
    async fn get_ticket(&self, id: Uuid) -> StoreResult<Ticket>;
    /// The holder names who goes in, before the event starts.
    async fn set_attendee(
        &self,
        ticket_id: Uuid,
        user_id: Uuid,
        name: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<Ticket>;
    /// Door staff of an event (organizer-scoped).
    async fn add_staff(
        &self,
        event_id: Uuid,
        scope: Scope,
        user_id: Uuid,
        by: Uuid,
    ) -> StoreResult<()>;
    async fn remove_staff(&self, event_id: Uuid, scope: Scope, user_id: Uuid) -> StoreResult<bool>;
    async fn list_staff(&self, event_id: Uuid, scope: Scope) -> StoreResult<Vec<Uuid>>;
    async fn is_staff(&self, event_id: Uuid, user_id: Uuid) -> StoreResult<bool>;
    /// Admits a ticket at most once; see [`ScanOutcome`].
    async fn scan(&self, scan: &Scan) -> StoreResult<ScanOutcome>;
    /// Checked-in admissions per ticket type and gate (gate `None`: valid
    /// tickets not in yet).
    async fn door_counts(&self, event_id: Uuid) -> StoreResult<Vec<DoorCount>>;
}

pub(crate) const TICKET_SELECT: &str = "SELECT k.id, k.booking_id, k.event_id, k.ticket_type_id, \
     t.name AS ticket_type_name, k.user_id, e.organizer_id, k.code, k.status, k.attendee_name, \
     k.checked_in_at, k.gate, k.created_at, k.revoked_at FROM tickets k \
     JOIN ticket_types t ON t.id = k.ticket_type_id JOIN events e ON e.id = k.event_id";

pub(crate) fn ticket_from_row<'r, R>(row: &'r R) -> StoreResult<Ticket>
where
    R: Row,
    &'r str: ColumnIndex<R>,
    Uuid: Decode<'r, R::Database> + Type<R::Database>,
    String: Decode<'r, R::Database> + Type<R::Database>,
    DateTime<Utc>: Decode<'r, R::Database> + Type<R::Database>,
{
    let status: String = row.try_get("status")?;
    Ok(Ticket {
        id: row.try_get("id")?,
        booking_id: row.try_get("booking_id")?,
        event_id: row.try_get("event_id")?,
        ticket_type_id: row.try_get("ticket_type_id")?,
        ticket_type_name: row.try_get("ticket_type_name")?,
        user_id: row.try_get("user_id")?,
        organizer_id: row.try_get("organizer_id")?,
        code: row.try_get("code")?,
        status: TicketStatus::parse(&status)
            .ok_or_else(|| StoreError::Corrupt(format!("ticket status {status:?}")))?,
        attendee_name: row.try_get("attendee_name")?,
        checked_in_at: row.try_get("checked_in_at")?,
        gate: row.try_get("gate")?,
        created_at: row.try_get("created_at")?,
        revoked_at: row.try_get("revoked_at")?,
    })
}

pub(crate) fn key_error(e: tg_tickets::code::CodeError) -> StoreError {
    StoreError::Corrupt(format!("event signing key: {e}"))
}

/// Expands to `impl TicketStore for $store`, and the helpers the booking
/// transactions call to issue and revoke tickets.
macro_rules! tickets_impl {
    ($store:ty, $db:ty) => {
        #[async_trait::async_trait]
        impl $crate::tickets::TicketStore for $store {
            async fn event_public_key(&self, event_id: uuid::Uuid) -> $crate::StoreResult<Option<[u8; 32]>> {
                let row: Option<(Vec<u8>,)> = sqlx::query_as("SELECT public_key FROM event_keys WHERE event_id = $1")
                    .bind(event_id)
                    .fetch_optional(&self.pool)
                    .await?;
                row.map(|(k,)| {
                    <[u8; 32]>::try_from(k.as_slice())
                        .map_err(|_| $crate::StoreError::Corrupt("event public key length".into()))
                })
                .transpose()
            }

            async fn tickets_of_booking(&self, booking_id: uuid::Uuid) -> $crate::StoreResult<Vec<$crate::Ticket>> {
                let sql = format!("{} WHERE k.booking_id = $1 ORDER BY k.created_at, k.id", $crate::tickets::TICKET_SELECT);
                let rows = sqlx::query(&sql).bind(booking_id).fetch_all(&self.pool).await?;
                rows.iter().map($crate::tickets::ticket_from_row).collect()
            }

            async fn get_ticket(&self, id: uuid::Uuid) -> $crate::StoreResult<$crate::Ticket> {
                let sql = format!("{} WHERE k.id = $1", $crate::tickets::TICKET_SELECT);
                let row = sqlx::query(&sql).bind(id).fetch_optional(&self.pool).await?.ok_or($crate::StoreError::NotFound("ticket"))?;
                $crate::tickets::ticket_from_row(&row)
            }

            async fn set_attendee(&self, ticket_id: uuid::Uuid, user_id: uuid::Uuid, name: &str, now: chrono::DateTime<chrono::Utc>) -> $crate::StoreResult<$crate::Ticket> {
                let t = self.get_ticket(ticket_id).await?;
                if t.user_id != user_id {
                    return Err($crate::StoreError::NotFound("ticket"));
                }
                if t.status != $crate::TicketStatus::Valid {
                    return Err($crate::StoreError::conflict("revoked", "the ticket was revoked"));
                }
                let (starts_at,): (chrono::DateTime<chrono::Utc>,) = sqlx::query_as("SELECT starts_at FROM events WHERE id = $1")
                    .bind(t.event_id)
                    .fetch_one(&self.pool)
                    .await?;
                if now >= starts_at || t.checked_in_at.is_some() {
                    return Err($crate::StoreError::conflict("event_started", "names can be changed only before the event starts"));
                }
                sqlx::query("UPDATE tickets SET attendee_name = $2 WHERE id = $1 AND checked_in_at IS NULL")
                    .bind(ticket_id)
                    .bind(name)
                    .execute(&self.pool)
                    .await?;
                self.get_ticket(ticket_id).await
            }

            async fn add_staff(&self, event_id: uuid::Uuid, scope: $crate::Scope, user_id: uuid::Uuid, by: uuid::Uuid) -> $crate::StoreResult<()> {
                let mut tx = self.begin_write().await?;
                Self::event_row(&mut tx, event_id, scope, false).await?;
                sqlx::query("INSERT INTO event_staff (event_id, user_id, invited_by, created_at) VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING")
                    .bind(event_id)
                    .bind(user_id)
                    .bind(by)
                    .bind($crate::model::now())
                    .execute(&mut *tx)
                    .await
                    .map_err(|e| match &e {
                        sqlx::Error::Database(d) if d.is_foreign_key_violation() => $crate::StoreError::NotFound("user"),
                        _ => e.into(),
                    })?;
                tx.commit().await?;
                Ok(())
            }

            async fn remove_staff(&self, event_id: uuid::Uuid, scope: $crate::Scope, user_id: uuid::Uuid) -> $crate::StoreResult<bool> {
                let mut tx = self.begin_write().await?;
                Self::event_row(&mut tx, event_id, scope, false).await?;
                let n = sqlx::query("DELETE FROM event_staff WHERE event_id = $1 AND user_id = $2")
                    .bind(event_id)
                    .bind(user_id)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
                tx.commit().await?;
                Ok(n > 0)
            }

            async fn list_staff(&self, event_id: uuid::Uuid, scope: $crate::Scope) -> $crate::StoreResult<Vec<uuid::Uuid>> {
                let mut conn = self.pool.acquire().await?;
                Self::event_row(&mut conn, event_id, scope, false).await?;
                let rows: Vec<(uuid::Uuid,)> = sqlx::query_as("SELECT user_id FROM event_staff WHERE event_id = $1 ORDER BY created_at, user_id")
                    .bind(event_id)
                    .fetch_all(&mut *conn)
                    .await?;
                Ok(rows.into_iter().map(|(u,)| u).collect())
            }

            async fn is_staff(&self, event_id: uuid::Uuid, user_id: uuid::Uuid) -> $crate::StoreResult<bool> {
                let row: Option<(i64,)> = sqlx::query_as("SELECT CAST(1 AS BIGINT) FROM event_staff WHERE event_id = $1 AND user_id = $2")
                    .bind(event_id)
                    .bind(user_id)
                    .fetch_optional(&self.pool)
                    .await?;
                Ok(row.is_some())
            }

            #[tracing::instrument(skip(self, s), level = "debug", fields(ticket = %s.ticket_id))]
            async fn scan(&self, s: &$crate::Scan) -> $crate::StoreResult<$crate::ScanOutcome> {
                let at = $crate::model::truncate_micros(s.scanned_at);
                let now = $crate::model::now();
                let mut tx = self.begin_write().await?;
                let prev: Option<(String, Option<chrono::DateTime<chrono::Utc>>, Option<String>, Option<String>)> = sqlx::query_as(
                    "SELECT status, checked_in_at, gate, checkin_nonce FROM tickets WHERE id = $1 AND event_id = $2",
                )
                .bind(s.ticket_id)
                .bind(s.event_id)
                .fetch_optional(&mut *tx)
                .await?;
                let Some((status, prev_at, prev_gate, prev_nonce)) = prev else {
                    return Ok($crate::ScanOutcome::Unknown);
                };
                if status != "valid" {
                    return Ok($crate::ScanOutcome::Revoked);
                }
                // The admission itself: one conditional update decides.
                let sql = if s.earliest_wins {
                    "UPDATE tickets SET checked_in_at = $2, gate = $3, checkin_nonce = $4, checked_in_by = $5 \
                     WHERE id = $1 AND status = 'valid' AND (checked_in_at IS NULL OR checked_in_at > $2)"
                } else {
                    "UPDATE tickets SET checked_in_at = $2, gate = $3, checkin_nonce = $4, checked_in_by = $5 \
                     WHERE id = $1 AND status = 'valid' AND checked_in_at IS NULL"
                };
                let won = sqlx::query(sql)
                    .bind(s.ticket_id)
                    .bind(at)
                    .bind(&s.gate)
                    .bind(&s.nonce)
                    .bind(s.by)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected()
                    == 1;
                if !won {
                    // Someone else got there first (read it again: it may be
                    // newer than what we read before the update).
                    let (now_status, cur_at, cur_gate, cur_nonce): (String, Option<chrono::DateTime<chrono::Utc>>, Option<String>, Option<String>) = sqlx::query_as(
                        "SELECT status, checked_in_at, gate, checkin_nonce FROM tickets WHERE id = $1",
                    )
                    .bind(s.ticket_id)
                    .fetch_one(&mut *tx)
                    .await?;
                    tx.rollback().await?;
                    if now_status != "valid" {
                        return Ok($crate::ScanOutcome::Revoked);
                    }
                    return Ok(match cur_at {
                        Some(_) if s.nonce.is_some() && cur_nonce == s.nonce => $crate::ScanOutcome::Admitted { replay: true },
                        Some(cur) => $crate::ScanOutcome::AlreadyCheckedIn { at: cur, gate: cur_gate },
                        None => $crate::ScanOutcome::Revoked,
                    });
                }
                let data = serde_json::json!({
                    "ticket_id": s.ticket_id,
                    "event_id": s.event_id,
                    "gate": s.gate,
                    "checked_in_at": at,
                    "by": s.by,
                });
                Self::outbox_raw(&mut tx, "ticket.checked_in", "/ticketgw/checkins", &format!("tickets/{}", s.ticket_id),
                    &s.ticket_id.to_string(), &data, now).await?;
                tx.commit().await?;
                Ok(match prev_at {
                    Some(p) => $crate::ScanOutcome::AdmittedEarlier { superseded_at: p, superseded_gate: prev_gate },
                    None => {
                        let _ = prev_nonce;
                        $crate::ScanOutcome::Admitted { replay: false }
                    }
                })
            }

            async fn door_counts(&self, event_id: uuid::Uuid) -> $crate::StoreResult<Vec<$crate::DoorCount>> {
                let rows: Vec<(uuid::Uuid, String, Option<String>, i64)> = sqlx::query_as(
                    "SELECT k.ticket_type_id, t.name, CASE WHEN k.checked_in_at IS NULL THEN NULL ELSE COALESCE(k.gate, '') END AS g, \
                     CAST(COUNT(*) AS BIGINT) FROM tickets k JOIN ticket_types t ON t.id = k.ticket_type_id \
                     WHERE k.event_id = $1 AND k.status = 'valid' GROUP BY k.ticket_type_id, t.name, g ORDER BY t.name, g",
                )
                .bind(event_id)
                .fetch_all(&self.pool)
                .await?;
                Ok(rows
                    .into_iter()
                    .map(|(ticket_type_id, ticket_type, gate, checked_in)| $crate::DoorCount { ticket_type_id, ticket_type, gate, checked_in })
                    .collect())
            }
        }

        impl $store {
            /// Gives every published or cancelled event that has none a
            /// signing key (events published before keys were made at
            /// publication). Part of the migration step.
            pub(crate) async fn backfill_event_keys(&self) -> $crate::StoreResult<()> {
                let ids: Vec<(uuid::Uuid,)> = sqlx::query_as(
                    "SELECT e.id FROM events e WHERE e.status <> 'draft' \
                     AND NOT EXISTS (SELECT 1 FROM event_keys k WHERE k.event_id = e.id)",
                )
                .fetch_all(&self.pool)
                .await?;
                for (id,) in ids {
                    let mut tx = self.begin_write().await?;
                    Self::event_key(&mut tx, id).await?;
                    tx.commit().await?;
                }
                Ok(())
            }

            /// The event's signing key, created on first use (a race to
            /// create it is settled by the primary key: everyone reads the
            /// winner's).
            async fn event_key(
                conn: &mut <$db as sqlx::Database>::Connection,
                event_id: uuid::Uuid,
            ) -> $crate::StoreResult<tg_tickets::code::EventKey> {
                let row: Option<(Vec<u8>,)> = sqlx::query_as("SELECT private_pkcs8 FROM event_keys WHERE event_id = $1")
                    .bind(event_id)
                    .fetch_optional(&mut *conn)
                    .await?;
                if let Some((der,)) = row {
                    return tg_tickets::code::EventKey::from_pkcs8(&der).map_err($crate::tickets::key_error);
                }
                let key = tg_tickets::code::EventKey::generate().map_err($crate::tickets::key_error)?;
                sqlx::query("INSERT INTO event_keys (event_id, private_pkcs8, public_key, created_at) VALUES ($1, $2, $3, $4) ON CONFLICT (event_id) DO NOTHING")
                    .bind(event_id)
                    .bind(key.pkcs8())
                    .bind(key.public_key().to_vec())
                    .bind($crate::model::now())
                    .execute(&mut *conn)
                    .await?;
                let (der,): (Vec<u8>,) = sqlx::query_as("SELECT private_pkcs8 FROM event_keys WHERE event_id = $1")
                    .bind(event_id)
                    .fetch_one(&mut *conn)
                    .await?;
                tg_tickets::code::EventKey::from_pkcs8(&der).map_err($crate::tickets::key_error)
            }

            /// One ticket per admission of a booking being confirmed.
            pub(crate) async fn issue_tickets_in(
                conn: &mut <$db as sqlx::Database>::Connection,
                b: &$crate::Booking,
                now: chrono::DateTime<chrono::Utc>,
            ) -> $crate::StoreResult<()> {
                let (exists,): (i64,) = sqlx::query_as("SELECT CAST(COUNT(*) AS BIGINT) FROM tickets WHERE booking_id = $1")
                    .bind(b.id)
                    .fetch_one(&mut *conn)
                    .await?;
                if exists > 0 {
                    // Confirmed again after a lapse: the same tickets are valid again.
                    sqlx::query("UPDATE tickets SET status = 'valid', revoked_at = NULL WHERE booking_id = $1")
                        .bind(b.id)
                        .execute(&mut *conn)
                        .await?;
                    return Ok(());
                }
                let key = Self::event_key(conn, b.event_id).await?;
                let (name,): (String,) = sqlx::query_as("SELECT name FROM users WHERE id = $1")
                    .bind(b.user_id)
                    .fetch_one(&mut *conn)
                    .await?;
                let name: String = name.chars().take(100).collect();
                for item in &b.items {
                    for _ in 0..item.quantity {
                        // Random (v4), not time-ordered: ids must not be guessable.
                        let id = uuid::Uuid::new_v4();
                        let code = key.sign(&tg_tickets::code::TicketClaims {
                            ticket_id: id,
                            event_id: b.event_id,
                            ticket_type_id: item.ticket_type_id,
                        });
                        sqlx::query(
                            "INSERT INTO tickets (id, booking_id, event_id, ticket_type_id, user_id, code, status, attendee_name, created_at) \
                             VALUES ($1, $2, $3, $4, $5, $6, 'valid', $7, $8)",
                        )
                        .bind(id)
                        .bind(b.id)
                        .bind(b.event_id)
                        .bind(item.ticket_type_id)
                        .bind(b.user_id)
                        .bind(code)
                        .bind(&name)
                        .bind(now)
                        .execute(&mut *conn)
                        .await?;
                    }
                }
                Ok(())
            }

            pub(crate) async fn revoke_event_tickets_in(
                conn: &mut <$db as sqlx::Database>::Connection,
                event_id: uuid::Uuid,
                now: chrono::DateTime<chrono::Utc>,
            ) -> $crate::StoreResult<()> {
                sqlx::query("UPDATE tickets SET status = 'revoked', revoked_at = $2 WHERE event_id = $1 AND status = 'valid'")
                    .bind(event_id)
                    .bind(now)
                    .execute(&mut *conn)
                    .await?;
                Ok(())
            }

            pub(crate) async fn revoke_tickets_in(
                conn: &mut <$db as sqlx::Database>::Connection,
                booking_id: uuid::Uuid,
                now: chrono::DateTime<chrono::Utc>,
            ) -> $crate::StoreResult<()> {
                sqlx::query("UPDATE tickets SET status = 'revoked', revoked_at = $2 WHERE booking_id = $1 AND status = 'valid'")
                    .bind(booking_id)
                    .bind(now)
                    .execute(&mut *conn)
                    .await?;
                Ok(())
            }
        }
    };
}

pub(crate) use tickets_impl;
