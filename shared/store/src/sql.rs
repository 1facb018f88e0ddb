//! The SQL both backends share. PostgreSQL and SQLite accept the same
//! `$n` placeholders, `ON CONFLICT`, `RETURNING` and row values, so the
//! catalog is written once here as a macro expanded in each backend module.
//! What differs is supplied by the module: `begin_write()` (a plain `BEGIN`
//! on PostgreSQL, `BEGIN IMMEDIATE` on SQLite so a read-modify-write
//! transaction holds the write lock from its first statement) and
//! `FOR_UPDATE` (row locks exist only on PostgreSQL).

use chrono::{DateTime, Utc};
use sqlx::{ColumnIndex, Decode, Row, Type};
use uuid::Uuid;

use crate::{Currency, Event, EventStatus, StoreError, StoreResult, TicketType};

pub(crate) const EVENT_COLS: &str = "id, organizer_id, title, description, venue, city, category, \
     timezone, image_url, starts_at, ends_at, status, created_at, updated_at, published_at, hold_minutes, refund_cutoff_hours";

pub(crate) const USER_COLS: &str = "id, iss, sub, email, name, phone, notify_email, notify_sms, \
     language, status, created_at, (email_verified_at IS NOT NULL) AS email_verified";

pub(crate) fn user_from_row<'r, R>(row: &'r R) -> StoreResult<crate::User>
where
    R: Row,
    &'r str: ColumnIndex<R>,
    Uuid: Decode<'r, R::Database> + Type<R::Database>,
    String: Decode<'r, R::Database> + Type<R::Database>,
    bool: Decode<'r, R::Database> + Type<R::Database>,
    DateTime<Utc>: Decode<'r, R::Database> + Type<R::Database>,
{
    let status: String = row.try_get("status")?;
    Ok(crate::User {
        id: row.try_get("id")?,
        iss: row.try_get("iss")?,
        sub: row.try_get("sub")?,
        email: row.try_get("email")?,
        name: row.try_get("name")?,
        phone: row.try_get("phone")?,
        notify_email: row.try_get("notify_email")?,
        notify_sms: row.try_get("notify_sms")?,
        language: row.try_get("language")?,
        status: crate::UserStatus::parse(&status)
            .ok_or_else(|| StoreError::Corrupt(format!("user status {status:?}")))?,
        roles: Vec::new(),
        created_at: row.try_get("created_at")?,
        email_verified: row.try_get("email_verified")?,
    })
}

pub(crate) fn application_from_row<'r, R>(row: &'r R) -> StoreResult<crate::OrganizerApplication>
where
    R: Row,
    &'r str: ColumnIndex<R>,
    Uuid: Decode<'r, R::Database> + Type<R::Database>,
    String: Decode<'r, R::Database> + Type<R::Database>,
    DateTime<Utc>: Decode<'r, R::Database> + Type<R::Database>,
{
    let status: String = row.try_get("status")?;
    Ok(crate::OrganizerApplication {
        id: row.try_get("id")?,
        user_id: row.try_get("user_id")?,
        status: crate::ApplicationStatus::parse(&status)
            .ok_or_else(|| StoreError::Corrupt(format!("application status {status:?}")))?,
        note: row.try_get("note")?,
        created_at: row.try_get("created_at")?,
        decided_at: row.try_get("decided_at")?,
        decided_by: row.try_get("decided_by")?,
    })
}

pub(crate) const TICKET_TYPE_COLS: &str = "id, event_id, name, price_cents, currency, capacity, \
     sold, held, max_per_order, sales_start, sales_end, created_at";

pub(crate) fn event_from_row<'r, R>(row: &'r R) -> StoreResult<Event>
where
    R: Row,
    &'r str: ColumnIndex<R>,
    Uuid: Decode<'r, R::Database> + Type<R::Database>,
    String: Decode<'r, R::Database> + Type<R::Database>,
    DateTime<Utc>: Decode<'r, R::Database> + Type<R::Database>,
    i32: Decode<'r, R::Database> + Type<R::Database>,
{
    let status: String = row.try_get("status")?;
    Ok(Event {
        id: row.try_get("id")?,
        organizer_id: row.try_get("organizer_id")?,
        title: row.try_get("title")?,
        description: row.try_get("description")?,
        venue: row.try_get("venue")?,
        city: row.try_get("city")?,
        category: row.try_get("category")?,
        timezone: row.try_get("timezone")?,
        image_url: row.try_get("image_url")?,
        starts_at: row.try_get("starts_at")?,
        ends_at: row.try_get("ends_at")?,
        status: EventStatus::parse(&status)
            .ok_or_else(|| StoreError::Corrupt(format!("event status {status:?}")))?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
        published_at: row.try_get("published_at")?,
        hold_minutes: row.try_get("hold_minutes")?,
        refund_cutoff_hours: row.try_get("refund_cutoff_hours")?,
        ticket_types: Vec::new(),
    })
}

/// Column names of a ticket type row: plain, or prefixed `t_` when joined
/// to its event.
pub(crate) const TT_PLAIN: [&str; 12] = [
    "id",
    "event_id",
    "name",
    "price_cents",
    "currency",
    "capacity",
    "sold",
    "held",
    "max_per_order",
    "sales_start",
    "sales_end",
    "created_at",
];
pub(crate) const TT_JOINED: [&str; 12] = [
    "t_id",
    "t_event_id",
    "t_name",
    "t_price_cents",
    "t_currency",
    "t_capacity",
    "t_sold",
    "t_held",
    "t_max_per_order",
    "t_sales_start",
    "t_sales_end",
    "t_created_at",
];

/// Events joined to their ticket types in one round trip.
pub(crate) const EVENT_JOIN_SELECT: &str = "SELECT e.id, e.organizer_id, e.title, e.description, \
     e.venue, e.city, e.category, e.timezone, e.image_url, e.starts_at, e.ends_at, e.status, \
     e.created_at, e.updated_at, e.published_at, e.hold_minutes, e.refund_cutoff_hours, t.id AS t_id, t.event_id AS t_event_id, \
     t.name AS t_name, t.price_cents AS t_price_cents, t.currency AS t_currency, \
     t.capacity AS t_capacity, t.sold AS t_sold, t.held AS t_held, \
     t.max_per_order AS t_max_per_order, t.sales_start AS t_sales_start, \
     t.sales_end AS t_sales_end, t.created_at AS t_created_at \
     FROM events e LEFT JOIN ticket_types t ON t.event_id = e.id";

pub(crate) fn ticket_type_from_row<'r, R>(row: &'r R) -> StoreResult<TicketType>
where
    R: Row,
    &'r str: ColumnIndex<R>,
    Uuid: Decode<'r, R::Database> + Type<R::Database>,
    String: Decode<'r, R::Database> + Type<R::Database>,
    i64: Decode<'r, R::Database> + Type<R::Database>,
    i32: Decode<'r, R::Database> + Type<R::Database>,
    DateTime<Utc>: Decode<'r, R::Database> + Type<R::Database>,
{
    ticket_type_from_cols(row, &TT_PLAIN)?.ok_or(StoreError::NotFound("ticket type"))
}

/// A ticket type from the named columns; `None` when the id is NULL (an
/// event without ticket types in a LEFT JOIN).
pub(crate) fn ticket_type_from_cols<'r, R>(
    row: &'r R,
    c: &[&'static str; 12],
) -> StoreResult<Option<TicketType>>
where
    R: Row,
    &'r str: ColumnIndex<R>,
    Uuid: Decode<'r, R::Database> + Type<R::Database>,
    String: Decode<'r, R::Database> + Type<R::Database>,
    i64: Decode<'r, R::Database> + Type<R::Database>,
    i32: Decode<'r, R::Database> + Type<R::Database>,
    DateTime<Utc>: Decode<'r, R::Database> + Type<R::Database>,
{
    let Some(id) = row.try_get::<Option<Uuid>, _>(c[0])? else {
        return Ok(None);
    };
    let currency: String = row.try_get(c[4])?;
    Ok(Some(TicketType {
        id,
        event_id: row.try_get(c[1])?,
        name: row.try_get(c[2])?,
        price_cents: row.try_get(c[3])?,
        currency: Currency::parse(&currency)
            .ok_or_else(|| StoreError::Corrupt(format!("currency {currency:?}")))?,
        capacity: row.try_get(c[5])?,
        sold: row.try_get(c[6])?,
        held: row.try_get(c[7])?,
        max_per_order: row.try_get(c[8])?,
        sales_start: row.try_get(c[9])?,
        sales_end: row.try_get(c[10])?,
        created_at: row.try_get(c[11])?,
    }))
}

/// Maps a unique-constraint violation to a client-facing conflict.
pub(crate) fn on_unique(e: sqlx::Error, code: &'static str, detail: &str) -> StoreError {
    match &e {
        sqlx::Error::Database(db) if db.is_unique_violation() => StoreError::conflict(code, detail),
        _ => e.into(),
    }
}

/// Expands to `impl Store for $store` with everything but the
/// backend-specific methods, which are passed in `{ ... }`.
macro_rules! store_impl {
    ($store:ty, $db:ty, { $($backend_specific:tt)* }) => {
        #[async_trait::async_trait]
        impl $crate::Store for $store {
            $($backend_specific)*

            // ---- identity ----

            #[tracing::instrument(skip(self, u), level = "debug")]
            async fn create_local_user(&self, u: &$crate::NewLocalUser) -> $crate::StoreResult<$crate::User> {
                let mut tx = self.begin_write().await?;
                let id = uuid::Uuid::now_v7();
                let now = $crate::model::now();
                sqlx::query(
                    "INSERT INTO users (id, iss, sub, email, name, password_hash, created_at, updated_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $7)",
                )
                .bind(id)
                .bind(&u.iss)
                .bind(id.to_string())
                .bind(&u.email)
                .bind(&u.name)
                .bind(&u.password_hash)
                .bind(now)
                .execute(&mut *tx)
                .await
                .map_err(|e| $crate::sql::on_unique(e, "email_taken", "an account with this email already exists"))?;
                for role in &u.roles {
                    sqlx::query("INSERT INTO user_roles (user_id, role) VALUES ($1, $2) ON CONFLICT DO NOTHING")
                        .bind(id)
                        .bind(role.as_str())
                        .execute(&mut *tx)
                        .await?;
                }
                let user = Self::user_where(&mut tx, "id = $1", id).await?.ok_or($crate::StoreError::NotFound("user"))?;
                tx.commit().await?;
                Ok(user)
            }

            #[tracing::instrument(skip(self, email), level = "debug")]
            async fn local_credentials(&self, iss: &str, email: &str) -> $crate::StoreResult<Option<($crate::User, String)>> {
                let row: Option<(uuid::Uuid, String)> = sqlx::query_as(
                    "SELECT id, password_hash FROM users WHERE iss = $1 AND lower(email) = lower($2) AND password_hash IS NOT NULL",
                )
                .bind(iss)
                .bind(email)
                .fetch_optional(&self.pool)
                .await?;
                match row {
                    None => Ok(None),
                    Some((id, hash)) => Ok(Some((self.get_user(id).await?, hash))),
                }
            }

            #[tracing::instrument(skip(self), level = "debug")]
            async fn set_password_hash(&self, id: uuid::Uuid, hash: &str) -> $crate::StoreResult<()> {
                sqlx::query("UPDATE users SET password_hash = $2, updated_at = $3 WHERE id = $1")
                    .bind(id)
                    .bind(hash)
                    .bind($crate::model::now())
                    .execute(&self.pool)
                    .await?;
                Ok(())
            }

            #[tracing::instrument(skip(self), level = "debug")]
            async fn find_user(&self, iss: &str, sub: &str) -> $crate::StoreResult<Option<$crate::User>> {
                let mut conn = self.pool.acquire().await?;
                let Some((id,)): Option<(uuid::Uuid,)> = sqlx::query_as("SELECT id FROM users WHERE iss = $1 AND sub = $2")
                    .bind(iss)
                    .bind(sub)
                    .fetch_optional(&mut *conn)
                    .await?
                else {
                    return Ok(None);
                };
                Self::user_where(&mut conn, "id = $1", id).await
            }

            #[tracing::instrument(skip(self, patch), level = "debug")]
            async fn update_profile(&self, id: uuid::Uuid, patch: &$crate::ProfilePatch) -> $crate::StoreResult<$crate::User> {
                let mut tx = self.begin_write().await?;
                let mut user = Self::user_where(&mut tx, &format!("id = $1{}", FOR_UPDATE), id)
                    .await?
                    .ok_or($crate::StoreError::NotFound("user"))?;
                if let Some(name) = &patch.name { user.name = name.clone(); }
                if let Some(phone) = &patch.phone { user.phone = phone.clone(); }
                if let Some(v) = patch.notify_email { user.notify_email = v; }
                if let Some(v) = patch.notify_sms { user.notify_sms = v; }
                if let Some(v) = &patch.language { user.language = v.clone(); }
                if user.notify_sms && user.phone.is_none() {
                    return Err($crate::StoreError::Invalid { field: "notify_sms", message: "needs a phone number".into() });
                }
                sqlx::query("UPDATE users SET name = $2, phone = $3, notify_email = $4, notify_sms = $5, updated_at = $6, language = $7 WHERE id = $1")
                    .bind(id)
                    .bind(&user.name)
                    .bind(&user.phone)
                    .bind(user.notify_email)
                    .bind(user.notify_sms)
                    .bind($crate::model::now())
                    .bind(&user.language)
                    .execute(&mut *tx)
                    .await?;
                tx.commit().await?;
                Ok(user)
            }

            #[tracing::instrument(skip(self), level = "debug")]
            async fn set_roles(&self, id: uuid::Uuid, roles: &[$crate::Role], actor: Option<uuid::Uuid>) -> $crate::StoreResult<$crate::User> {
                let mut tx = self.begin_write().await?;
                let before = Self::user_where(&mut tx, &format!("id = $1{}", FOR_UPDATE), id)
                    .await?
                    .ok_or($crate::StoreError::NotFound("user"))?;
                sqlx::query("DELETE FROM user_roles WHERE user_id = $1").bind(id).execute(&mut *tx).await?;
                let mut all: Vec<$crate::Role> = roles.to_vec();
                all.push($crate::Role::User);
                all.sort();
                all.dedup();
                for role in &all {
                    sqlx::query("INSERT INTO user_roles (user_id, role) VALUES ($1, $2)")
                        .bind(id)
                        .bind(role.as_str())
                        .execute(&mut *tx)
                        .await?;
                }
                let names = |r: &[$crate::Role]| r.iter().map(|r| r.as_str()).collect::<Vec<_>>();
                Self::audit_in(&mut tx, actor, "user.roles_set", &format!("user:{id}"),
                    &serde_json::json!({"before": names(&before.roles), "after": names(&all)})).await?;
                let user = Self::user_where(&mut tx, "id = $1", id).await?.ok_or($crate::StoreError::NotFound("user"))?;
                tx.commit().await?;
                Ok(user)
            }

            #[tracing::instrument(skip(self), level = "debug")]
            async fn set_user_status(&self, id: uuid::Uuid, status: $crate::UserStatus, actor: Option<uuid::Uuid>) -> $crate::StoreResult<$crate::User> {
                let mut tx = self.begin_write().await?;
                let now = $crate::model::now();
                let n = sqlx::query("UPDATE users SET status = $2, updated_at = $3 WHERE id = $1")
                    .bind(id)
                    .bind(status.as_str())
                    .bind(now)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
                if n == 0 {
                    return Err($crate::StoreError::NotFound("user"));
                }
                if status == $crate::UserStatus::Suspended {
                    // Suspending ends every session at once.
                    sqlx::query("UPDATE refresh_tokens SET revoked_at = $2 WHERE user_id = $1 AND revoked_at IS NULL")
                        .bind(id)
                        .bind(now)
                        .execute(&mut *tx)
                        .await?;
                }
                Self::audit_in(&mut tx, actor, "user.status_set", &format!("user:{id}"), &serde_json::json!({"status": status.as_str()})).await?;
                let user = Self::user_where(&mut tx, "id = $1", id).await?.ok_or($crate::StoreError::NotFound("user"))?;
                tx.commit().await?;
                Ok(user)
            }

            #[tracing::instrument(skip(self), level = "debug")]
            async fn list_users(&self, after: Option<uuid::Uuid>, limit: u32) -> $crate::StoreResult<Vec<$crate::User>> {
                let mut conn = self.pool.acquire().await?;
                let sql = format!(
                    "SELECT {} FROM users WHERE iss <> $1{} ORDER BY id LIMIT {}",
                    $crate::sql::USER_COLS,
                    if after.is_some() { " AND id > $2" } else { "" },
                    i64::from(limit) + 1
                );
                let mut q = sqlx::query(&sql).bind("urn:ticketgw:config");
                if let Some(a) = after {
                    q = q.bind(a);
                }
                let rows = q.fetch_all(&mut *conn).await?;
                let mut users = Vec::with_capacity(rows.len());
                for row in &rows {
                    let mut u = $crate::sql::user_from_row(row)?;
                    u.roles = Self::roles_of(&mut conn, u.id).await?;
                    users.push(u);
                }
                Ok(users)
            }

            #[tracing::instrument(skip(self, t), level = "debug")]
            async fn insert_refresh_token(&self, t: &$crate::NewRefreshToken) -> $crate::StoreResult<()> {
                sqlx::query(
                    "INSERT INTO refresh_tokens (id, family_id, user_id, token_hash, created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6)",
                )
                .bind(t.id)
                .bind(t.family_id)
                .bind(t.user_id)
                .bind(&t.token_hash)
                .bind(t.created_at)
                .bind(t.expires_at)
                .execute(&self.pool)
                .await?;
                Ok(())
            }

            #[tracing::instrument(skip(self, presented_hash, next), level = "debug")]
            async fn rotate_refresh_token(
                &self,
                presented_hash: &[u8],
                next: &$crate::NewRefreshToken,
                now: chrono::DateTime<chrono::Utc>,
            ) -> $crate::StoreResult<$crate::RefreshOutcome> {
                let mut tx = self.begin_write().await?;
                let sql = format!(
                    "SELECT t.family_id, t.user_id, t.expires_at, t.used_at, t.revoked_at, u.status \
                     FROM refresh_tokens t JOIN users u ON u.id = t.user_id WHERE t.token_hash = $1{}",
                    if FOR_UPDATE.is_empty() { "" } else { " FOR UPDATE OF t" }
                );
                type Row = (uuid::Uuid, uuid::Uuid, chrono::DateTime<chrono::Utc>, Option<chrono::DateTime<chrono::Utc>>, Option<chrono::DateTime<chrono::Utc>>, String);
                let row: Option<Row> = sqlx::query_as(&sql).bind(presented_hash).fetch_optional(&mut *tx).await?;
                let Some((family_id, user_id, expires_at, used_at, revoked_at, status)) = row else {
                    return Ok($crate::RefreshOutcome::Invalid);
                };
                if revoked_at.is_some() {
                    return Ok($crate::RefreshOutcome::Invalid);
                }
                if used_at.is_some() {
                    // A spent token came back: it was stolen or replayed. End the family.
                    sqlx::query("UPDATE refresh_tokens SET revoked_at = $2 WHERE family_id = $1 AND revoked_at IS NULL")
                        .bind(family_id)
                        .bind(now)
                        .execute(&mut *tx)
                        .await?;
                    Self::audit_in(&mut tx, Some(user_id), "session.refresh_reuse", &format!("session:{family_id}"), &serde_json::json!({})).await?;
                    tx.commit().await?;
                    return Ok($crate::RefreshOutcome::Reused { family_id });
                }
                if expires_at <= now || status != "active" {
                    return Ok($crate::RefreshOutcome::Invalid);
                }
                sqlx::query("UPDATE refresh_tokens SET used_at = $2 WHERE token_hash = $1 AND used_at IS NULL")
                    .bind(presented_hash)
                    .bind(now)
                    .execute(&mut *tx)
                    .await?;
                sqlx::query(
                    "INSERT INTO refresh_tokens (id, family_id, user_id, token_hash, created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6)",
                )
                .bind(next.id)
                .bind(family_id)
                .bind(user_id)
                .bind(&next.token_hash)
                .bind(next.created_at)
                .bind(next.expires_at)
                .execute(&mut *tx)
                .await?;
                tx.commit().await?;
                Ok($crate::RefreshOutcome::Rotated { user_id, family_id })
            }

            #[tracing::instrument(skip(self, presented_hash), level = "debug")]
            async fn revoke_refresh_family(&self, presented_hash: &[u8], now: chrono::DateTime<chrono::Utc>) -> $crate::StoreResult<bool> {
                let mut tx = self.begin_write().await?;
                let fam: Option<(uuid::Uuid,)> = sqlx::query_as("SELECT family_id FROM refresh_tokens WHERE token_hash = $1")
                    .bind(presented_hash)
                    .fetch_optional(&mut *tx)
                    .await?;
                let Some((family_id,)) = fam else {
                    return Ok(false);
                };
                sqlx::query("UPDATE refresh_tokens SET revoked_at = $2 WHERE family_id = $1 AND revoked_at IS NULL")
                    .bind(family_id)
                    .bind(now)
                    .execute(&mut *tx)
                    .await?;
                tx.commit().await?;
                Ok(true)
            }

            #[tracing::instrument(skip(self), level = "debug")]
            async fn session_active(&self, family_id: uuid::Uuid) -> $crate::StoreResult<bool> {
                let n: (i64,) = sqlx::query_as("SELECT COUNT(*) FROM refresh_tokens WHERE family_id = $1 AND revoked_at IS NULL")
                    .bind(family_id)
                    .fetch_one(&self.pool)
                    .await?;
                Ok(n.0 > 0)
            }

            #[tracing::instrument(skip(self), level = "debug")]
            async fn signing_keys(&self) -> $crate::StoreResult<Vec<$crate::SigningKey>> {
                type Row = (String, String, Vec<u8>, String, chrono::DateTime<chrono::Utc>, Option<chrono::DateTime<chrono::Utc>>);
                let rows: Vec<Row> = sqlx::query_as(
                    "SELECT kid, alg, private_der, public_jwk, created_at, retired_at FROM signing_keys ORDER BY created_at, kid",
                )
                .fetch_all(&self.pool)
                .await?;
                Ok(rows
                    .into_iter()
                    .map(|(kid, alg, private_der, public_jwk, created_at, retired_at)| $crate::SigningKey {
                        kid, alg, private_der, public_jwk, created_at, retired_at,
                    })
                    .collect())
            }

            #[tracing::instrument(skip(self, k), level = "debug")]
            async fn insert_signing_key(&self, k: &$crate::SigningKey) -> $crate::StoreResult<()> {
                sqlx::query(
                    "INSERT INTO signing_keys (kid, alg, private_der, public_jwk, created_at, retired_at) VALUES ($1, $2, $3, $4, $5, $6)",
                )
                .bind(&k.kid)
                .bind(&k.alg)
                .bind(&k.private_der)
                .bind(&k.public_jwk)
                .bind(k.created_at)
                .bind(k.retired_at)
                .execute(&self.pool)
                .await?;
                Ok(())
            }

            #[tracing::instrument(skip(self), level = "debug")]
            async fn hit_counter(&self, key: &str, window_start: chrono::DateTime<chrono::Utc>) -> $crate::StoreResult<i64> {
                let (hits,): (i64,) = sqlx::query_as(
                    "INSERT INTO rate_counters (key, window_start, hits) VALUES ($1, $2, 1) \
                     ON CONFLICT (key, window_start) DO UPDATE SET hits = rate_counters.hits + 1 RETURNING hits",
                )
                .bind(key)
                .bind(window_start)
                .fetch_one(&self.pool)
                .await?;
                Ok(hits)
            }

            #[tracing::instrument(skip(self), level = "debug")]
            async fn login_failures(&self, key: &str) -> $crate::StoreResult<Option<(i64, chrono::DateTime<chrono::Utc>)>> {
                Ok(sqlx::query_as("SELECT failures, last_at FROM login_failures WHERE key = $1")
                    .bind(key)
                    .fetch_optional(&self.pool)
                    .await?)
            }

            #[tracing::instrument(skip(self), level = "debug")]
            async fn record_login_failure(&self, key: &str, now: chrono::DateTime<chrono::Utc>) -> $crate::StoreResult<i64> {
                let (n,): (i64,) = sqlx::query_as(
                    "INSERT INTO login_failures (key, failures, last_at) VALUES ($1, 1, $2) \
                     ON CONFLICT (key) DO UPDATE SET failures = login_failures.failures + 1, last_at = $2 RETURNING failures",
                )
                .bind(key)
                .bind($crate::model::truncate_micros(now))
                .fetch_one(&self.pool)
                .await?;
                Ok(n)
            }

            #[tracing::instrument(skip(self), level = "debug")]
            async fn clear_login_failures(&self, key: &str) -> $crate::StoreResult<()> {
                sqlx::query("DELETE FROM login_failures WHERE key = $1").bind(key).execute(&self.pool).await?;
                Ok(())
            }

            #[tracing::instrument(skip(self, note), level = "debug")]
            async fn apply_for_organizer(&self, user_id: uuid::Uuid, note: &str) -> $crate::StoreResult<$crate::OrganizerApplication> {
                let mut tx = self.begin_write().await?;
                let roles = Self::roles_of(&mut tx, user_id).await?;
                if roles.contains(&$crate::Role::Organizer) {
                    return Err($crate::StoreError::conflict("already_organizer", "you already have the organizer role"));
                }
                let id = uuid::Uuid::now_v7();
                sqlx::query("INSERT INTO organizer_applications (id, user_id, status, note, created_at) VALUES ($1, $2, 'pending', $3, $4)")
                    .bind(id)
                    .bind(user_id)
                    .bind(note)
                    .bind($crate::model::now())
                    .execute(&mut *tx)
                    .await
                    .map_err(|e| $crate::sql::on_unique(e, "application_pending", "you already have a pending application"))?;
                let app = Self::application_row(&mut tx, id, None).await?;
                tx.commit().await?;
                Ok(app)
            }

            #[tracing::instrument(skip(self), level = "debug")]
            async fn list_applications(
                &self,
                status: Option<$crate::ApplicationStatus>,
                after: Option<uuid::Uuid>,
                limit: u32,
            ) -> $crate::StoreResult<Vec<$crate::OrganizerApplication>> {
                let mut qb = sqlx::QueryBuilder::<$db>::new(
                    "SELECT id, user_id, status, note, created_at, decided_at, decided_by FROM organizer_applications WHERE 1 = 1",
                );
                if let Some(s) = status {
                    qb.push(" AND status = ").push_bind(s.as_str());
                }
                if let Some(a) = after {
                    qb.push(" AND id > ").push_bind(a);
                }
                qb.push(" ORDER BY id LIMIT ").push_bind(i64::from(limit) + 1);
                let rows = qb.build().fetch_all(&self.pool).await?;
                rows.iter().map($crate::sql::application_from_row).collect()
            }

            #[tracing::instrument(skip(self), level = "debug")]
            async fn decide_application(
                &self,
                id: uuid::Uuid,
                approve: bool,
                admin: uuid::Uuid,
            ) -> $crate::StoreResult<$crate::OrganizerApplication> {
                let mut tx = self.begin_write().await?;
                let app = Self::application_row(&mut tx, id, Some(FOR_UPDATE)).await?;
                if app.status != $crate::ApplicationStatus::Pending {
                    return Err($crate::StoreError::conflict("application_decided", "this application has already been decided"));
                }
                let status = if approve { $crate::ApplicationStatus::Approved } else { $crate::ApplicationStatus::Rejected };
                sqlx::query("UPDATE organizer_applications SET status = $2, decided_at = $3, decided_by = $4 WHERE id = $1")
                    .bind(id)
                    .bind(status.as_str())
                    .bind($crate::model::now())
                    .bind(admin)
                    .execute(&mut *tx)
                    .await?;
                if approve {
                    sqlx::query("INSERT INTO user_roles (user_id, role) VALUES ($1, 'organizer') ON CONFLICT DO NOTHING")
                        .bind(app.user_id)
                        .execute(&mut *tx)
                        .await?;
                }
                Self::audit_in(&mut tx, Some(admin), if approve { "organizer_application.approved" } else { "organizer_application.rejected" },
                    &format!("user:{}", app.user_id), &serde_json::json!({"application_id": id})).await?;
                let app = Self::application_row(&mut tx, id, None).await?;
                tx.commit().await?;
                Ok(app)
            }

            #[tracing::instrument(skip(self, details), level = "debug")]
            async fn append_audit(&self, actor: Option<uuid::Uuid>, action: &str, target: &str, details: &serde_json::Value) -> $crate::StoreResult<()> {
                let mut conn = self.pool.acquire().await?;
                Self::audit_in(&mut conn, actor, action, target, details).await
            }

            #[tracing::instrument(skip(self), level = "debug")]
            async fn list_audit(&self, after: Option<uuid::Uuid>, limit: u32) -> $crate::StoreResult<Vec<$crate::AuditEntry>> {
                type Row = (uuid::Uuid, Option<uuid::Uuid>, String, String, String, chrono::DateTime<chrono::Utc>);
                let sql = format!(
                    "SELECT id, actor_id, action, target, details, created_at FROM audit_log{} ORDER BY id DESC LIMIT {}",
                    if after.is_some() { " WHERE id < $1" } else { "" },
                    i64::from(limit) + 1
                );
                let mut q = sqlx::query_as::<_, Row>(&sql);
                if let Some(a) = after {
                    q = q.bind(a);
                }
                let rows = q.fetch_all(&self.pool).await?;
                Ok(rows
                    .into_iter()
                    .map(|(id, actor_id, action, target, details, created_at)| $crate::AuditEntry {
                        id,
                        actor_id,
                        action,
                        target,
                        details: serde_json::from_str(&details).unwrap_or(serde_json::Value::Null),
                        created_at,
                    })
                    .collect())
            }

            #[tracing::instrument(skip(self), level = "debug")]
            async fn get_meta(&self, key: &str) -> $crate::StoreResult<Option<String>> {
                let v: Option<(String,)> = sqlx::query_as("SELECT value FROM meta WHERE key = $1")
                    .bind(key)
                    .fetch_optional(&self.pool)
                    .await?;
                Ok(v.map(|(v,)| v))
            }

            #[tracing::instrument(skip(self), level = "debug")]
            async fn claim_meta(&self, key: &str, value: &str) -> $crate::StoreResult<bool> {
                let r = sqlx::query("INSERT INTO meta (key, value) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING")
                    .bind(key)
                    .bind(value)
                    .execute(&self.pool)
                    .await?;
                Ok(r.rows_affected() == 1)
            }

            #[tracing::instrument(skip(self), level = "debug")]
            async fn upsert_user(&self, user: &$crate::NewUser) -> $crate::StoreResult<$crate::User> {
                let mut tx = self.begin_write().await?;
                sqlx::query(
                    "INSERT INTO users (id, iss, sub, email, name, created_at) VALUES ($1, $2, $3, $4, $5, $6) \
                     ON CONFLICT (iss, sub) DO NOTHING",
                )
                .bind(uuid::Uuid::now_v7())
                .bind(&user.iss)
                .bind(&user.sub)
                .bind(&user.email)
                .bind(&user.name)
                .bind($crate::model::now())
                .execute(&mut *tx)
                .await?;
                let (id,): (uuid::Uuid,) = sqlx::query_as("SELECT id FROM users WHERE iss = $1 AND sub = $2")
                    .bind(&user.iss)
                    .bind(&user.sub)
                    .fetch_one(&mut *tx)
                    .await?;
                for role in &user.roles {
                    sqlx::query("INSERT INTO user_roles (user_id, role) VALUES ($1, $2) ON CONFLICT DO NOTHING")
                        .bind(id)
                        .bind(role.as_str())
                        .execute(&mut *tx)
                        .await?;
                }
                tx.commit().await?;
                self.get_user(id).await
            }

            #[tracing::instrument(skip(self), level = "debug")]
            async fn get_user(&self, id: uuid::Uuid) -> $crate::StoreResult<$crate::User> {
                let mut conn = self.pool.acquire().await?;
                Self::user_where(&mut conn, "id = $1", id).await?.ok_or($crate::StoreError::NotFound("user"))
            }

            #[tracing::instrument(skip(self, event), level = "debug")]
            async fn create_event(&self, organizer_id: uuid::Uuid, event: &$crate::NewEvent) -> $crate::StoreResult<$crate::Event> {
                let id = uuid::Uuid::now_v7();
                let now = $crate::model::now();
                sqlx::query(
                    "INSERT INTO events (id, organizer_id, title, description, venue, city, category, timezone, \
                     image_url, starts_at, ends_at, status, created_at, updated_at, hold_minutes, refund_cutoff_hours) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, 'draft', $12, $12, $13, $14)",
                )
                .bind(id)
                .bind(organizer_id)
                .bind(&event.title)
                .bind(&event.description)
                .bind(&event.venue)
                .bind(&event.city)
                .bind(&event.category)
                .bind(&event.timezone)
                .bind(&event.image_url)
                .bind(event.starts_at)
                .bind(event.ends_at)
                .bind(now)
                .bind(event.hold_minutes)
                .bind(event.refund_cutoff_hours)
                .execute(&self.pool)
                .await?;
                self.get_event(id, $crate::Scope::All).await
            }

            #[tracing::instrument(skip(self), level = "debug")]
            async fn get_event(&self, id: uuid::Uuid, scope: $crate::Scope) -> $crate::StoreResult<$crate::Event> {
                // One round trip: the event joined to its ticket types.
                let sql = format!(
                    "{} WHERE e.id = $1{} ORDER BY t.created_at, t.id",
                    $crate::sql::EVENT_JOIN_SELECT,
                    if scope.owner().is_some() { " AND e.organizer_id = $2" } else { "" },
                );
                let mut q = sqlx::query(&sql).bind(id);
                if let Some(owner) = scope.owner() {
                    q = q.bind(owner);
                }
                let mut conn = self.pool.acquire().await?;
                let rows = q.fetch_all(&mut *conn).await?;
                let first = rows.first().ok_or($crate::StoreError::NotFound("event"))?;
                let mut event = $crate::sql::event_from_row(first)?;
                for row in &rows {
                    if let Some(tt) = $crate::sql::ticket_type_from_cols(row, &$crate::sql::TT_JOINED)? {
                        event.ticket_types.push(tt);
                    }
                }
                Self::discount_lapsed(&mut conn, std::slice::from_mut(&mut event)).await?;
                Ok(event)
            }

            #[tracing::instrument(skip(self, patch), level = "debug")]
            async fn update_event(&self, id: uuid::Uuid, scope: $crate::Scope, patch: &$crate::EventPatch) -> $crate::StoreResult<$crate::Event> {
                let mut tx = self.begin_write().await?;
                let mut event = Self::event_row(&mut tx, id, scope, true).await?;
                if event.status == $crate::EventStatus::Cancelled {
                    return Err($crate::StoreError::conflict("event_cancelled", "a cancelled event cannot be changed"));
                }
                patch.apply(&mut event);
                if event.ends_at <= event.starts_at {
                    return Err($crate::StoreError::Invalid { field: "ends_at", message: "must be after starts_at".into() });
                }
                sqlx::query(
                    "UPDATE events SET title = $2, description = $3, venue = $4, city = $5, category = $6, \
                     timezone = $7, image_url = $8, starts_at = $9, ends_at = $10, updated_at = $11, hold_minutes = $12, refund_cutoff_hours = $13 WHERE id = $1",
                )
                .bind(id)
                .bind(&event.title)
                .bind(&event.description)
                .bind(&event.venue)
                .bind(&event.city)
                .bind(&event.category)
                .bind(&event.timezone)
                .bind(&event.image_url)
                .bind(event.starts_at)
                .bind(event.ends_at)
                .bind($crate::model::now())
                .bind(event.hold_minutes)
                .bind(event.refund_cutoff_hours)
                .execute(&mut *tx)
                .await?;
                tx.commit().await?;
                self.get_event(id, scope).await
            }

            #[tracing::instrument(skip(self, tt), level = "debug")]
            async fn add_ticket_type(&self, event_id: uuid::Uuid, scope: $crate::Scope, tt: &$crate::NewTicketType) -> $crate::StoreResult<$crate::TicketType> {
                let mut tx = self.begin_write().await?;
                let event = Self::event_row(&mut tx, event_id, scope, true).await?;
                if event.status == $crate::EventStatus::Cancelled {
                    return Err($crate::StoreError::conflict("event_cancelled", "a cancelled event cannot be changed"));
                }
                // The first ticket type fixes the event's currency; the row lock
                // (or SQLite's write lock) makes this check race-free.
                let (currency,): (String,) = sqlx::query_as(
                    "UPDATE events SET currency = COALESCE(currency, $2) WHERE id = $1 RETURNING currency",
                )
                .bind(event_id)
                .bind(tt.currency.as_str())
                .fetch_one(&mut *tx)
                .await?;
                if currency.trim() != tt.currency.as_str() {
                    return Err($crate::StoreError::Invalid {
                        field: "currency",
                        message: format!("all ticket types of an event use one currency; this event uses {}", currency.trim()),
                    });
                }
                let id = uuid::Uuid::now_v7();
                sqlx::query(
                    "INSERT INTO ticket_types (id, event_id, name, price_cents, currency, capacity, max_per_order, \
                     sales_start, sales_end, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
                )
                .bind(id)
                .bind(event_id)
                .bind(&tt.name)
                .bind(tt.price_cents)
                .bind(tt.currency.as_str())
                .bind(tt.capacity)
                .bind(tt.max_per_order)
                .bind(tt.sales_start)
                .bind(tt.sales_end)
                .bind($crate::model::now())
                .execute(&mut *tx)
                .await
                .map_err(|e| $crate::sql::on_unique(e, "duplicate_name", "the event already has a ticket type with this name"))?;
                let tt = Self::ticket_type_row(&mut tx, event_id, id, false).await?;
                tx.commit().await?;
                Ok(tt)
            }

            #[tracing::instrument(skip(self, patch), level = "debug")]
            async fn update_ticket_type(&self, event_id: uuid::Uuid, ticket_type_id: uuid::Uuid, scope: $crate::Scope, patch: &$crate::TicketTypePatch) -> $crate::StoreResult<$crate::TicketType> {
                let mut tx = self.begin_write().await?;
                let event = Self::event_row(&mut tx, event_id, scope, true).await?;
                if event.status == $crate::EventStatus::Cancelled {
                    return Err($crate::StoreError::conflict("event_cancelled", "a cancelled event cannot be changed"));
                }
                let mut tt = Self::ticket_type_row(&mut tx, event_id, ticket_type_id, true).await?;
                patch.apply(&mut tt);
                if tt.capacity < tt.sold + tt.held {
                    return Err($crate::StoreError::conflict(
                        "capacity_below_reserved",
                        format!("capacity cannot go below the {} tickets already sold or held", tt.sold + tt.held),
                    ));
                }
                if let (Some(s), Some(e)) = (tt.sales_start, tt.sales_end) {
                    if e <= s {
                        return Err($crate::StoreError::Invalid { field: "sales_end", message: "must be after sales_start".into() });
                    }
                }
                sqlx::query(
                    "UPDATE ticket_types SET name = $3, price_cents = $4, capacity = $5, max_per_order = $6, \
                     sales_start = $7, sales_end = $8 WHERE id = $2 AND event_id = $1",
                )
                .bind(event_id)
                .bind(ticket_type_id)
                .bind(&tt.name)
                .bind(tt.price_cents)
                .bind(tt.capacity)
                .bind(tt.max_per_order)
                .bind(tt.sales_start)
                .bind(tt.sales_end)
                .execute(&mut *tx)
                .await
                .map_err(|e| $crate::sql::on_unique(e, "duplicate_name", "the event already has a ticket type with this name"))?;
                let tt = Self::ticket_type_row(&mut tx, event_id, ticket_type_id, false).await?;
                tx.commit().await?;
                Ok(tt)
            }

            #[tracing::instrument(skip(self), level = "debug")]
            async fn publish_event(&self, id: uuid::Uuid, scope: $crate::Scope, now: chrono::DateTime<chrono::Utc>) -> $crate::StoreResult<$crate::Event> {
                let now = $crate::model::truncate_micros(now);
                let mut tx = self.begin_write().await?;
                let event = Self::event_row(&mut tx, id, scope, true).await?;
                match event.status {
                    $crate::EventStatus::Published => return self.get_event(id, scope).await,
                    $crate::EventStatus::Cancelled => {
                        return Err($crate::StoreError::conflict("event_cancelled", "a cancelled event cannot be published"))
                    }
                    $crate::EventStatus::Draft => {}
                }
                if event.ends_at <= now {
                    return Err($crate::StoreError::conflict("event_ended", "an event that has already ended cannot be published"));
                }
                let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM ticket_types WHERE event_id = $1")
                    .bind(id)
                    .fetch_one(&mut *tx)
                    .await?;
                if n == 0 {
                    return Err($crate::StoreError::conflict("no_ticket_types", "add at least one ticket type before publishing"));
                }
                sqlx::query("UPDATE events SET status = 'published', published_at = $2, updated_at = $2 WHERE id = $1 AND status = 'draft'")
                    .bind(id)
                    .bind(now)
                    .execute(&mut *tx)
                    .await?;
                // The key that signs its tickets, made with the publication
                // so that reading it later never writes.
                Self::event_key(&mut tx, id).await?;
                Self::outbox_raw(&mut tx, "event.published", "/ticketgw/catalog", &format!("events/{id}"), &id.to_string(),
                    &serde_json::json!({"event_id": id, "organizer_id": event.organizer_id, "title": event.title, "starts_at": event.starts_at}), now).await?;
                tx.commit().await?;
                self.get_event(id, scope).await
            }

            #[tracing::instrument(skip(self), level = "debug")]
            async fn cancel_event(&self, id: uuid::Uuid, scope: $crate::Scope, now: chrono::DateTime<chrono::Utc>) -> $crate::StoreResult<$crate::Event> {
                let now = $crate::model::truncate_micros(now);
                let mut tx = self.begin_write().await?;
                let event = Self::event_row(&mut tx, id, scope, true).await?;
                if event.status != $crate::EventStatus::Cancelled {
                    sqlx::query("UPDATE events SET status = 'cancelled', updated_at = $2 WHERE id = $1 AND status <> 'cancelled'")
                        .bind(id)
                        .bind(now)
                        .execute(&mut *tx)
                        .await?;
                    Self::unwind_event_in(&mut tx, id, now).await?;
                    let mut after = event.clone();
                    after.status = $crate::EventStatus::Cancelled;
                    Self::outbox_raw(&mut tx, "event.cancelled", "/ticketgw/catalog", &format!("events/{id}"), &id.to_string(),
                        &serde_json::json!({"event_id": id, "title": after.title, "starts_at": after.starts_at}), now).await?;
                }
                tx.commit().await?;
                self.get_event(id, scope).await
            }

            #[tracing::instrument(skip(self), level = "debug")]
            async fn list_events(&self, f: &$crate::EventFilter) -> $crate::StoreResult<Vec<$crate::Event>> {
                let mut qb = sqlx::QueryBuilder::<$db>::new(format!("SELECT {} FROM events WHERE status = ", $crate::sql::EVENT_COLS));
                qb.push_bind(f.status.as_str());
                qb.push(" AND ends_at > ").push_bind(f.from);
                if let Some(to) = f.to {
                    qb.push(" AND starts_at <= ").push_bind(to);
                }
                if let Some(city) = &f.city {
                    qb.push(" AND lower(city) = ").push_bind(city.to_lowercase());
                }
                if let Some(category) = &f.category {
                    qb.push(" AND lower(category) = ").push_bind(category.to_lowercase());
                }
                if let Some(org) = f.organizer_id {
                    qb.push(" AND organizer_id = ").push_bind(org);
                }
                if let Some(q) = &f.q {
                    let pat = $crate::model::like_pattern(q);
                    qb.push(" AND (");
                    for (i, col) in ["title", "description", "venue", "city"].iter().enumerate() {
                        if i > 0 {
                            qb.push(" OR ");
                        }
                        qb.push(format!("lower({col}) LIKE ")).push_bind(pat.clone()).push(" ESCAPE '\\'");
                    }
                    qb.push(")");
                }
                if let Some((at, id)) = f.after {
                    qb.push(" AND (starts_at > ").push_bind(at);
                    qb.push(" OR (starts_at = ").push_bind(at);
                    qb.push(" AND id > ").push_bind(id).push("))");
                }
                qb.push(" ORDER BY starts_at, id LIMIT ").push_bind(i64::from(f.limit) + 1);
                let mut conn = self.pool.acquire().await?;
                let rows = qb.build().fetch_all(&mut *conn).await?;
                let mut events = rows.iter().map($crate::sql::event_from_row).collect::<Result<Vec<_>, _>>()?;
                let ids: Vec<uuid::Uuid> = events.iter().map(|e| e.id).collect();
                let mut types = Self::ticket_types_of(&mut conn, &ids).await?;
                for e in &mut events {
                    let (mine, rest): (Vec<_>, Vec<_>) = types.into_iter().partition(|t| t.event_id == e.id);
                    e.ticket_types = mine;
                    types = rest;
                }
                Self::discount_lapsed(&mut conn, &mut events).await?;
                Ok(events)
            }
        }

        impl $store {
            /// One user (with roles) matching `cond` on `$1`.
            async fn user_where<T>(
                conn: &mut <$db as sqlx::Database>::Connection,
                cond: &str,
                arg: T,
            ) -> $crate::StoreResult<Option<$crate::User>>
            where
                T: for<'q> sqlx::Encode<'q, $db> + sqlx::Type<$db> + Send,
            {
                let sql = format!("SELECT {} FROM users WHERE {cond}", $crate::sql::USER_COLS);
                let Some(row) = sqlx::query(&sql).bind(arg).fetch_optional(&mut *conn).await? else {
                    return Ok(None);
                };
                let mut user = $crate::sql::user_from_row(&row)?;
                user.roles = Self::roles_of(conn, user.id).await?;
                Ok(Some(user))
            }

            async fn roles_of(
                conn: &mut <$db as sqlx::Database>::Connection,
                id: uuid::Uuid,
            ) -> $crate::StoreResult<Vec<$crate::Role>> {
                let roles: Vec<(String,)> = sqlx::query_as("SELECT role FROM user_roles WHERE user_id = $1")
                    .bind(id)
                    .fetch_all(&mut *conn)
                    .await?;
                let mut roles: Vec<$crate::Role> = roles.iter().filter_map(|(r,)| $crate::Role::parse(r)).collect();
                roles.sort();
                Ok(roles)
            }

            async fn audit_in(
                conn: &mut <$db as sqlx::Database>::Connection,
                actor: Option<uuid::Uuid>,
                action: &str,
                target: &str,
                details: &serde_json::Value,
            ) -> $crate::StoreResult<()> {
                sqlx::query("INSERT INTO audit_log (id, actor_id, action, target, details, created_at) VALUES ($1, $2, $3, $4, $5, $6)")
                    .bind(uuid::Uuid::now_v7())
                    .bind(actor)
                    .bind(action)
                    .bind(target)
                    .bind(details.to_string())
                    .bind($crate::model::now())
                    .execute(&mut *conn)
                    .await?;
                Ok(())
            }

            async fn application_row(
                conn: &mut <$db as sqlx::Database>::Connection,
                id: uuid::Uuid,
                lock: Option<&str>,
            ) -> $crate::StoreResult<$crate::OrganizerApplication> {
                let sql = format!(
                    "SELECT id, user_id, status, note, created_at, decided_at, decided_by FROM organizer_applications WHERE id = $1{}",
                    lock.unwrap_or("")
                );
                let row = sqlx::query(&sql)
                    .bind(id)
                    .fetch_optional(&mut *conn)
                    .await?
                    .ok_or($crate::StoreError::NotFound("organizer application"))?;
                $crate::sql::application_from_row(&row)
            }

            async fn event_row(
                conn: &mut <$db as sqlx::Database>::Connection,
                id: uuid::Uuid,
                scope: $crate::Scope,
                lock: bool,
            ) -> $crate::StoreResult<$crate::Event> {
                let sql = format!(
                    "SELECT {} FROM events WHERE id = $1{}{}",
                    $crate::sql::EVENT_COLS,
                    if scope.owner().is_some() { " AND organizer_id = $2" } else { "" },
                    if lock { FOR_UPDATE } else { "" },
                );
                let mut q = sqlx::query(&sql).bind(id);
                if let Some(owner) = scope.owner() {
                    q = q.bind(owner);
                }
                let row = q.fetch_optional(&mut *conn).await?.ok_or($crate::StoreError::NotFound("event"))?;
                $crate::sql::event_from_row(&row)
            }

            async fn ticket_type_row(
                conn: &mut <$db as sqlx::Database>::Connection,
                event_id: uuid::Uuid,
                id: uuid::Uuid,
                lock: bool,
            ) -> $crate::StoreResult<$crate::TicketType> {
                let sql = format!(
                    "SELECT {} FROM ticket_types WHERE id = $1 AND event_id = $2{}",
                    $crate::sql::TICKET_TYPE_COLS,
                    if lock { FOR_UPDATE } else { "" },
                );
                let row = sqlx::query(&sql)
                    .bind(id)
                    .bind(event_id)
                    .fetch_optional(&mut *conn)
                    .await?
                    .ok_or($crate::StoreError::NotFound("ticket type"))?;
                $crate::sql::ticket_type_from_row(&row)
            }

            /// A lapsed hold never counts as held, even before the expiry
            /// worker has released it: reads discount it.
            async fn discount_lapsed(
                conn: &mut <$db as sqlx::Database>::Connection,
                events: &mut [$crate::Event],
            ) -> $crate::StoreResult<()> {
                let ids: Vec<uuid::Uuid> = events.iter().map(|e| e.id).collect();
                let lapsed = Self::lapsed_held(conn, &ids, $crate::model::now()).await?;
                for (tt_id, n) in lapsed {
                    for tt in events.iter_mut().flat_map(|e| e.ticket_types.iter_mut()) {
                        if tt.id == tt_id {
                            tt.held = (tt.held - n).max(0);
                        }
                    }
                }
                Ok(())
            }

            async fn ticket_types_of(
                conn: &mut <$db as sqlx::Database>::Connection,
                event_ids: &[uuid::Uuid],
            ) -> $crate::StoreResult<Vec<$crate::TicketType>> {
                if event_ids.is_empty() {
                    return Ok(Vec::new());
                }
                let mut qb = sqlx::QueryBuilder::<$db>::new(format!(
                    "SELECT {} FROM ticket_types WHERE event_id IN (",
                    $crate::sql::TICKET_TYPE_COLS
                ));
                let mut sep = qb.separated(", ");
                for id in event_ids {
                    sep.push_bind(*id);
                }
                qb.push(") ORDER BY created_at, id");
                let rows = qb.build().fetch_all(&mut *conn).await?;
                rows.iter().map($crate::sql::ticket_type_from_row).collect()
            }
        }
    };
}

pub(crate) use store_impl;
