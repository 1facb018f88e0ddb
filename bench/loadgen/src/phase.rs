//! One open-loop phase: hold requests sent at a fixed arrival rate, each on
//! its own task, whatever the answers do.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use reqwest::header::{AUTHORIZATION, CONTENT_TYPE, HeaderValue, RETRY_AFTER};
use tokio::task::JoinSet;

use crate::api::Target;
use crate::stats::{Outcome, PhaseStats};

/// What every request of a run shares.
#[derive(Clone)]
pub struct Load {
    pub client: reqwest::Client,
    /// `<base>/v1/bookings`
    pub url: reqwest::Url,
    /// `Bearer <token>` per buyer, used round-robin.
    pub buyers: Arc<Vec<HeaderValue>>,
    pub quantity: i64,
}

/// Sends `rate × duration` hold requests for `target`, request `i` at
/// `start + i / rate`, and waits for every answer (or client timeout).
pub async fn run(load: &Load, target: &Target, rate: f64, duration: Duration) -> PhaseStats {
    let body = Bytes::from(
        serde_json::to_vec(&serde_json::json!({
            "event_id": target.event_id,
            "items": [{"ticket_type_id": target.ticket_type_id, "quantity": load.quantity}],
        }))
        .expect("a JSON value serialises"),
    );
    let total = (rate * duration.as_secs_f64()).round() as u64;
    let stats = Arc::new(Mutex::new(PhaseStats::default()));
    let start = Instant::now() + Duration::from_millis(5);
    let at = |i: u64| start + Duration::from_secs_f64(i as f64 / rate);
    let mut tasks = JoinSet::new();
    let mut i = 0u64;
    while i < total {
        let due = at(i);
        let now = Instant::now();
        if due > now {
            // The timer wheel has millisecond resolution: wake up, then send
            // everything that has come due, each stamped with its own slot.
            tokio::time::sleep_until(due.into()).await;
            continue;
        }
        let mut lag = Duration::ZERO;
        while i < total && at(i) <= now {
            let scheduled = at(i);
            lag = lag.max(now - scheduled);
            let auth = load.buyers[(i % load.buyers.len() as u64) as usize].clone();
            let (client, url, body, stats) = (
                load.client.clone(),
                load.url.clone(),
                body.clone(),
                stats.clone(),
            );
            tasks.spawn(async move {
                let outcome = hold(&client, url, auth, body).await;
                let done = Instant::now();
                stats.lock().unwrap_or_else(|p| p.into_inner()).record(
                    &outcome,
                    done - scheduled,
                    done.saturating_duration_since(start),
                );
            });
            i += 1;
        }
        stats
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .note_send_lag(lag);
        // Reap finished tasks as we go so the set stays small.
        while tasks.try_join_next().is_some() {}
    }
    while tasks.join_next().await.is_some() {}
    stats.lock().unwrap_or_else(|p| p.into_inner()).clone()
}

async fn hold(
    client: &reqwest::Client,
    url: reqwest::Url,
    auth: HeaderValue,
    body: Bytes,
) -> Outcome {
    let resp = match client
        .post(url)
        .header(AUTHORIZATION, auth)
        .header(CONTENT_TYPE, HeaderValue::from_static("application/json"))
        .body(body)
        .send()
        .await
    {
        Ok(r) => r,
        Err(e) => return transport(&e),
    };
    let status = resp.status().as_u16();
    let retry_after = resp.headers().contains_key(RETRY_AFTER);
    let bytes = match resp.bytes().await {
        Ok(b) => b,
        Err(e) => return transport(&e),
    };
    if status == 201 {
        return Outcome::Held;
    }
    let code = serde_json::from_slice::<serde_json::Value>(&bytes)
        .ok()
        .and_then(|v| v["code"].as_str().map(str::to_string))
        .unwrap_or_default();
    match (status, code.as_str()) {
        (409, "sold_out") => Outcome::SoldOut,
        (409, "hold_limit_reached") => Outcome::HoldLimit,
        (429, _) => Outcome::RateLimited { retry_after },
        (503, "overloaded") => Outcome::Overloaded { retry_after },
        _ => Outcome::Status(status, code),
    }
}

fn transport(e: &reqwest::Error) -> Outcome {
    if e.is_timeout() {
        return Outcome::Timeout;
    }
    // The innermost cause says what happened (refused, reset, ...).
    let mut cause: &dyn std::error::Error = e;
    while let Some(next) = cause.source() {
        cause = next;
    }
    let kind = if e.is_connect() { "connect" } else { "request" };
    Outcome::Transport(format!("{kind}: {cause}"))
}
