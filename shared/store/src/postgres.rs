//! PostgreSQL backend: production, many function instances sharing one
//! database. Read-modify-write transactions lock the rows they change with
//! `SELECT ... FOR UPDATE`.

use std::time::Duration;

use sqlx::postgres::{PgPool, PgPoolOptions, Postgres};

use crate::{ConnectOptions, StoreResult};

const FOR_UPDATE: &str = " FOR UPDATE";

pub struct PgStore {
    pool: PgPool,
}

impl PgStore {
    /// Creates the pool without connecting: the first query connects.
    pub fn connect_lazy(url: &str, opts: &ConnectOptions) -> StoreResult<Self> {
        let pool = PgPoolOptions::new()
            .max_connections(opts.pool_size.max(1))
            .min_connections(0)
            .acquire_timeout(Duration::from_secs(5))
            .idle_timeout(Duration::from_secs(300))
            .connect_lazy(url)?;
        Ok(Self { pool })
    }

    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    async fn begin_write(&self) -> Result<sqlx::Transaction<'static, Postgres>, sqlx::Error> {
        self.pool.begin().await
    }
}

crate::sql::store_impl!(PgStore, Postgres, {
    fn backend(&self) -> &'static str {
        "postgres"
    }

    async fn migrate(&self) -> StoreResult<()> {
        sqlx::migrate!("./migrations/postgres")
            .run(&self.pool)
            .await?;
        self.backfill_event_keys().await
    }

    async fn ping(&self) -> StoreResult<()> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }
});

crate::bookings::bookings_impl!(PgStore, Postgres);

crate::payments::payments_impl!(PgStore, Postgres);

crate::tickets::tickets_impl!(PgStore, Postgres);

crate::accounts::accounts_impl!(PgStore, Postgres);

crate::events::events_impl!(
    PgStore,
    Postgres,
    " FOR UPDATE SKIP LOCKED",
    "SELECT (jsonb_array_elements_text($1::jsonb))::bigint"
);
