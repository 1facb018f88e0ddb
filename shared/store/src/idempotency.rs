//! Idempotency keys (Stripe semantics): the first response to a mutating
//! request carrying `Idempotency-Key` is kept and replayed for retries of
//! the same request by the same caller.
//!
//! A key is claimed by `INSERT ... ON CONFLICT DO NOTHING`, so exactly one
//! of any number of racing requests (in any number of processes) owns it.
//! The owner holds a lease (`locked_until`); a claim whose lease has lapsed
//! (its process died) and a stored response past its expiry are taken over
//! by a conditional `UPDATE`, which again only one racer wins. Every step is
//! one autocommit statement: no transaction is held while a handler runs.
//!
//! The SQL is written once here and expanded for both backends, like
//! `sql.rs`.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::StoreResult;

/// A response kept for replay.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredResponse {
    pub status: u16,
    pub content_type: Option<String>,
    /// The `Location` header (a created resource), so a replayed `201`
    /// still points at it.
    pub location: Option<String>,
    pub body: Vec<u8>,
}

/// What [`IdempotencyStore::idempotency_begin`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IdempotencyBegin {
    /// The caller owns the key now: run the request, then `finish` (or
    /// `abandon`).
    Started,
    /// The first request with this key is still running.
    InProgress,
    /// The key was used for a different request.
    Mismatch,
    /// The request was already answered: send this again.
    Replay(StoredResponse),
}

/// How many times `begin` looks again when the row changes under it (it was
/// abandoned, pruned or taken over between two statements).
const BEGIN_ATTEMPTS: usize = 5;

/// Storage of idempotency keys. `scope` separates callers (the same key of
/// two callers is two keys); `fingerprint` identifies the request.
#[async_trait]
pub trait IdempotencyStore: Send + Sync {
    /// Claims (`scope`, `key`) for the request `fingerprint` until
    /// `lease_until`, or reports why not. A claim whose lease ended before
    /// `now`, and a stored response that expired before `now`, are replaced.
    async fn idempotency_begin(
        &self,
        scope: &str,
        key: &str,
        fingerprint: &[u8],
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
    ) -> StoreResult<IdempotencyBegin>;

    /// Stores the response of the claim `begin` made with `lease_until`,
    /// kept until `expires_at`. False when that claim is gone (abandoned,
    /// pruned, or taken over after its lease lapsed: the lease identifies
    /// the claim, so a late owner never overwrites its successor's).
    async fn idempotency_finish(
        &self,
        scope: &str,
        key: &str,
        lease_until: DateTime<Utc>,
        response: &StoredResponse,
        expires_at: DateTime<Utc>,
    ) -> StoreResult<bool>;

    /// Releases the claim `begin` made with `lease_until` without storing
    /// anything, so the request may run again. A stored response, and a
    /// successor's claim, are left alone.
    async fn idempotency_abandon(
        &self,
        scope: &str,
        key: &str,
        lease_until: DateTime<Utc>,
    ) -> StoreResult<()>;

    /// Deletes expired responses and lapsed claims; returns how many.
    async fn idempotency_prune(&self, now: DateTime<Utc>) -> StoreResult<u64>;
}

/// One row as `begin` reads it.
type KeyRow = (
    Vec<u8>,
    String,
    DateTime<Utc>,
    DateTime<Utc>,
    Option<i32>,
    Option<String>,
    Option<String>,
    Option<Vec<u8>>,
);

fn replay(row: KeyRow) -> StoreResult<IdempotencyBegin> {
    let (_, _, _, _, status, content_type, location, body) = row;
    let (Some(status), Some(body)) = (status, body) else {
        return Err(crate::StoreError::Corrupt(
            "idempotency key done without a response".into(),
        ));
    };
    let status = u16::try_from(status)
        .map_err(|_| crate::StoreError::Corrupt(format!("response status {status}")))?;
    Ok(IdempotencyBegin::Replay(StoredResponse {
        status,
        content_type,
        location,
        body,
    }))
}

macro_rules! idempotency_impl {
    ($store:ty) => {
        #[async_trait]
        impl IdempotencyStore for $store {
            #[tracing::instrument(skip(self, key, fingerprint), level = "debug")]
            async fn idempotency_begin(
                &self,
                scope: &str,
                key: &str,
                fingerprint: &[u8],
                now: DateTime<Utc>,
                lease_until: DateTime<Utc>,
            ) -> StoreResult<IdempotencyBegin> {
                let now = crate::model::truncate_micros(now);
                let lease_until = crate::model::truncate_micros(lease_until);
                for _ in 0..BEGIN_ATTEMPTS {
                    // A claim's expiry is its lease: once that lapses the
                    // row is dead (taken over, or pruned).
                    let claimed = sqlx::query(
                        "INSERT INTO idempotency_keys (scope, key, fingerprint, state, locked_until, created_at, expires_at) \
                         VALUES ($1, $2, $3, 'in_progress', $4, $5, $4) ON CONFLICT (scope, key) DO NOTHING",
                    )
                    .bind(scope)
                    .bind(key)
                    .bind(fingerprint)
                    .bind(lease_until)
                    .bind(now)
                    .execute(self.pool())
                    .await?
                    .rows_affected();
                    if claimed == 1 {
                        return Ok(IdempotencyBegin::Started);
                    }
                    let row: Option<KeyRow> = sqlx::query_as(
                        "SELECT fingerprint, state, locked_until, expires_at, response_status, \
                         response_content_type, response_location, response_body \
                         FROM idempotency_keys WHERE scope = $1 AND key = $2",
                    )
                    .bind(scope)
                    .bind(key)
                    .fetch_optional(self.pool())
                    .await?;
                    // Deleted since the INSERT (abandoned or pruned): claim again.
                    let Some(row) = row else { continue };
                    let stale = match row.1.as_str() {
                        "in_progress" => row.2 <= now,
                        "done" => row.3 <= now,
                        other => {
                            return Err(crate::StoreError::Corrupt(format!(
                                "idempotency key state {other:?}"
                            )))
                        }
                    };
                    if stale {
                        // The WHERE repeats the staleness test, so of many
                        // racing takers only the first matches.
                        let taken = sqlx::query(
                            "UPDATE idempotency_keys SET fingerprint = $3, state = 'in_progress', locked_until = $4, \
                             created_at = $5, expires_at = $4, response_status = NULL, response_content_type = NULL, \
                             response_location = NULL, response_body = NULL \
                             WHERE scope = $1 AND key = $2 AND ((state = 'in_progress' AND locked_until <= $5) \
                             OR (state = 'done' AND expires_at <= $5))",
                        )
                        .bind(scope)
                        .bind(key)
                        .bind(fingerprint)
                        .bind(lease_until)
                        .bind(now)
                        .execute(self.pool())
                        .await?
                        .rows_affected();
                        if taken == 1 {
                            return Ok(IdempotencyBegin::Started);
                        }
                        // Someone else took it over first: look again.
                        continue;
                    }
                    if row.0.as_slice() != fingerprint {
                        return Ok(IdempotencyBegin::Mismatch);
                    }
                    if row.1 == "in_progress" {
                        return Ok(IdempotencyBegin::InProgress);
                    }
                    return replay(row);
                }
                Err(crate::StoreError::conflict(
                    "idempotency_contended",
                    "the idempotency key kept changing; retry",
                ))
            }

            #[tracing::instrument(skip(self, key, response), level = "debug")]
            async fn idempotency_finish(
                &self,
                scope: &str,
                key: &str,
                lease_until: DateTime<Utc>,
                response: &StoredResponse,
                expires_at: DateTime<Utc>,
            ) -> StoreResult<bool> {
                let stored = sqlx::query(
                    "UPDATE idempotency_keys SET state = 'done', response_status = $4, response_content_type = $5, \
                     response_location = $6, response_body = $7, expires_at = $8 \
                     WHERE scope = $1 AND key = $2 AND state = 'in_progress' AND locked_until = $3",
                )
                .bind(scope)
                .bind(key)
                .bind(crate::model::truncate_micros(lease_until))
                .bind(i32::from(response.status))
                .bind(response.content_type.as_deref())
                .bind(response.location.as_deref())
                .bind(response.body.as_slice())
                .bind(crate::model::truncate_micros(expires_at))
                .execute(self.pool())
                .await?
                .rows_affected();
                Ok(stored == 1)
            }

            #[tracing::instrument(skip(self, key), level = "debug")]
            async fn idempotency_abandon(
                &self,
                scope: &str,
                key: &str,
                lease_until: DateTime<Utc>,
            ) -> StoreResult<()> {
                sqlx::query(
                    "DELETE FROM idempotency_keys \
                     WHERE scope = $1 AND key = $2 AND state = 'in_progress' AND locked_until = $3",
                )
                .bind(scope)
                .bind(key)
                .bind(crate::model::truncate_micros(lease_until))
                .execute(self.pool())
                .await?;
                Ok(())
            }

            #[tracing::instrument(skip(self), level = "debug")]
            async fn idempotency_prune(&self, now: DateTime<Utc>) -> StoreResult<u64> {
                Ok(sqlx::query("DELETE FROM idempotency_keys WHERE expires_at <= $1")
                    .bind(crate::model::truncate_micros(now))
                    .execute(self.pool())
                    .await?
                    .rows_affected())
            }
        }
    };
}

idempotency_impl!(crate::postgres::PgStore);
idempotency_impl!(crate::sqlite::SqliteStore);
