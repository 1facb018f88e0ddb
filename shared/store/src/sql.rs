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
     timezone, image_url, starts_at, ends_at, status, created_at, updated_at, published_at";

pub(crate) const TICKET_TYPE_COLS: &str = "id, event_id, name, price_cents, currency, capacity, \
     sold, held, max_per_order, sales_start, sales_end, created_at";

pub(crate) fn event_from_row<'r, R>(row: &'r R) -> StoreResult<Event>
where
    R: Row,
    &'r str: ColumnIndex<R>,
    Uuid: Decode<'r, R::Database> + Type<R::Database>,
    String: Decode<'r, R::Database> + Type<R::Database>,
    DateTime<Utc>: Decode<'r, R::Database> + Type<R::Database>,
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
        ticket_types: Vec::new(),
    })
}

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
    let currency: String = row.try_get("currency")?;
    Ok(TicketType {
        id: row.try_get("id")?,
        event_id: row.try_get("event_id")?,
        name: row.try_get("name")?,
        price_cents: row.try_get("price_cents")?,
        currency: Currency::parse(&currency)
            .ok_or_else(|| StoreError::Corrupt(format!("currency {currency:?}")))?,
        capacity: row.try_get("capacity")?,
        sold: row.try_get("sold")?,
        held: row.try_get("held")?,
        max_per_order: row.try_get("max_per_order")?,
        sales_start: row.try_get("sales_start")?,
        sales_end: row.try_get("sales_end")?,
        created_at: row.try_get("created_at")?,
    })
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
                let row: Option<(uuid::Uuid, String, String, Option<String>, String, chrono::DateTime<chrono::Utc>)> =
                    sqlx::query_as("SELECT id, iss, sub, email, name, created_at FROM users WHERE id = $1")
                        .bind(id)
                        .fetch_optional(&self.pool)
                        .await?;
                let (id, iss, sub, email, name, created_at) = row.ok_or($crate::StoreError::NotFound("user"))?;
                let roles: Vec<(String,)> = sqlx::query_as("SELECT role FROM user_roles WHERE user_id = $1 ORDER BY role")
                    .bind(id)
                    .fetch_all(&self.pool)
                    .await?;
                let mut roles: Vec<$crate::Role> = roles.iter().filter_map(|(r,)| $crate::Role::parse(r)).collect();
                roles.sort();
                Ok($crate::User { id, iss, sub, email, name, roles, created_at })
            }

            #[tracing::instrument(skip(self, event), level = "debug")]
            async fn create_event(&self, organizer_id: uuid::Uuid, event: &$crate::NewEvent) -> $crate::StoreResult<$crate::Event> {
                let id = uuid::Uuid::now_v7();
                let now = $crate::model::now();
                sqlx::query(
                    "INSERT INTO events (id, organizer_id, title, description, venue, city, category, timezone, \
                     image_url, starts_at, ends_at, status, created_at, updated_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, 'draft', $12, $12)",
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
                .execute(&self.pool)
                .await?;
                self.get_event(id, $crate::Scope::All).await
            }

            #[tracing::instrument(skip(self), level = "debug")]
            async fn get_event(&self, id: uuid::Uuid, scope: $crate::Scope) -> $crate::StoreResult<$crate::Event> {
                let mut conn = self.pool.acquire().await?;
                let mut event = Self::event_row(&mut conn, id, scope, false).await?;
                event.ticket_types = Self::ticket_types_of(&mut conn, &[id]).await?;
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
                     timezone = $7, image_url = $8, starts_at = $9, ends_at = $10, updated_at = $11 WHERE id = $1",
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
                Ok(events)
            }
        }

        impl $store {
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
