//! What one phase measured: outcome counts and HDR latency histograms, and
//! the figures derived from them.

use std::collections::BTreeMap;
use std::time::Duration;

use hdrhistogram::Histogram;
use serde_json::{Value, json};

/// Latencies are recorded in microseconds, up to two minutes.
const MAX_US: u64 = 120_000_000;
/// Distinct error descriptions kept per phase (the rest are only counted).
const MAX_ERROR_KINDS: usize = 20;

/// How one hold attempt ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// 201: tickets held.
    Held,
    /// 409 `sold_out`.
    SoldOut,
    /// 409 `hold_limit_reached` (the per-buyer cap; an error in this
    /// benchmark, which raises the cap out of the way).
    HoldLimit,
    /// 429 (`rate_limited`).
    RateLimited { retry_after: bool },
    /// 503 `overloaded` (load shedding).
    Overloaded { retry_after: bool },
    /// Any other status, with the problem `code` when there was one.
    Status(u16, String),
    /// No complete answer within the client timeout.
    Timeout,
    /// Connection or protocol failure.
    Transport(String),
}

fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, MAX_US, 3).expect("static histogram bounds are valid")
}

/// Counts and latencies of one phase. Latency runs from the request's
/// *scheduled* send time to the end of its response body, so a client or
/// server that falls behind the schedule shows up in it.
#[derive(Debug, Clone)]
pub struct PhaseStats {
    pub attempted: u64,
    pub held: u64,
    pub sold_out: u64,
    pub hold_limit: u64,
    pub rate_limited: u64,
    pub overloaded: u64,
    /// 429/503 answers without a `Retry-After` header.
    pub refused_without_retry_after: u64,
    pub other_status: u64,
    pub timeouts: u64,
    pub transport: u64,
    /// Responses (or timeouts) that took more than one second.
    pub over_1s: u64,
    pub all: Histogram<u64>,
    pub accepted: Histogram<u64>,
    pub refused: Histogram<u64>,
    /// Completion time of the last 201, from the phase start.
    pub last_held_at: Option<Duration>,
    /// Completion time of the first `sold_out`, from the phase start.
    pub first_sold_out_at: Option<Duration>,
    /// How far behind its schedule the driver sent a request, at worst.
    pub max_send_lag: Duration,
    pub errors: BTreeMap<String, u64>,
}

impl Default for PhaseStats {
    fn default() -> Self {
        Self {
            attempted: 0,
            held: 0,
            sold_out: 0,
            hold_limit: 0,
            rate_limited: 0,
            overloaded: 0,
            refused_without_retry_after: 0,
            other_status: 0,
            timeouts: 0,
            transport: 0,
            over_1s: 0,
            all: histogram(),
            accepted: histogram(),
            refused: histogram(),
            last_held_at: None,
            first_sold_out_at: None,
            max_send_lag: Duration::ZERO,
            errors: BTreeMap::new(),
        }
    }
}

impl PhaseStats {
    /// Records one finished attempt: its outcome, its latency from the
    /// scheduled send time, and when it finished (from the phase start).
    pub fn record(&mut self, outcome: &Outcome, latency: Duration, done_at: Duration) {
        self.attempted += 1;
        let us = u64::try_from(latency.as_micros())
            .unwrap_or(u64::MAX)
            .max(1);
        self.all.saturating_record(us);
        if latency > Duration::from_secs(1) {
            self.over_1s += 1;
        }
        match outcome {
            Outcome::Held => {
                self.held += 1;
                self.accepted.saturating_record(us);
                self.last_held_at = Some(self.last_held_at.map_or(done_at, |t| t.max(done_at)));
            }
            Outcome::SoldOut => {
                self.sold_out += 1;
                self.first_sold_out_at =
                    Some(self.first_sold_out_at.map_or(done_at, |t| t.min(done_at)));
            }
            Outcome::HoldLimit => {
                self.hold_limit += 1;
                self.error("409 hold_limit_reached".into());
            }
            Outcome::RateLimited { retry_after } | Outcome::Overloaded { retry_after } => {
                if matches!(outcome, Outcome::RateLimited { .. }) {
                    self.rate_limited += 1;
                } else {
                    self.overloaded += 1;
                }
                self.refused.saturating_record(us);
                if !retry_after {
                    self.refused_without_retry_after += 1;
                }
            }
            Outcome::Status(status, code) => {
                self.other_status += 1;
                self.error(format!("{status} {code}"));
            }
            Outcome::Timeout => {
                self.timeouts += 1;
                self.error("client timeout".into());
            }
            Outcome::Transport(e) => {
                self.transport += 1;
                self.error(format!("transport: {e}"));
            }
        }
    }

    fn error(&mut self, kind: String) {
        if self.errors.len() < MAX_ERROR_KINDS || self.errors.contains_key(&kind) {
            *self.errors.entry(kind).or_insert(0) += 1;
        }
    }

    pub fn note_send_lag(&mut self, lag: Duration) {
        self.max_send_lag = self.max_send_lag.max(lag);
    }

    /// Everything that is neither a hold, a sold-out answer, nor a refusal
    /// by the overload guards.
    pub fn errors_total(&self) -> u64 {
        self.hold_limit + self.other_status + self.timeouts + self.transport
    }

    /// The part of the phase during which tickets were left: the whole
    /// scheduled duration, or up to the last 201 once the ticket type sold
    /// out.
    pub fn selling_window(&self, scheduled: Duration) -> Duration {
        let window = match (self.first_sold_out_at, self.last_held_at) {
            (Some(_), Some(last)) => last.min(scheduled),
            (Some(first), None) => first.min(scheduled),
            (None, _) => scheduled,
        };
        window.max(Duration::from_millis(1))
    }

    /// 201s per second of the selling window.
    pub fn holds_per_sec(&self, scheduled: Duration) -> f64 {
        self.held as f64 / self.selling_window(scheduled).as_secs_f64()
    }

    pub fn to_json(&self, scheduled: Duration) -> Value {
        json!({
            "attempted": self.attempted,
            "held": self.held,
            "holds_per_s": round2(self.holds_per_sec(scheduled)),
            "selling_window_s": round3(self.selling_window(scheduled).as_secs_f64()),
            "sold_out": self.sold_out,
            "hold_limit_reached": self.hold_limit,
            "rate_limited_429": self.rate_limited,
            "overloaded_503": self.overloaded,
            "refused_without_retry_after": self.refused_without_retry_after,
            "other_status": self.other_status,
            "timeouts": self.timeouts,
            "transport_errors": self.transport,
            "errors": self.errors_total(),
            "error_kinds": self.errors,
            "over_1s": self.over_1s,
            "max_send_lag_ms": round3(self.max_send_lag.as_secs_f64() * 1e3),
            "latency_ms": {
                "all": quantiles(&self.all),
                "accepted": quantiles(&self.accepted),
                "refused": quantiles(&self.refused),
            },
        })
    }
}

/// p50 / p99 / max in milliseconds (null when nothing was recorded).
pub fn quantiles(h: &Histogram<u64>) -> Value {
    if h.is_empty() {
        return json!({"n": 0, "p50": null, "p99": null, "max": null});
    }
    json!({
        "n": h.len(),
        "p50": round3(h.value_at_quantile(0.50) as f64 / 1e3),
        "p99": round3(h.value_at_quantile(0.99) as f64 / 1e3),
        "max": round3(h.max() as f64 / 1e3),
    })
}

pub fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

pub fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

/// Oversold tickets of one ticket type, as the audit reads them from the
/// database: admissions beyond capacity, plus any difference between the
/// admissions and the `sold + held` counters.
pub fn oversold(capacity: i64, sold: i64, held: i64, taken: i64) -> i64 {
    (taken - capacity).max(0) + (taken - (sold + held)).abs()
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: fn(u64) -> Duration = Duration::from_millis;

    #[test]
    fn counts_and_quantiles() {
        let mut s = PhaseStats::default();
        for i in 1..=100 {
            s.record(&Outcome::Held, MS(i), MS(10 * i));
        }
        s.record(&Outcome::Overloaded { retry_after: true }, MS(2), MS(5));
        s.record(&Outcome::RateLimited { retry_after: false }, MS(3), MS(6));
        s.record(&Outcome::Timeout, Duration::from_secs(5), MS(5000));
        s.record(&Outcome::Status(500, "internal".into()), MS(1), MS(7));
        assert_eq!(s.attempted, 104);
        assert_eq!(s.held, 100);
        assert_eq!(s.refused.len(), 2);
        assert_eq!(s.refused_without_retry_after, 1);
        assert_eq!(s.errors_total(), 2);
        assert_eq!(s.over_1s, 1);
        let q = quantiles(&s.accepted);
        assert!((q["p50"].as_f64().unwrap() - 50.0).abs() < 0.1, "{q}");
        assert!((q["p99"].as_f64().unwrap() - 99.0).abs() < 0.1, "{q}");
        assert_eq!(s.errors["client timeout"], 1);
    }

    #[test]
    fn holds_per_second_counts_only_while_tickets_remained() {
        let phase = Duration::from_secs(10);
        let mut s = PhaseStats::default();
        for i in 0..1000 {
            s.record(&Outcome::Held, MS(5), MS(4 * i + 4));
        }
        // Not sold out: the whole phase.
        assert!((s.holds_per_sec(phase) - 100.0).abs() < 1e-9);
        // Sold out after 4 s: only those 4 s count.
        s.record(&Outcome::SoldOut, MS(1), MS(4001));
        assert_eq!(s.selling_window(phase), MS(4000));
        assert!((s.holds_per_sec(phase) - 250.0).abs() < 1e-9);
    }

    #[test]
    fn oversold_counts_excess_and_counter_drift() {
        assert_eq!(oversold(10_000, 0, 10_000, 10_000), 0);
        assert_eq!(oversold(10_000, 2, 9_000, 9_002), 0);
        assert_eq!(oversold(10_000, 0, 10_000, 10_003), 6);
        assert_eq!(oversold(10_000, 0, 9_999, 10_000), 1);
    }
}
