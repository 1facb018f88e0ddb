//! `payflow`: the whole purchase against the local platform, closed loop:
//! hold (`POST /v1/bookings`), checkout (`POST /v1/bookings/{id}/checkout`),
//! the simulated provider's pay step (`POST /v1/payments/simulated/{id}/succeed`,
//! which signs a Stripe-format webhook and delivers it through the same
//! verification and application as Stripe's), then reads the booking back
//! `confirmed`. Prints completed flows per second and p50/p99 per step,
//! and separately the webhook handling time the platform measured itself
//! (`payment_webhook_seconds` from `/metrics`).
//!
//! See bench/README.md ("Payments") and bench/payments.sh.

#[path = "../api.rs"]
#[allow(dead_code)]
mod api;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::Parser;
use hdrhistogram::Histogram;
use serde_json::{Value, json};
use tokio::sync::Mutex;

#[derive(Parser, Debug)]
#[command(
    name = "payflow",
    about = "Full purchase flows per second and step latencies"
)]
struct Args {
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    url: String,
    /// Concurrent buyers, each running flows back to back.
    #[arg(long, default_value_t = 32)]
    concurrency: usize,
    /// Seconds of measured flows.
    #[arg(long, default_value_t = 15.0)]
    duration: f64,
    #[arg(long)]
    admin_email: String,
    #[arg(long)]
    admin_password: String,
    #[arg(long, default_value = "payflow")]
    run_id: String,
    /// Capacity of the event's ticket type (never the limit).
    #[arg(long, default_value_t = 1_000_000)]
    capacity: i64,
    #[arg(long, default_value = "")]
    label: String,
}

const STEPS: [&str; 4] = ["hold", "checkout", "pay+webhook", "read"];

struct Stats {
    steps: Vec<Histogram<u64>>,
    flow: Histogram<u64>,
    errors: u64,
}

fn hist() -> Histogram<u64> {
    // 1 µs .. 60 s, 3 significant digits.
    Histogram::new_with_bounds(1, 60_000_000, 3).expect("static histogram bounds are valid")
}

fn ms(h: &Histogram<u64>, q: f64) -> f64 {
    (h.value_at_quantile(q) as f64 / 1000.0 * 100.0).round() / 100.0
}

async fn post(
    client: &reqwest::Client,
    url: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> anyhow::Result<Value> {
    let mut req = client.post(url);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    if let Some(b) = body {
        req = req.json(&b);
    }
    let r = req.send().await?;
    let status = r.status();
    let v: Value = r.json().await.unwrap_or(Value::Null);
    if !status.is_success() {
        bail!("POST {url}: {status}: {v}");
    }
    Ok(v)
}

/// One purchase; returns each step's latency in µs.
async fn flow(
    client: &reqwest::Client,
    base: &str,
    token: &str,
    event: &str,
    tt: &str,
) -> anyhow::Result<[u64; 4]> {
    let mut t = [0u64; 4];
    let s = Instant::now();
    let b = post(
        client,
        &format!("{base}/v1/bookings"),
        Some(token),
        Some(json!({"event_id": event, "items": [{"ticket_type_id": tt, "quantity": 1}]})),
    )
    .await?;
    t[0] = s.elapsed().as_micros() as u64;
    let id = b["id"].as_str().context("booking id")?.to_string();
    let s = Instant::now();
    let c = post(
        client,
        &format!("{base}/v1/bookings/{id}/checkout"),
        Some(token),
        None,
    )
    .await?;
    t[1] = s.elapsed().as_micros() as u64;
    let sim = c["redirect_url"]
        .as_str()
        .and_then(|u| u.rsplit('/').next())
        .context("redirect_url")?
        .to_string();
    let s = Instant::now();
    post(
        client,
        &format!("{base}/v1/payments/simulated/{sim}/succeed"),
        None,
        None,
    )
    .await?;
    t[2] = s.elapsed().as_micros() as u64;
    let s = Instant::now();
    let r: Value = client
        .get(format!("{base}/v1/bookings/{id}"))
        .bearer_auth(token)
        .send()
        .await?
        .json()
        .await?;
    t[3] = s.elapsed().as_micros() as u64;
    if r["status"] != "confirmed" {
        bail!("booking {id} is {} after payment", r["status"]);
    }
    Ok(t)
}

/// The platform's own webhook timing histogram, as (p50, p99) in ms,
/// estimated from the Prometheus buckets.
async fn webhook_quantiles(client: &reqwest::Client, base: &str) -> Option<(f64, f64, u64)> {
    let text = client
        .get(format!("{base}/metrics"))
        .send()
        .await
        .ok()?
        .text()
        .await
        .ok()?;
    let mut buckets: Vec<(f64, f64)> = Vec::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("payment_webhook_seconds_bucket{") {
            let le = rest.split("le=\"").nth(1)?.split('"').next()?;
            let v: f64 = line.rsplit(' ').next()?.parse().ok()?;
            let le: f64 = if le == "+Inf" {
                f64::INFINITY
            } else {
                le.parse().ok()?
            };
            buckets.push((le, v));
        }
    }
    buckets.sort_by(|a, b| a.0.total_cmp(&b.0));
    let total = buckets.last()?.1;
    if total <= 0.0 {
        return None;
    }
    let q = |p: f64| {
        let want = total * p;
        let mut prev = (0.0, 0.0);
        for &(le, n) in &buckets {
            if n >= want {
                if le.is_infinite() {
                    return prev.0 * 1000.0;
                }
                // Linear inside the bucket.
                let frac = if n > prev.1 {
                    (want - prev.1) / (n - prev.1)
                } else {
                    1.0
                };
                return (prev.0 + (le - prev.0) * frac) * 1000.0;
            }
            prev = (le, n);
        }
        prev.0 * 1000.0
    };
    Some((
        (q(0.5) * 100.0).round() / 100.0,
        (q(0.99) * 100.0).round() / 100.0,
        total as u64,
    ))
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(1024)
        .timeout(Duration::from_secs(10))
        .build()?;
    let api = api::Api::new(client.clone(), &args.url);
    let admin = api.login(&args.admin_email, &args.admin_password).await?;
    let target = api
        .create_target(&admin, &format!("payflow {}", args.label), args.capacity)
        .await?;
    let tokens = api
        .buyers(args.concurrency, &args.run_id, "payflow-buyer-password", 8)
        .await?;
    let event = target.event_id.to_string();
    let tt = target.ticket_type_id.to_string();
    let base = args.url.trim_end_matches('/').to_string();
    let before = webhook_quantiles(&client, &base)
        .await
        .map(|q| q.2)
        .unwrap_or(0);

    // Warm-up: one flow per buyer.
    for t in &tokens {
        flow(&client, &base, t, &event, &tt).await?;
    }
    let stats = Arc::new(Mutex::new(Stats {
        steps: (0..4).map(|_| hist()).collect(),
        flow: hist(),
        errors: 0,
    }));
    let stop = Arc::new(AtomicBool::new(false));
    let done = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let mut set = tokio::task::JoinSet::new();
    for token in tokens {
        let (client, base, event, tt) = (client.clone(), base.clone(), event.clone(), tt.clone());
        let (stats, stop, done) = (stats.clone(), stop.clone(), done.clone());
        set.spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                let s = Instant::now();
                let r = flow(&client, &base, &token, &event, &tt).await;
                let mut st = stats.lock().await;
                match r {
                    Ok(t) => {
                        for (h, v) in st.steps.iter_mut().zip(t) {
                            let _ = h.record(v.max(1));
                        }
                        let _ = st.flow.record((s.elapsed().as_micros() as u64).max(1));
                        done.fetch_add(1, Ordering::Relaxed);
                    }
                    Err(e) => {
                        st.errors += 1;
                        if st.errors <= 3 {
                            eprintln!("flow failed: {e:#}");
                        }
                    }
                }
            }
        });
    }
    tokio::time::sleep(Duration::from_secs_f64(args.duration)).await;
    stop.store(true, Ordering::Relaxed);
    let elapsed = started.elapsed().as_secs_f64();
    while set.join_next().await.is_some() {}
    let st = stats.lock().await;
    let flows = done.load(Ordering::Relaxed);
    let mut steps = serde_json::Map::new();
    for (name, h) in STEPS.iter().zip(&st.steps) {
        steps.insert(
            (*name).into(),
            json!({"p50_ms": ms(h, 0.5), "p99_ms": ms(h, 0.99), "max_ms": ms(h, 1.0)}),
        );
    }
    let webhook = webhook_quantiles(&client, &base).await;
    let out = json!({
        "label": args.label,
        "concurrency": args.concurrency,
        "seconds": (elapsed * 100.0).round() / 100.0,
        "flows": flows,
        "flows_per_sec": ((flows as f64 / elapsed) * 10.0).round() / 10.0,
        "errors": st.errors,
        "flow_p50_ms": ms(&st.flow, 0.5),
        "flow_p99_ms": ms(&st.flow, 0.99),
        "steps": steps,
        "webhook_handling_ms": webhook.map(|(p50, p99, n)| json!({"p50": p50, "p99": p99, "webhooks": n - before})),
    });
    println!("{}", serde_json::to_string_pretty(&out)?);
    if st.errors > 0 {
        std::process::exit(1);
    }
    Ok(())
}
