//! The events pipeline's storage, written once for both backends: relay
//! claims on the transactional outbox, and the notification log consumers
//! deduplicate deliveries with.
//!
//! **Claims.** A relay claims a batch with one statement: the first unsent
//! rows in `seq` order that nobody holds (PostgreSQL: `FOR UPDATE SKIP
//! LOCKED`, so any number of relays never wait for each other), minus every
//! row that has an earlier unsent row of its partition outside the batch.
//! So a partition (a booking) is only ever in one relay's hands, and its
//! events go out in `seq` order. A claim is a lease (`claimed_until`): a
//! relay that dies gives its rows back when the lease ends, and they are
//! published again (at least once; consumers deduplicate).
//!
//! **Notification log.** A consumer claims (`source`, `id`, channel,
//! recipient) with an `INSERT ... ON CONFLICT DO NOTHING` before it sends,
//! and marks it done after: a redelivered event finds the row and sends
//! nothing. A claim whose sender died is taken over after its lease.

use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, Utc};
use uuid::Uuid;

use crate::{OutboxEvent, StoreResult};

/// Counters of the outbox for metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct OutboxStats {
    /// Rows not yet published (and not dead).
    pub pending: i64,
    /// Event time of the oldest pending row.
    pub oldest: Option<DateTime<Utc>>,
    /// Rows given up on (in-process delivery only).
    pub dead: i64,
}

/// What a notification is: one message on one channel to one recipient
/// because of one event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotificationKey {
    /// CloudEvent `source`.
    pub source: String,
    /// CloudEvent `id`.
    pub event_id: String,
    /// `email`, `sms` or `telegram`.
    pub channel: String,
    /// Address, phone number or chat id.
    pub recipient: String,
}

/// What [`EventStore::notification_claim`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NotificationClaim {
    /// The caller owns it now: send, then `finish` (or `release`).
    Claimed,
    /// Already sent (or deliberately skipped): do nothing.
    Done,
    /// Another delivery of the same event is sending it right now.
    Busy,
}

#[async_trait]
pub trait EventStore: Send + Sync {
    /// Claims up to `limit` publishable rows for `relay` until
    /// `lease_until`, in `seq` order (see the module docs).
    async fn outbox_claim(
        &self,
        relay: &str,
        limit: u32,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
    ) -> StoreResult<Vec<OutboxEvent>>;
    /// Writes an event of its own (ops alerts, tools, tests): one row,
    /// committed at once. Domain changes write theirs in their own
    /// transaction instead.
    async fn outbox_emit(
        &self,
        event_type: &str,
        source: &str,
        subject: &str,
        partition_key: &str,
        data: &serde_json::Value,
        now: DateTime<Utc>,
    ) -> StoreResult<Uuid>;
    /// Whether any row could be claimed at `now` (a cheap read before
    /// taking a write lock).
    async fn outbox_has_work(&self, now: DateTime<Utc>) -> StoreResult<bool>;
    /// Marks rows published (the broker confirmed them).
    async fn outbox_mark_sent(&self, seqs: &[i64], now: DateTime<Utc>) -> StoreResult<u64>;
    /// Gives rows back after a failed attempt: `attempts` + 1, not claimed
    /// again before `not_before`.
    async fn outbox_retry_later(
        &self,
        seqs: &[i64],
        not_before: DateTime<Utc>,
        error: &str,
    ) -> StoreResult<u64>;
    /// Gives rows back untried (no attempt counted), not claimed again
    /// before `not_before`.
    async fn outbox_release(&self, seqs: &[i64], not_before: DateTime<Utc>) -> StoreResult<u64>;
    /// Gives up on rows (their consumer failed them too often).
    async fn outbox_mark_dead(
        &self,
        seqs: &[i64],
        now: DateTime<Utc>,
        error: &str,
    ) -> StoreResult<u64>;
    async fn outbox_stats(&self) -> StoreResult<OutboxStats>;
    /// Deletes rows published before `before`.
    async fn outbox_prune(&self, before: DateTime<Utc>) -> StoreResult<u64>;
    /// One row by event id, with its state (tests and tools).
    async fn outbox_get(&self, id: Uuid) -> StoreResult<Option<OutboxEvent>>;

    async fn notification_claim(
        &self,
        key: &NotificationKey,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
    ) -> StoreResult<NotificationClaim>;
    /// Ends a claim: `sent` or `skipped` (with why).
    async fn notification_finish(
        &self,
        key: &NotificationKey,
        state: &str,
        detail: Option<&str>,
        now: DateTime<Utc>,
    ) -> StoreResult<()>;
    /// Drops a claim whose send failed, so a redelivery tries again.
    async fn notification_release(&self, key: &NotificationKey) -> StoreResult<()>;
    /// Counts one message to `recipient` on `day`; false when `cap` were
    /// already counted (the message must not go out).
    async fn notification_quota_take(
        &self,
        recipient: &str,
        day: NaiveDate,
        cap: u32,
    ) -> StoreResult<bool>;
    /// Rows of the notification log in a state (tests and metrics).
    async fn notification_count(&self, state: &str) -> StoreResult<i64>;
    async fn notification_prune(&self, before: DateTime<Utc>) -> StoreResult<u64>;

    /// Bookings that have (or had) tickets of an event: who to tell when
    /// it is cancelled.
    async fn ticketed_bookings(&self, event_id: Uuid) -> StoreResult<Vec<Uuid>>;
}

pub(crate) fn seq_list(seqs: &[i64]) -> String {
    serde_json::to_string(seqs).unwrap_or_else(|_| "[]".into())
}

/// Expands to `impl EventStore for $store`. `$skip_locked` is the claim
/// query's locking clause and `$in_list` a subquery turning the JSON array
/// bound as `$1` into rows of `seq`.
macro_rules! events_impl {
    ($store:ty, $db:ty, $skip_locked:expr, $in_list:expr) => {
        #[async_trait::async_trait]
        impl $crate::events::EventStore for $store {
            #[tracing::instrument(skip(self), level = "debug")]
            async fn outbox_claim(
                &self,
                relay: &str,
                limit: u32,
                now: chrono::DateTime<chrono::Utc>,
                lease_until: chrono::DateTime<chrono::Utc>,
            ) -> $crate::StoreResult<Vec<$crate::OutboxEvent>> {
                let sql = format!(
                    "WITH c AS (SELECT seq FROM outbox WHERE sent_at IS NULL AND dead_at IS NULL \
                       AND (claimed_until IS NULL OR claimed_until <= $1) ORDER BY seq LIMIT $2{}) \
                     UPDATE outbox SET claimed_by = $3, claimed_until = $4 \
                     WHERE seq IN (SELECT seq FROM c) AND NOT EXISTS (SELECT 1 FROM outbox e \
                       WHERE e.partition_key = outbox.partition_key AND e.sent_at IS NULL \
                       AND e.dead_at IS NULL AND e.seq < outbox.seq AND e.seq NOT IN (SELECT seq FROM c)) \
                     RETURNING seq, id, type, source, subject, partition_key, time, data, attempts, traceparent",
                    $skip_locked
                );
                type R = (i64, uuid::Uuid, String, String, String, String, chrono::DateTime<chrono::Utc>, String, i32, Option<String>);
                let mut tx = self.begin_write().await?;
                let rows: Vec<R> = sqlx::query_as(&sql)
                    .bind($crate::model::truncate_micros(now))
                    .bind(i64::from(limit))
                    .bind(relay)
                    .bind($crate::model::truncate_micros(lease_until))
                    .fetch_all(&mut *tx)
                    .await?;
                tx.commit().await?;
                let mut out = rows
                    .into_iter()
                    .map(|(seq, id, event_type, source, subject, partition_key, time, data, attempts, traceparent)| {
                        Ok($crate::OutboxEvent {
                            seq,
                            id,
                            event_type,
                            source,
                            subject,
                            partition_key,
                            time,
                            data: serde_json::from_str(&data)
                                .map_err(|e| $crate::StoreError::Corrupt(format!("outbox data: {e}")))?,
                            sent_at: None,
                            attempts,
                            traceparent,
                        })
                    })
                    .collect::<$crate::StoreResult<Vec<_>>>()?;
                out.sort_by_key(|e| e.seq);
                Ok(out)
            }

            async fn outbox_emit(
                &self,
                event_type: &str,
                source: &str,
                subject: &str,
                partition_key: &str,
                data: &serde_json::Value,
                now: chrono::DateTime<chrono::Utc>,
            ) -> $crate::StoreResult<uuid::Uuid> {
                let id = uuid::Uuid::now_v7();
                let mut tx = self.begin_write().await?;
                sqlx::query(
                    "INSERT INTO outbox (id, type, source, subject, partition_key, time, data, traceparent) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                )
                .bind(id)
                .bind(event_type)
                .bind(source)
                .bind(subject)
                .bind(partition_key)
                .bind($crate::model::truncate_micros(now))
                .bind(data.to_string())
                .bind($crate::traceparent())
                .execute(&mut *tx)
                .await?;
                tx.commit().await?;
                Ok(id)
            }

            async fn outbox_has_work(&self, now: chrono::DateTime<chrono::Utc>) -> $crate::StoreResult<bool> {
                let row: Option<(i64,)> = sqlx::query_as(
                    "SELECT seq FROM outbox WHERE sent_at IS NULL AND dead_at IS NULL \
                     AND (claimed_until IS NULL OR claimed_until <= $1) LIMIT 1",
                )
                .bind($crate::model::truncate_micros(now))
                .fetch_optional(self.pool())
                .await?;
                Ok(row.is_some())
            }

            #[tracing::instrument(skip(self, seqs), level = "debug", fields(n = seqs.len()))]
            async fn outbox_mark_sent(&self, seqs: &[i64], now: chrono::DateTime<chrono::Utc>) -> $crate::StoreResult<u64> {
                if seqs.is_empty() {
                    return Ok(0);
                }
                let sql = format!(
                    "UPDATE outbox SET sent_at = $2, claimed_by = NULL, claimed_until = NULL \
                     WHERE seq IN ({}) AND sent_at IS NULL",
                    $in_list
                );
                let mut tx = self.begin_write().await?;
                let n = sqlx::query(&sql)
                    .bind($crate::events::seq_list(seqs))
                    .bind($crate::model::truncate_micros(now))
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
                tx.commit().await?;
                Ok(n)
            }

            async fn outbox_retry_later(
                &self,
                seqs: &[i64],
                not_before: chrono::DateTime<chrono::Utc>,
                error: &str,
            ) -> $crate::StoreResult<u64> {
                if seqs.is_empty() {
                    return Ok(0);
                }
                let sql = format!(
                    "UPDATE outbox SET attempts = attempts + 1, claimed_by = NULL, claimed_until = $2, last_error = $3 \
                     WHERE seq IN ({}) AND sent_at IS NULL",
                    $in_list
                );
                let mut tx = self.begin_write().await?;
                let n = sqlx::query(&sql)
                    .bind($crate::events::seq_list(seqs))
                    .bind($crate::model::truncate_micros(not_before))
                    .bind(error.chars().take(500).collect::<String>())
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
                tx.commit().await?;
                Ok(n)
            }

            async fn outbox_release(
                &self,
                seqs: &[i64],
                not_before: chrono::DateTime<chrono::Utc>,
            ) -> $crate::StoreResult<u64> {
                if seqs.is_empty() {
                    return Ok(0);
                }
                let sql = format!(
                    "UPDATE outbox SET claimed_by = NULL, claimed_until = $2 WHERE seq IN ({}) AND sent_at IS NULL",
                    $in_list
                );
                let mut tx = self.begin_write().await?;
                let n = sqlx::query(&sql)
                    .bind($crate::events::seq_list(seqs))
                    .bind($crate::model::truncate_micros(not_before))
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
                tx.commit().await?;
                Ok(n)
            }

            async fn outbox_mark_dead(
                &self,
                seqs: &[i64],
                now: chrono::DateTime<chrono::Utc>,
                error: &str,
            ) -> $crate::StoreResult<u64> {
                if seqs.is_empty() {
                    return Ok(0);
                }
                let sql = format!(
                    "UPDATE outbox SET attempts = attempts + 1, dead_at = $2, claimed_by = NULL, claimed_until = NULL, last_error = $3 \
                     WHERE seq IN ({}) AND sent_at IS NULL",
                    $in_list
                );
                let mut tx = self.begin_write().await?;
                let n = sqlx::query(&sql)
                    .bind($crate::events::seq_list(seqs))
                    .bind($crate::model::truncate_micros(now))
                    .bind(error.chars().take(500).collect::<String>())
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
                tx.commit().await?;
                Ok(n)
            }

            async fn outbox_stats(&self) -> $crate::StoreResult<$crate::events::OutboxStats> {
                let (pending, oldest): (i64, Option<chrono::DateTime<chrono::Utc>>) = sqlx::query_as(
                    "SELECT COUNT(*), MIN(time) FROM outbox WHERE sent_at IS NULL AND dead_at IS NULL",
                )
                .fetch_one(self.pool())
                .await?;
                let (dead,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM outbox WHERE dead_at IS NOT NULL")
                    .fetch_one(self.pool())
                    .await?;
                Ok($crate::events::OutboxStats { pending, oldest, dead })
            }

            async fn outbox_prune(&self, before: chrono::DateTime<chrono::Utc>) -> $crate::StoreResult<u64> {
                Ok(sqlx::query("DELETE FROM outbox WHERE sent_at IS NOT NULL AND sent_at < $1")
                    .bind($crate::model::truncate_micros(before))
                    .execute(self.pool())
                    .await?
                    .rows_affected())
            }

            async fn outbox_get(&self, id: uuid::Uuid) -> $crate::StoreResult<Option<$crate::OutboxEvent>> {
                type R = (i64, uuid::Uuid, String, String, String, String, chrono::DateTime<chrono::Utc>, String, Option<chrono::DateTime<chrono::Utc>>, i32, Option<String>);
                let row: Option<R> = sqlx::query_as(
                    "SELECT seq, id, type, source, subject, partition_key, time, data, sent_at, attempts, traceparent FROM outbox WHERE id = $1",
                )
                .bind(id)
                .fetch_optional(self.pool())
                .await?;
                row.map(|(seq, id, event_type, source, subject, partition_key, time, data, sent_at, attempts, traceparent)| {
                    Ok($crate::OutboxEvent {
                        seq,
                        id,
                        event_type,
                        source,
                        subject,
                        partition_key,
                        time,
                        data: serde_json::from_str(&data)
                            .map_err(|e| $crate::StoreError::Corrupt(format!("outbox data: {e}")))?,
                        sent_at,
                        attempts,
                        traceparent,
                    })
                })
                .transpose()
            }

            #[tracing::instrument(skip(self), level = "debug")]
            async fn notification_claim(
                &self,
                key: &$crate::events::NotificationKey,
                now: chrono::DateTime<chrono::Utc>,
                lease_until: chrono::DateTime<chrono::Utc>,
            ) -> $crate::StoreResult<$crate::events::NotificationClaim> {
                use $crate::events::NotificationClaim as C;
                let now = $crate::model::truncate_micros(now);
                let lease_until = $crate::model::truncate_micros(lease_until);
                for _ in 0..3 {
                    let inserted = sqlx::query(
                        "INSERT INTO notification_log (source, event_id, channel, recipient, state, locked_until, created_at) \
                         VALUES ($1, $2, $3, $4, 'sending', $5, $6) ON CONFLICT DO NOTHING",
                    )
                    .bind(&key.source)
                    .bind(&key.event_id)
                    .bind(&key.channel)
                    .bind(&key.recipient)
                    .bind(lease_until)
                    .bind(now)
                    .execute(self.pool())
                    .await?
                    .rows_affected();
                    if inserted == 1 {
                        return Ok(C::Claimed);
                    }
                    let row: Option<(String, chrono::DateTime<chrono::Utc>)> = sqlx::query_as(
                        "SELECT state, locked_until FROM notification_log \
                         WHERE source = $1 AND event_id = $2 AND channel = $3 AND recipient = $4",
                    )
                    .bind(&key.source)
                    .bind(&key.event_id)
                    .bind(&key.channel)
                    .bind(&key.recipient)
                    .fetch_optional(self.pool())
                    .await?;
                    let Some((state, locked_until)) = row else {
                        continue; // released between the two statements
                    };
                    if state != "sending" {
                        return Ok(C::Done);
                    }
                    if locked_until > now {
                        return Ok(C::Busy);
                    }
                    // The sender died: take the claim over (one racer wins).
                    let taken = sqlx::query(
                        "UPDATE notification_log SET locked_until = $5 \
                         WHERE source = $1 AND event_id = $2 AND channel = $3 AND recipient = $4 \
                         AND state = 'sending' AND locked_until = $6",
                    )
                    .bind(&key.source)
                    .bind(&key.event_id)
                    .bind(&key.channel)
                    .bind(&key.recipient)
                    .bind(lease_until)
                    .bind(locked_until)
                    .execute(self.pool())
                    .await?
                    .rows_affected();
                    return Ok(if taken == 1 { C::Claimed } else { C::Busy });
                }
                Ok(C::Busy)
            }

            async fn notification_finish(
                &self,
                key: &$crate::events::NotificationKey,
                state: &str,
                detail: Option<&str>,
                now: chrono::DateTime<chrono::Utc>,
            ) -> $crate::StoreResult<()> {
                sqlx::query(
                    "UPDATE notification_log SET state = $5, detail = $6, finished_at = $7 \
                     WHERE source = $1 AND event_id = $2 AND channel = $3 AND recipient = $4 AND state = 'sending'",
                )
                .bind(&key.source)
                .bind(&key.event_id)
                .bind(&key.channel)
                .bind(&key.recipient)
                .bind(state)
                .bind(detail)
                .bind($crate::model::truncate_micros(now))
                .execute(self.pool())
                .await?;
                Ok(())
            }

            async fn notification_release(&self, key: &$crate::events::NotificationKey) -> $crate::StoreResult<()> {
                sqlx::query(
                    "DELETE FROM notification_log \
                     WHERE source = $1 AND event_id = $2 AND channel = $3 AND recipient = $4 AND state = 'sending'",
                )
                .bind(&key.source)
                .bind(&key.event_id)
                .bind(&key.channel)
                .bind(&key.recipient)
                .execute(self.pool())
                .await?;
                Ok(())
            }

            async fn notification_quota_take(
                &self,
                recipient: &str,
                day: chrono::NaiveDate,
                cap: u32,
            ) -> $crate::StoreResult<bool> {
                if cap == 0 {
                    return Ok(true);
                }
                let n = sqlx::query(
                    "INSERT INTO notification_quota (recipient, day, sent) VALUES ($1, $2, 1) \
                     ON CONFLICT (recipient, day) DO UPDATE SET sent = notification_quota.sent + 1 \
                     WHERE notification_quota.sent < $3",
                )
                .bind(recipient)
                .bind(day)
                .bind(i64::from(cap))
                .execute(self.pool())
                .await?
                .rows_affected();
                Ok(n == 1)
            }

            async fn notification_count(&self, state: &str) -> $crate::StoreResult<i64> {
                let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM notification_log WHERE state = $1")
                    .bind(state)
                    .fetch_one(self.pool())
                    .await?;
                Ok(n)
            }

            async fn notification_prune(&self, before: chrono::DateTime<chrono::Utc>) -> $crate::StoreResult<u64> {
                let a = sqlx::query("DELETE FROM notification_log WHERE created_at < $1 AND state <> 'sending'")
                    .bind($crate::model::truncate_micros(before))
                    .execute(self.pool())
                    .await?
                    .rows_affected();
                let b = sqlx::query("DELETE FROM notification_quota WHERE day < $1")
                    .bind(before.date_naive())
                    .execute(self.pool())
                    .await?
                    .rows_affected();
                Ok(a + b)
            }

            async fn ticketed_bookings(&self, event_id: uuid::Uuid) -> $crate::StoreResult<Vec<uuid::Uuid>> {
                let rows: Vec<(uuid::Uuid,)> = sqlx::query_as(
                    "SELECT DISTINCT booking_id FROM tickets WHERE event_id = $1 ORDER BY booking_id",
                )
                .bind(event_id)
                .fetch_all(self.pool())
                .await?;
                Ok(rows.into_iter().map(|r| r.0).collect())
            }
        }
    };
}

pub(crate) use events_impl;

/// The day a quota counts in (UTC).
pub fn quota_day(now: DateTime<Utc>) -> NaiveDate {
    now.date_naive()
}
