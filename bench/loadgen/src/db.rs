//! Straight to the database: the oversell audit after a run, and the raw
//! ceiling of the hold's hot statement.

use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;
use hdrhistogram::Histogram;
use sqlx::postgres::PgPoolOptions;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use uuid::Uuid;

fn is_postgres(url: &str) -> bool {
    url.starts_with("postgres://") || url.starts_with("postgresql://")
}

/// One ticket type as the database has it after the run.
#[derive(Debug, Clone, Copy)]
pub struct Audit {
    pub capacity: i64,
    pub sold: i64,
    pub held: i64,
    /// Tickets of held or confirmed bookings (the admissions).
    pub taken: i64,
}

const TAKEN_PG: &str = "SELECT COALESCE(SUM(bi.quantity), 0)::BIGINT FROM booking_items bi \
    JOIN bookings b ON b.id = bi.booking_id \
    WHERE bi.ticket_type_id = $1 AND b.status IN ('held', 'confirmed')";
const TAKEN_SQLITE: &str = "SELECT COALESCE(SUM(bi.quantity), 0) FROM booking_items bi \
    JOIN bookings b ON b.id = bi.booking_id \
    WHERE bi.ticket_type_id = $1 AND b.status IN ('held', 'confirmed')";
const COUNTERS: &str = "SELECT capacity, sold, held FROM ticket_types WHERE id = $1";

/// Reads each ticket type's counters and admissions. SQLite files are
/// opened read-only.
pub async fn audit(url: &str, ticket_types: &[Uuid]) -> anyhow::Result<Vec<Audit>> {
    let mut out = Vec::with_capacity(ticket_types.len());
    if is_postgres(url) {
        let pool = PgPoolOptions::new().max_connections(1).connect(url).await?;
        for id in ticket_types {
            let (capacity, sold, held): (i64, i64, i64) = sqlx::query_as(COUNTERS)
                .bind(id)
                .fetch_one(&pool)
                .await
                .with_context(|| format!("ticket type {id}"))?;
            let taken: i64 = sqlx::query_scalar(TAKEN_PG)
                .bind(id)
                .fetch_one(&pool)
                .await?;
            out.push(Audit {
                capacity,
                sold,
                held,
                taken,
            });
        }
        pool.close().await;
    } else {
        let opts = SqliteConnectOptions::from_str(url)?.read_only(true);
        let pool = SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(opts)
            .await?;
        for id in ticket_types {
            let (capacity, sold, held): (i64, i64, i64) = sqlx::query_as(COUNTERS)
                .bind(id)
                .fetch_one(&pool)
                .await
                .with_context(|| format!("ticket type {id}"))?;
            let taken: i64 = sqlx::query_scalar(TAKEN_SQLITE)
                .bind(id)
                .fetch_one(&pool)
                .await?;
            out.push(Audit {
                capacity,
                sold,
                held,
                taken,
            });
        }
        pool.close().await;
    }
    Ok(out)
}

/// The hold's hot statement, alone.
pub const HOT_UPDATE: &str =
    "UPDATE bench_hot SET held = held + 1 WHERE id = $1 AND sold + held + 1 <= capacity";
const CREATE_HOT: &str = "CREATE TABLE IF NOT EXISTS bench_hot \
    (id INTEGER PRIMARY KEY, sold BIGINT NOT NULL, held BIGINT NOT NULL, capacity BIGINT NOT NULL)";
const RESET_HOT: &str = "INSERT INTO bench_hot (id, sold, held, capacity) VALUES (1, 0, 0, 1000000000) \
    ON CONFLICT (id) DO UPDATE SET sold = 0, held = 0, capacity = 1000000000";

pub struct Raw {
    pub connections: u32,
    pub seconds: f64,
    /// Updates that took their row (all of them: the row never fills up).
    pub updates: u64,
    pub latency: Histogram<u64>,
    /// PostgreSQL's `synchronous_commit` for the session (None on SQLite).
    pub synchronous_commit: Option<String>,
    /// Where the CPU went during the measured window.
    pub cpu: serde_json::Value,
}

impl Raw {
    pub fn per_sec(&self) -> f64 {
        self.updates as f64 / self.seconds
    }
}

/// `connections` workers, each on its own connection, issue [`HOT_UPDATE`]
/// in autocommit on one row of a scratch table `bench_hot` (created, then
/// dropped) for `warmup + measure`; only updates that start and finish
/// inside the measured window count. On PostgreSQL the session keeps the
/// server's `synchronous_commit`; a SQLite URL gets the platform's settings
/// (WAL, `synchronous = NORMAL`, 10 s busy timeout).
pub async fn raw_ceiling(
    url: &str,
    connections: u32,
    warmup: Duration,
    measure: Duration,
) -> anyhow::Result<Raw> {
    let connections = connections.max(1);
    let updates = Arc::new(AtomicU64::new(0));
    let t0 = Instant::now();
    let (from, to) = (t0 + warmup, t0 + warmup + measure);
    let mut workers = tokio::task::JoinSet::new();
    // CPU over the measured window only (the workers' connections are gone
    // by the time this function returns, and their CPU time with them).
    let cpu = tokio::spawn(async move {
        tokio::time::sleep_until(from.into()).await;
        let a = crate::cpu::snapshot();
        tokio::time::sleep_until(to.into()).await;
        match (a, crate::cpu::snapshot()) {
            (Some(a), Some(b)) => crate::cpu::between(&a, &b),
            _ => serde_json::Value::Null,
        }
    });

    macro_rules! spawn_workers {
        ($pool:expr) => {{
            let pool = $pool;
            sqlx::query(CREATE_HOT)
                .execute(&pool)
                .await
                .context("create bench_hot")?;
            sqlx::query(RESET_HOT)
                .execute(&pool)
                .await
                .context("reset bench_hot")?;
            for _ in 0..connections {
                let pool = pool.clone();
                let updates = updates.clone();
                workers.spawn(async move {
                    let mut conn = pool.acquire().await?;
                    let mut h = Histogram::<u64>::new_with_bounds(1, 120_000_000, 3)?;
                    loop {
                        let start = Instant::now();
                        if start >= to {
                            break;
                        }
                        let n = sqlx::query(HOT_UPDATE)
                            .bind(1_i32)
                            .execute(&mut *conn)
                            .await?
                            .rows_affected();
                        let done = Instant::now();
                        if start >= from && done <= to && n == 1 {
                            updates.fetch_add(1, Ordering::Relaxed);
                            h.saturating_record(
                                u64::try_from((done - start).as_micros())
                                    .unwrap_or(u64::MAX)
                                    .max(1),
                            );
                        }
                    }
                    Ok::<_, anyhow::Error>(h)
                });
            }
            let mut latency = Histogram::<u64>::new_with_bounds(1, 120_000_000, 3)?;
            while let Some(h) = workers.join_next().await {
                latency.add(h??)?;
            }
            sqlx::query("DROP TABLE bench_hot")
                .execute(&pool)
                .await
                .context("drop bench_hot")?;
            pool.close().await;
            latency
        }};
    }

    let mut synchronous_commit = None;
    let latency = if is_postgres(url) {
        let pool = PgPoolOptions::new()
            .max_connections(connections)
            .min_connections(connections)
            .connect(url)
            .await?;
        synchronous_commit = Some(
            sqlx::query_scalar("SHOW synchronous_commit")
                .fetch_one(&pool)
                .await?,
        );
        spawn_workers!(pool)
    } else {
        let opts = SqliteConnectOptions::from_str(url)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(Duration::from_secs(10));
        spawn_workers!(
            SqlitePoolOptions::new()
                .max_connections(connections)
                .connect_with(opts)
                .await?
        )
    };
    Ok(Raw {
        connections,
        seconds: measure.as_secs_f64(),
        updates: updates.load(Ordering::Relaxed),
        latency,
        synchronous_commit,
        cpu: cpu.await?,
    })
}
