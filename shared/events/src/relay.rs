//! The outbox relay: claims rows (see `tg_store::events`), publishes them,
//! and marks them sent only once the destination took them. A relay that
//! dies between publishing and marking leaves its rows claimed until the
//! lease ends; they are published again, and consumers drop the duplicate
//! (they deduplicate on CloudEvent `source` + `id`).

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use tg_store::{DynStore, OutboxEvent};

use crate::CloudEvent;
use crate::publish::{Outcome, Publisher};

/// Relay settings (`TICKETGW_RELAY_*`).
#[derive(Debug, Clone)]
pub struct RelayConfig {
    /// Names this relay's claims (host and process id by default).
    pub name: String,
    /// Rows per claim (`TICKETGW_RELAY_BATCH`, 200).
    pub batch: u32,
    /// Pause when the outbox is empty (`TICKETGW_RELAY_POLL_MS`, 50).
    pub poll: Duration,
    /// How long a claim lasts (`TICKETGW_RELAY_LEASE_SECS`, 30).
    pub lease: Duration,
    /// Delivery attempts before an event is dead (in-process and HTTP
    /// targets; `TICKETGW_RELAY_MAX_ATTEMPTS`, 8).
    pub max_attempts: i32,
    /// First retry delay; doubles per attempt up to `retry_max`.
    pub retry_base: Duration,
    pub retry_max: Duration,
    /// NEGATIVE CONTROL ONLY: mark rows sent before publishing them (the
    /// classic bug: a broker outage then loses them). Never set it.
    pub unsafe_mark_before_publish: bool,
}

impl Default for RelayConfig {
    fn default() -> Self {
        RelayConfig {
            name: default_name(),
            batch: 200,
            poll: Duration::from_millis(50),
            lease: Duration::from_secs(30),
            max_attempts: 8,
            retry_base: Duration::from_millis(500),
            retry_max: Duration::from_secs(300),
            unsafe_mark_before_publish: false,
        }
    }
}

fn default_name() -> String {
    let host = std::env::var("HOSTNAME").unwrap_or_else(|_| "relay".into());
    format!("{host}-{}", std::process::id())
}

impl RelayConfig {
    /// From `TICKETGW_RELAY_*` variables (missing ones keep defaults).
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> anyhow::Result<Self> {
        let mut c = RelayConfig::default();
        let num = |k: &str| -> anyhow::Result<Option<u64>> {
            match get(k).filter(|v| !v.trim().is_empty()) {
                Some(v) => {
                    Ok(Some(v.trim().parse().map_err(|_| {
                        anyhow::anyhow!("{k}: `{v}` is not a whole number")
                    })?))
                }
                None => Ok(None),
            }
        };
        if let Some(v) = num("TICKETGW_RELAY_BATCH")? {
            anyhow::ensure!(
                (1..=10_000).contains(&v),
                "TICKETGW_RELAY_BATCH must be 1..=10000"
            );
            c.batch = v as u32;
        }
        if let Some(v) = num("TICKETGW_RELAY_POLL_MS")? {
            c.poll = Duration::from_millis(v.max(1));
        }
        if let Some(v) = num("TICKETGW_RELAY_LEASE_SECS")? {
            anyhow::ensure!(v >= 1, "TICKETGW_RELAY_LEASE_SECS must be at least 1");
            c.lease = Duration::from_secs(v);
        }
        if let Some(v) = num("TICKETGW_RELAY_MAX_ATTEMPTS")? {
            anyhow::ensure!(v >= 1, "TICKETGW_RELAY_MAX_ATTEMPTS must be at least 1");
            c.max_attempts = v.min(1000) as i32;
        }
        if let Some(n) = get("TICKETGW_RELAY_NAME").filter(|v| !v.trim().is_empty()) {
            c.name = n;
        }
        Ok(c)
    }

    fn backoff(&self, attempts: i32) -> Duration {
        let exp = attempts.clamp(0, 20) as u32;
        self.retry_base
            .saturating_mul(2u32.saturating_pow(exp))
            .min(self.retry_max)
    }
}

/// What one pass did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct PassReport {
    pub claimed: usize,
    pub delivered: usize,
    pub retried: usize,
    pub dead: usize,
    pub deferred: usize,
}

/// Called with events given up on (ops alerts).
pub type DeadHook = Arc<dyn Fn(&CloudEvent, &str) + Send + Sync>;

pub struct Relay {
    store: DynStore,
    publisher: Box<dyn Publisher>,
    config: RelayConfig,
    on_dead: Option<DeadHook>,
    failures: u32,
}

impl Relay {
    pub fn new(store: DynStore, publisher: Box<dyn Publisher>, config: RelayConfig) -> Self {
        Relay {
            store,
            publisher,
            config,
            on_dead: None,
            failures: 0,
        }
    }

    pub fn on_dead(mut self, hook: DeadHook) -> Self {
        self.on_dead = Some(hook);
        self
    }

    /// One claim-publish-mark pass. `Err` when the store failed; a failed
    /// transport is reported in the counts (rows given back).
    pub async fn pass(&mut self) -> anyhow::Result<PassReport> {
        let now = Utc::now();
        if !self.store.outbox_has_work(now).await? {
            return Ok(PassReport::default());
        }
        let lease_until = now + chrono::Duration::from_std(self.config.lease)?;
        let rows = self
            .store
            .outbox_claim(&self.config.name, self.config.batch, now, lease_until)
            .await?;
        let mut report = PassReport {
            claimed: rows.len(),
            ..Default::default()
        };
        if rows.is_empty() {
            return Ok(report);
        }
        let events: Vec<CloudEvent> = rows.iter().map(CloudEvent::from_outbox).collect();
        if self.config.unsafe_mark_before_publish {
            let seqs: Vec<i64> = rows.iter().map(|r| r.seq).collect();
            self.store.outbox_mark_sent(&seqs, Utc::now()).await?;
        }
        let started = Instant::now();
        match self.publisher.publish(&events).await {
            Ok(outcomes) => {
                self.failures = 0;
                self.settle(&rows, &events, outcomes, &mut report).await?;
            }
            Err(e) => {
                self.failures = self.failures.saturating_add(1);
                metrics::counter!("outbox_publish_failures_total").increment(rows.len() as u64);
                let wait = self
                    .config
                    .backoff(self.failures as i32 - 1)
                    .min(Duration::from_secs(5));
                tracing::warn!(
                    target = self.publisher.name(),
                    rows = rows.len(),
                    error = format!("{e:#}"),
                    retry_in_ms = wait.as_millis() as u64,
                    "publishing failed; the rows stay in the outbox"
                );
                let seqs: Vec<i64> = rows.iter().map(|r| r.seq).collect();
                self.store
                    .outbox_release(&seqs, Utc::now() + chrono::Duration::from_std(wait)?)
                    .await?;
                report.retried = rows.len();
                tokio::time::sleep(wait).await;
            }
        }
        metrics::histogram!("outbox_publish_batch_seconds").record(started.elapsed().as_secs_f64());
        Ok(report)
    }

    async fn settle(
        &self,
        rows: &[OutboxEvent],
        events: &[CloudEvent],
        outcomes: Vec<Outcome>,
        report: &mut PassReport,
    ) -> anyhow::Result<()> {
        let now = Utc::now();
        let mut sent = Vec::new();
        let mut deferred = Vec::new();
        for ((row, ev), outcome) in rows.iter().zip(events).zip(outcomes) {
            match outcome {
                Outcome::Delivered => {
                    sent.push(row.seq);
                    let lag = (now - row.time).num_microseconds().unwrap_or(0).max(0) as f64 / 1e6;
                    metrics::histogram!("outbox_lag_seconds").record(lag);
                }
                Outcome::Deferred => deferred.push(row.seq),
                Outcome::Retry(err) => {
                    report.retried += 1;
                    if row.attempts + 1 >= self.config.max_attempts {
                        self.dead(row, ev, &err).await?;
                        report.dead += 1;
                    } else {
                        let wait = self.config.backoff(row.attempts);
                        tracing::info!(event = %row.id, r#type = %row.event_type, attempts = row.attempts + 1, error = %err, "delivery failed; retrying later");
                        self.store
                            .outbox_retry_later(
                                &[row.seq],
                                now + chrono::Duration::from_std(wait)?,
                                &err,
                            )
                            .await?;
                    }
                }
                Outcome::Dead(err) => {
                    self.dead(row, ev, &err).await?;
                    report.dead += 1;
                }
            }
        }
        report.delivered = sent.len();
        report.deferred = deferred.len();
        self.store.outbox_mark_sent(&sent, now).await?;
        self.store.outbox_release(&deferred, now).await?;
        metrics::counter!("outbox_published_total").increment(sent.len() as u64);
        Ok(())
    }

    async fn dead(&self, row: &OutboxEvent, ev: &CloudEvent, err: &str) -> anyhow::Result<()> {
        tracing::error!(event = %row.id, r#type = %row.event_type, attempts = row.attempts + 1, error = %err, "event dead-lettered");
        self.store
            .outbox_mark_dead(&[row.seq], Utc::now(), err)
            .await?;
        metrics::counter!("outbox_dead_total").increment(1);
        if let Some(hook) = &self.on_dead {
            hook(ev, err);
        }
        Ok(())
    }

    /// Runs passes until `stop` resolves: back to back while there is work,
    /// `poll` apart when the outbox is empty.
    pub async fn run(mut self, stop: impl std::future::Future<Output = ()>) {
        tracing::info!(relay = %self.config.name, target = self.publisher.name(), "outbox relay started");
        tokio::pin!(stop);
        loop {
            let pass = tokio::select! {
                _ = &mut stop => break,
                r = self.pass() => r,
            };
            let idle = match pass {
                Ok(r) => r.claimed == 0,
                Err(e) => {
                    tracing::warn!(error = format!("{e:#}"), "outbox relay pass failed");
                    true
                }
            };
            if idle {
                tokio::select! {
                    _ = &mut stop => break,
                    _ = tokio::time::sleep(self.config.poll) => {}
                }
            }
        }
        tracing::info!(relay = %self.config.name, "outbox relay stopped");
    }
}

/// Publishes the outbox's size and age as gauges every `every`.
pub async fn report_stats(store: DynStore, every: Duration) {
    let mut tick = tokio::time::interval(every);
    loop {
        tick.tick().await;
        match store.outbox_stats().await {
            Ok(s) => {
                metrics::gauge!("outbox_pending").set(s.pending as f64);
                metrics::gauge!("outbox_dead").set(s.dead as f64);
                let age = s
                    .oldest
                    .map(|t| (Utc::now() - t).num_milliseconds().max(0) as f64 / 1000.0)
                    .unwrap_or(0.0);
                metrics::gauge!("outbox_oldest_age_seconds").set(age);
            }
            Err(e) => tracing::debug!(error = %e, "outbox stats unavailable"),
        }
    }
}
