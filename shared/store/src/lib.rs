//! Storage for Ticket Gateway: the [`Store`] interface, its models, and two
//! real backends chosen once from the `DATABASE_URL` scheme:
//!
//! * [`postgres::PgStore`] (production, many function instances), and
//! * [`sqlite::SqliteStore`] (the embedded default of the local platform).
//!
//! Each backend has its own migrations under `migrations/<backend>/`.
//! Concurrency is enforced in SQL (conditional updates, unique keys,
//! row locks), never in process.

pub mod accounts;
pub mod bookings;
pub mod events;
pub mod idempotency;
pub mod model;
pub mod payments;
pub mod postgres;
pub mod sqlite;
pub mod tickets;

mod error;
mod sql;

use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use uuid::Uuid;

pub use accounts::{
    AccountStore, AuthCode, CodeRedemption, NewAccountToken, NewAuthCode, TokenPurpose,
};
pub use bookings::BookingStore;
pub use error::StoreError;
pub use events::{EventStore, NotificationClaim, NotificationKey, OutboxStats};
pub use idempotency::{IdempotencyBegin, IdempotencyStore, StoredResponse};
pub use model::*;
pub use payments::PaymentStore;
pub use tickets::TicketStore;

pub type StoreResult<T> = Result<T, StoreError>;

static TRACEPARENT: std::sync::OnceLock<fn() -> Option<String>> = std::sync::OnceLock::new();

/// Where outbox rows get the W3C trace context of the change they record
/// (the platform's tracing sets it when traces are exported).
pub fn set_traceparent_source(f: fn() -> Option<String>) {
    let _ = TRACEPARENT.set(f);
}

pub(crate) fn traceparent() -> Option<String> {
    TRACEPARENT.get().and_then(|f| f())
}

/// Who a query runs for. Organizer-scoped calls only ever see that
/// organizer's rows: ownership is part of the query, not a check after it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// Admins and the platform itself.
    All,
    /// An organizer: only events they own.
    Organizer(Uuid),
}

impl Scope {
    pub(crate) fn owner(self) -> Option<Uuid> {
        match self {
            Scope::All => None,
            Scope::Organizer(id) => Some(id),
        }
    }
}

/// The storage interface every function uses. Implementations must give the
/// same results for the same calls; `tests/conformance.rs` checks that.
#[async_trait]
pub trait Store:
    AccountStore
    + BookingStore
    + EventStore
    + IdempotencyStore
    + PaymentStore
    + TicketStore
    + Send
    + Sync
    + 'static
{
    /// Which backend this is (`postgres` or `sqlite`), for logs and metrics.
    fn backend(&self) -> &'static str;

    /// Applies pending migrations.
    async fn migrate(&self) -> StoreResult<()>;

    /// Cheap round trip used by `/readyz`.
    async fn ping(&self) -> StoreResult<()>;

    // ---- platform metadata -------------------------------------------------

    async fn get_meta(&self, key: &str) -> StoreResult<Option<String>>;
    /// Sets `key` only if it is not set yet; true when this call set it.
    async fn claim_meta(&self, key: &str, value: &str) -> StoreResult<bool>;

    // ---- users -------------------------------------------------------------

    /// Finds or creates the user identified by (`iss`, `sub`), and makes sure
    /// it has at least `roles`.
    async fn upsert_user(&self, user: &NewUser) -> StoreResult<User>;
    async fn get_user(&self, id: Uuid) -> StoreResult<User>;

    // ---- identity ------------------------------------------------------------

    /// A built-in provider account; `email_taken` conflict on a duplicate.
    async fn create_local_user(&self, user: &NewLocalUser) -> StoreResult<User>;
    /// The account and its password hash, by email (case-insensitive).
    async fn local_credentials(
        &self,
        iss: &str,
        email: &str,
    ) -> StoreResult<Option<(User, String)>>;
    async fn set_password_hash(&self, id: Uuid, hash: &str) -> StoreResult<()>;
    async fn find_user(&self, iss: &str, sub: &str) -> StoreResult<Option<User>>;
    async fn update_profile(&self, id: Uuid, patch: &ProfilePatch) -> StoreResult<User>;
    /// Replaces the roles (`user` is always kept), audited.
    async fn set_roles(&self, id: Uuid, roles: &[Role], actor: Option<Uuid>) -> StoreResult<User>;
    /// Suspending revokes every session of the user, audited.
    async fn set_user_status(
        &self,
        id: Uuid,
        status: UserStatus,
        actor: Option<Uuid>,
    ) -> StoreResult<User>;
    /// Users by id (creation order), at most `limit + 1`.
    async fn list_users(&self, after: Option<Uuid>, limit: u32) -> StoreResult<Vec<User>>;
    async fn insert_refresh_token(&self, token: &NewRefreshToken) -> StoreResult<()>;
    /// Spends a live refresh token and stores `next` in its family; a spent
    /// token presented again revokes the family.
    async fn rotate_refresh_token(
        &self,
        presented_hash: &[u8],
        next: &NewRefreshToken,
        now: DateTime<Utc>,
    ) -> StoreResult<RefreshOutcome>;
    /// Logout: revokes the family of the presented token.
    async fn revoke_refresh_family(
        &self,
        presented_hash: &[u8],
        now: DateTime<Utc>,
    ) -> StoreResult<bool>;
    /// Whether any token of the session family is still unrevoked.
    async fn session_active(&self, family_id: Uuid) -> StoreResult<bool>;
    async fn signing_keys(&self) -> StoreResult<Vec<SigningKey>>;
    async fn insert_signing_key(&self, key: &SigningKey) -> StoreResult<()>;
    /// Counts a hit in the fixed window starting at `window_start`; returns
    /// the hits so far (shared by every instance).
    async fn hit_counter(&self, key: &str, window_start: DateTime<Utc>) -> StoreResult<i64>;
    async fn login_failures(&self, key: &str) -> StoreResult<Option<(i64, DateTime<Utc>)>>;
    async fn record_login_failure(&self, key: &str, now: DateTime<Utc>) -> StoreResult<i64>;
    async fn clear_login_failures(&self, key: &str) -> StoreResult<()>;
    async fn apply_for_organizer(
        &self,
        user_id: Uuid,
        note: &str,
    ) -> StoreResult<OrganizerApplication>;
    async fn list_applications(
        &self,
        status: Option<ApplicationStatus>,
        after: Option<Uuid>,
        limit: u32,
    ) -> StoreResult<Vec<OrganizerApplication>>;
    /// Approving grants the organizer role in the same transaction; audited.
    async fn decide_application(
        &self,
        id: Uuid,
        approve: bool,
        admin: Uuid,
    ) -> StoreResult<OrganizerApplication>;
    async fn append_audit(
        &self,
        actor: Option<Uuid>,
        action: &str,
        target: &str,
        details: &serde_json::Value,
    ) -> StoreResult<()>;
    /// Newest first, at most `limit + 1`.
    async fn list_audit(&self, after: Option<Uuid>, limit: u32) -> StoreResult<Vec<AuditEntry>>;

    // ---- catalog -----------------------------------------------------------

    async fn create_event(&self, organizer_id: Uuid, event: &NewEvent) -> StoreResult<Event>;
    /// An event with its ticket types. `Scope::Organizer` hides other
    /// organizers' events (NotFound).
    async fn get_event(&self, id: Uuid, scope: Scope) -> StoreResult<Event>;
    async fn update_event(&self, id: Uuid, scope: Scope, patch: &EventPatch) -> StoreResult<Event>;
    async fn add_ticket_type(
        &self,
        event_id: Uuid,
        scope: Scope,
        tt: &NewTicketType,
    ) -> StoreResult<TicketType>;
    async fn update_ticket_type(
        &self,
        event_id: Uuid,
        ticket_type_id: Uuid,
        scope: Scope,
        patch: &TicketTypePatch,
    ) -> StoreResult<TicketType>;
    /// draft -> published; needs at least one ticket type.
    async fn publish_event(&self, id: Uuid, scope: Scope, now: DateTime<Utc>)
    -> StoreResult<Event>;
    /// draft|published -> cancelled.
    async fn cancel_event(&self, id: Uuid, scope: Scope, now: DateTime<Utc>) -> StoreResult<Event>;
    /// Events matching `filter`, soonest first, at most `filter.limit + 1`
    /// (the extra row tells the caller another page exists).
    async fn list_events(&self, filter: &EventFilter) -> StoreResult<Vec<Event>>;
}

pub type DynStore = Arc<dyn Store>;

/// Options for opening a store.
#[derive(Debug, Clone)]
pub struct ConnectOptions {
    /// Maximum connections of this instance's pool.
    pub pool_size: u32,
}

impl Default for ConnectOptions {
    fn default() -> Self {
        Self { pool_size: 5 }
    }
}

/// Opens the backend named by the URL scheme: `postgres://` /
/// `postgresql://` or `sqlite:`. PostgreSQL pools connect lazily, so a
/// function starts without waiting for the database.
pub async fn connect(url: &str, opts: &ConnectOptions) -> StoreResult<DynStore> {
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        Ok(Arc::new(postgres::PgStore::connect_lazy(url, opts)?))
    } else if url.starts_with("sqlite:") {
        Ok(Arc::new(sqlite::SqliteStore::open(url, opts).await?))
    } else {
        Err(StoreError::Config(
            "DATABASE_URL must start with postgres://, postgresql:// or sqlite:".into(),
        ))
    }
}
