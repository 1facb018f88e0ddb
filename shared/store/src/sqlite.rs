//! SQLite backend: the embedded default of the local platform (one file
//! under the data directory). WAL mode lets readers run beside the single
//! writer; read-modify-write transactions start with `BEGIN IMMEDIATE` so
//! they take the write lock before reading, which serialises them exactly
//! as PostgreSQL's row locks do.

use std::str::FromStr;
use std::time::Duration;

use sqlx::sqlite::{
    Sqlite, SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions,
    SqliteSynchronous,
};

use crate::{ConnectOptions, StoreResult};

const FOR_UPDATE: &str = "";

pub struct SqliteStore {
    pool: SqlitePool,
    /// One connection for read-modify-write transactions. SQLite admits one
    /// writer at a time anyway; queueing writers here (in arrival order)
    /// instead of in SQLite's busy handler (which sleeps and retries with
    /// backoff) keeps the latency tail short under contention. The database
    /// still enforces everything: this only decides who asks first.
    writer: SqlitePool,
}

impl SqliteStore {
    /// Opens (creating if missing) the database file named by `url`, e.g.
    /// `sqlite://data/ticketgw.db`.
    pub async fn open(url: &str, opts: &ConnectOptions) -> StoreResult<Self> {
        let options = SqliteConnectOptions::from_str(url)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(10));
        if let Some(dir) = options
            .get_filename()
            .parent()
            .filter(|d| !d.as_os_str().is_empty())
        {
            std::fs::create_dir_all(dir).map_err(|e| {
                crate::StoreError::Config(format!("cannot create {}: {e}", dir.display()))
            })?;
        }
        let pool = SqlitePoolOptions::new()
            // A local file cannot go stale: skip the ping before every
            // acquire (a round trip to the connection's worker thread).
            .test_before_acquire(false)
            .max_connections(opts.pool_size.max(2))
            .acquire_timeout(Duration::from_secs(10))
            .connect_with(options.clone())
            .await?;
        let writer = SqlitePoolOptions::new()
            .test_before_acquire(false)
            .max_connections(1)
            .acquire_timeout(Duration::from_secs(10))
            .connect_with(options)
            .await?;
        Ok(Self { pool, writer })
    }

    pub fn pool(&self) -> &SqlitePool {
        &self.pool
    }

    async fn begin_write(&self) -> Result<sqlx::Transaction<'static, Sqlite>, sqlx::Error> {
        self.writer.begin_with("BEGIN IMMEDIATE").await
    }
}

crate::sql::store_impl!(SqliteStore, Sqlite, {
    fn backend(&self) -> &'static str {
        "sqlite"
    }

    async fn migrate(&self) -> StoreResult<()> {
        sqlx::migrate!("./migrations/sqlite")
            .run(&self.pool)
            .await?;
        self.backfill_event_keys().await
    }

    async fn ping(&self) -> StoreResult<()> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }
});

crate::bookings::bookings_impl!(SqliteStore, Sqlite);

crate::payments::payments_impl!(SqliteStore, Sqlite);

crate::tickets::tickets_impl!(SqliteStore, Sqlite);

crate::accounts::accounts_impl!(SqliteStore, Sqlite);

crate::events::events_impl!(SqliteStore, Sqlite, "", "SELECT value FROM json_each($1)");
