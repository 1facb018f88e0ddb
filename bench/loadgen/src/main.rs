//! `loadgen`: an open-loop load driver for holds (`POST /v1/bookings`).
//!
//! Requests are sent at a fixed arrival rate whatever the answers do, each
//! on its own task, by up to `--buyers` distinct buyers in turn; latency
//! runs from each request's *scheduled* send time, so a server (or driver)
//! that falls behind cannot hide it (no coordinated omission). Phases:
//! warm-up, peak (`--rate`), overload (`--overload-factor` × the measured
//! peak), each on a fresh published event with one hot ticket type of
//! `--capacity`. With `--database-url` it then audits every phase's ticket
//! type for oversold tickets and measures the raw ceiling: the hold's hot
//! conditional `UPDATE` issued straight to the same PostgreSQL.
//!
//! See bench/README.md ("Holds") and bench/holds.sh.

mod api;
mod cpu;
mod db;
mod phase;
mod stats;

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::Parser;
use reqwest::header::HeaderValue;
use serde_json::{Value, json};

use api::{Api, Target};
use stats::{PhaseStats, quantiles, round2, round3};

#[derive(Parser, Debug)]
#[command(
    name = "loadgen",
    about = "Open-loop hold load driver: holds/s, p50/p99 from the scheduled send time, errors, oversold, raw ceiling"
)]
struct Args {
    /// Base URL of the platform (ticketgw).
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    url: String,
    /// Peak phase arrival rate, requests per second.
    #[arg(long, default_value_t = 1000.0)]
    rate: f64,
    /// Peak phase length, seconds.
    #[arg(long, default_value_t = 10.0)]
    duration: f64,
    /// Warm-up at --rate before the peak, seconds (0: none; not reported
    /// beyond one line).
    #[arg(long, default_value_t = 2.0)]
    warmup: f64,
    /// Overload phase arrival rate as a multiple of the measured peak
    /// holds/s (0: no overload phase).
    #[arg(long, default_value_t = 5.0)]
    overload_factor: f64,
    /// Overload phase arrival rate, requests per second (instead of
    /// --overload-factor).
    #[arg(long)]
    overload_rate: Option<f64>,
    /// Overload phase length, seconds (default: --duration).
    #[arg(long)]
    overload_duration: Option<f64>,
    /// Distinct buyers (accounts, tokens), used round-robin.
    #[arg(long, default_value_t = 500)]
    buyers: usize,
    /// Capacity of each phase's hot ticket type.
    #[arg(long, default_value_t = 10_000)]
    capacity: i64,
    /// Tickets per hold.
    #[arg(long, default_value_t = 1)]
    quantity: i64,
    /// An admin (organizer rights): creates each phase's event.
    #[arg(long)]
    admin_email: String,
    #[arg(long)]
    admin_password: String,
    /// Buyers are buyer-<run-id>-<n>@loadgen.test (registered if missing).
    #[arg(long)]
    run_id: Option<String>,
    #[arg(long, default_value = "loadgen buyer password")]
    buyer_password: String,
    /// Registrations/logins in flight while preparing the buyers.
    #[arg(long, default_value_t = 8)]
    auth_concurrency: usize,
    /// Client timeout per hold request, seconds (counted as an error).
    #[arg(long, default_value_t = 5.0)]
    timeout: f64,
    /// The platform's database, for the oversell audit (SQLite is opened
    /// read-only) and, if PostgreSQL, the raw ceiling.
    #[arg(long)]
    database_url: Option<String>,
    /// Where to measure the raw ceiling (default: --database-url if it is
    /// PostgreSQL). A sqlite: URL names a scratch file.
    #[arg(long)]
    raw_database_url: Option<String>,
    /// Raw ceiling measurement, seconds (after 1 s of warm-up; 0: skip).
    #[arg(long, default_value_t = 5.0)]
    raw_seconds: f64,
    /// Raw ceiling: concurrent connections (size it like the platform's
    /// total connections, TICKETGW_DB_POOL_SIZE × instances).
    #[arg(long, default_value_t = 5)]
    raw_connections: u32,
    /// Before each phase, wait up to this many seconds for the host to be
    /// at most 10% busy (other work on a shared host skews every figure).
    #[arg(long, default_value_t = 0)]
    wait_idle: u64,
    /// The server's process id: its memory (VmRSS) is recorded after each
    /// phase.
    #[arg(long)]
    server_pid: Option<u32>,
    /// Driver runtime worker threads.
    #[arg(long, default_value_t = 2)]
    threads: usize,
    /// Write every figure here as JSON.
    #[arg(long)]
    json: Option<PathBuf>,
    /// A name for this run in the report (e.g. postgres, sqlite).
    #[arg(long, default_value = "")]
    label: String,
    /// Targets the report checks against.
    #[arg(long, default_value_t = 1000.0)]
    target_holds: f64,
    #[arg(long, default_value_t = 250.0)]
    target_p99_ms: f64,
    #[arg(long, default_value_t = 0.9)]
    target_overload_share: f64,
    #[arg(long, default_value_t = 50.0)]
    target_refused_p99_ms: f64,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(args.threads.max(1))
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("loadgen: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(args)) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => {
            eprintln!("loadgen: OVERSOLD tickets found (see the audit)");
            ExitCode::from(3)
        }
        Err(e) => {
            eprintln!("loadgen: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn log(msg: impl AsRef<str>) {
    eprintln!("--> {}", msg.as_ref());
}

struct PhaseRun {
    name: &'static str,
    rate: f64,
    duration: Duration,
    target: Target,
    stats: PhaseStats,
    cpu: Value,
    /// Host busy % (other work) just before the phase, when waited for.
    busy_before: Option<f64>,
    /// The server's VmRSS after the phase, KiB.
    server_rss_kib: Option<u64>,
}

/// What every phase does around its load.
struct Around {
    wait_idle: Duration,
    server_pid: Option<u32>,
}

impl Around {
    /// Lets a shared host settle first; returns how busy it was.
    async fn settle(&self) -> Option<f64> {
        if self.wait_idle.is_zero() {
            return None;
        }
        cpu::wait_idle(self.wait_idle, 10.0).await
    }
}

impl PhaseRun {
    fn holds_per_sec(&self) -> f64 {
        self.stats.holds_per_sec(self.duration)
    }

    fn to_json(&self) -> Value {
        let mut v = self.stats.to_json(self.duration);
        v["phase"] = json!(self.name);
        v["rate"] = json!(round2(self.rate));
        v["duration_s"] = json!(self.duration.as_secs_f64());
        v["event_id"] = json!(self.target.event_id);
        v["ticket_type_id"] = json!(self.target.ticket_type_id);
        v["capacity"] = json!(self.target.capacity);
        v["cpu"] = self.cpu.clone();
        v["host_busy_before_pct"] = json!(self.busy_before.map(|b| (b * 10.0).round() / 10.0));
        v["server_rss_kib"] = json!(self.server_rss_kib);
        v
    }
}

async fn phase(
    load: &phase::Load,
    around: &Around,
    name: &'static str,
    target: Target,
    rate: f64,
    duration: Duration,
) -> PhaseRun {
    let busy_before = around.settle().await;
    log(format!(
        "{name}: {rate:.0} req/s for {:.1} s ({} requests) on ticket type {}",
        duration.as_secs_f64(),
        (rate * duration.as_secs_f64()).round(),
        target.ticket_type_id
    ));
    let before = cpu::snapshot();
    let stats = phase::run(load, &target, rate, duration).await;
    let cpu = match (before, cpu::snapshot()) {
        (Some(a), Some(b)) => cpu::between(&a, &b),
        _ => Value::Null,
    };
    let run = PhaseRun {
        name,
        rate,
        duration,
        target,
        stats,
        cpu,
        busy_before,
        server_rss_kib: around.server_pid.and_then(cpu::rss_kib),
    };
    log(format!(
        "{name}: {} sent, {} held ({:.0} holds/s), {} sold out, {} refused, {} errors; cpu: {}",
        run.stats.attempted,
        run.stats.held,
        run.holds_per_sec(),
        run.stats.sold_out,
        run.stats.rate_limited + run.stats.overloaded,
        run.stats.errors_total(),
        cpu::describe(&run.cpu)
    ));
    run
}

async fn run(args: Args) -> anyhow::Result<bool> {
    anyhow::ensure!(
        args.rate > 0.0 && args.duration > 0.0,
        "--rate and --duration must be positive"
    );
    anyhow::ensure!(args.buyers > 0, "--buyers must be at least 1");
    let client = reqwest::Client::builder()
        .no_proxy()
        .http1_only()
        .tcp_nodelay(true)
        .pool_max_idle_per_host(100_000)
        .pool_idle_timeout(Duration::from_secs(120))
        .timeout(Duration::from_secs_f64(args.timeout))
        .build()?;
    let base = args.url.trim_end_matches('/').to_string();
    client
        .get(format!("{base}/healthz"))
        .send()
        .await
        .and_then(|r| r.error_for_status())
        .with_context(|| format!("{base}/healthz"))?;
    let api = Api::new(client.clone(), &base);
    let admin = api.login(&args.admin_email, &args.admin_password).await?;

    let run_id = args
        .run_id
        .clone()
        .unwrap_or_else(|| uuid::Uuid::new_v4().simple().to_string()[..8].to_string());
    let t = Instant::now();
    log(format!(
        "preparing {} buyers (register + login, {} at a time)",
        args.buyers, args.auth_concurrency
    ));
    let tokens = api
        .buyers(
            args.buyers,
            &run_id,
            &args.buyer_password,
            args.auth_concurrency,
        )
        .await?;
    log(format!(
        "buyers ready in {:.1} s",
        t.elapsed().as_secs_f64()
    ));
    let buyers = tokens
        .iter()
        .map(|t| {
            HeaderValue::from_str(&format!("Bearer {t}")).context("token is not a header value")
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let load = phase::Load {
        client,
        url: reqwest::Url::parse(&format!("{base}/v1/bookings")).context("--url")?,
        buyers: Arc::new(buyers),
        quantity: args.quantity,
    };
    let secs = Duration::from_secs_f64;
    let around = Around {
        wait_idle: Duration::from_secs(args.wait_idle),
        server_pid: args.server_pid,
    };
    let rss_after_setup = args.server_pid.and_then(cpu::rss_kib);
    let pause = || tokio::time::sleep(Duration::from_secs(2));

    let mut phases = Vec::new();
    if args.warmup > 0.0 {
        let target = api
            .create_target(&admin, &format!("{run_id} warmup"), args.capacity)
            .await?;
        phases.push(
            phase(
                &load,
                &around,
                "warmup",
                target,
                args.rate,
                secs(args.warmup),
            )
            .await,
        );
        pause().await;
    }
    let target = api
        .create_target(&admin, &format!("{run_id} peak"), args.capacity)
        .await?;
    let peak = phase(
        &load,
        &around,
        "peak",
        target,
        args.rate,
        secs(args.duration),
    )
    .await;
    let peak_holds = peak.holds_per_sec();
    phases.push(peak);
    let overload_rate = args
        .overload_rate
        .unwrap_or(args.overload_factor * peak_holds);
    if overload_rate > 0.0 {
        pause().await;
        let target = api
            .create_target(&admin, &format!("{run_id} overload"), args.capacity)
            .await?;
        let d = secs(args.overload_duration.unwrap_or(args.duration));
        phases.push(phase(&load, &around, "overload", target, overload_rate, d).await);
    }

    // The raw ceiling, with the platform idle.
    let raw_url = args.raw_database_url.clone().or_else(|| {
        args.database_url
            .clone()
            .filter(|u| u.starts_with("postgres"))
    });
    let raw = match (&raw_url, args.raw_seconds > 0.0) {
        (Some(url), true) => {
            pause().await;
            around.settle().await;
            log(format!(
                "raw ceiling: `{}` in autocommit, {} connections, {} s",
                db::HOT_UPDATE,
                args.raw_connections,
                args.raw_seconds
            ));
            let r = db::raw_ceiling(
                url,
                args.raw_connections,
                Duration::from_secs(1),
                secs(args.raw_seconds),
            )
            .await?;
            let cpu = r.cpu.clone();
            log(format!(
                "raw ceiling: {:.0} updates/s; cpu: {}",
                r.per_sec(),
                cpu::describe(&cpu)
            ));
            Some((r, cpu))
        }
        _ => None,
    };

    // The oversell audit.
    let mut audit_json = Vec::new();
    let mut oversold_total = 0i64;
    let mut audited = false;
    if let Some(url) = &args.database_url {
        let ids: Vec<_> = phases.iter().map(|p| p.target.ticket_type_id).collect();
        let rows = db::audit(url, &ids).await.context("oversell audit")?;
        audited = true;
        for (p, a) in phases.iter().zip(rows) {
            let over = stats::oversold(a.capacity, a.sold, a.held, a.taken);
            oversold_total += over;
            audit_json.push(json!({
                "phase": p.name,
                "ticket_type_id": p.target.ticket_type_id,
                "capacity": a.capacity,
                "sold": a.sold,
                "held": a.held,
                "taken": a.taken,
                "client_201_tickets": p.stats.held as i64 * args.quantity,
                "oversold": over,
            }));
        }
    }
    // Without the database the client's own count is all there is.
    let client_oversold: i64 = phases
        .iter()
        .map(|p| (p.stats.held as i64 * args.quantity - p.target.capacity).max(0))
        .sum();
    let oversold = oversold_total.max(client_oversold);

    let peak = phases
        .iter()
        .find(|p| p.name == "peak")
        .context("peak phase")?;
    let over = phases.iter().find(|p| p.name == "overload");
    let raw_per_s = raw.as_ref().map(|(r, _)| r.per_sec());
    let ratio = raw_per_s.map(|r| peak_holds / r);

    // ---- report -------------------------------------------------------------
    let label = if args.label.is_empty() {
        String::new()
    } else {
        format!(" [{}]", args.label)
    };
    println!();
    println!(
        "loadgen{label}: {base}, {} buyers round-robin, capacity {} per phase, {} ticket(s) per hold, client timeout {} s",
        args.buyers, args.capacity, args.quantity, args.timeout
    );
    println!(
        "{:<9} {:>7} {:>7} {:>6} {:>8} {:>6} {:>5} {:>6} {:>5} {:>4}  {:<22} {:<15} {:<15}",
        "phase",
        "rate/s",
        "sent",
        "201",
        "holds/s",
        "soldout",
        "429",
        "503",
        "err",
        ">1s",
        "all p50/p99/max ms",
        "201 p50/p99",
        "refused p50/p99"
    );
    for p in &phases {
        let s = &p.stats;
        println!(
            "{:<9} {:>7.0} {:>7} {:>6} {:>8.0} {:>6} {:>5} {:>6} {:>5} {:>4}  {:<22} {:<15} {:<15}",
            p.name,
            p.rate,
            s.attempted,
            s.held,
            p.holds_per_sec(),
            s.sold_out,
            s.rate_limited,
            s.overloaded,
            s.errors_total(),
            s.over_1s,
            lat3(&s.all),
            lat2(&s.accepted),
            lat2(&s.refused),
        );
    }
    for p in &phases {
        if !p.stats.errors.is_empty() {
            println!("  {} errors: {:?}", p.name, p.stats.errors);
        }
        if p.stats.refused_without_retry_after > 0 {
            println!(
                "  {}: {} refusals without Retry-After",
                p.name, p.stats.refused_without_retry_after
            );
        }
        println!(
            "  {} cpu: {}; driver send lag max {:.1} ms{}{}",
            p.name,
            cpu::describe(&p.cpu),
            p.stats.max_send_lag.as_secs_f64() * 1e3,
            p.busy_before
                .map(|b| format!("; host {b:.0}% busy just before"))
                .unwrap_or_default(),
            p.server_rss_kib
                .map(|k| format!("; server RSS after {:.0} MiB", k as f64 / 1024.0))
                .unwrap_or_default(),
        );
    }
    match &raw {
        Some((r, cpu)) => println!(
            "raw ceiling: {:.0} updates/s ({} connections, {} s, synchronous_commit={}, p50/p99 {} ms); peak holds/s / raw = {:.2}; cpu: {}",
            r.per_sec(),
            r.connections,
            r.seconds,
            r.synchronous_commit.as_deref().unwrap_or("n/a"),
            lat2(&r.latency),
            ratio.unwrap_or(0.0),
            cpu::describe(cpu)
        ),
        None => println!(
            "raw ceiling: not measured (no PostgreSQL --database-url / --raw-database-url)"
        ),
    }
    if audited {
        for a in &audit_json {
            println!(
                "audit {:<8} capacity {} taken {} sold+held {} (201s x qty {}): oversold {}",
                a["phase"].as_str().unwrap_or("?"),
                a["capacity"],
                a["taken"],
                a["sold"].as_i64().unwrap_or(0) + a["held"].as_i64().unwrap_or(0),
                a["client_201_tickets"],
                a["oversold"]
            );
        }
    } else {
        println!("audit: no --database-url; client-side count only");
    }

    let mut checks = vec![
        check("peak holds/s", peak_holds, ">=", args.target_holds, "{:.0}"),
        check(
            "peak p99 of 201s (ms)",
            q(&peak.stats.accepted, 0.99),
            "<=",
            args.target_p99_ms,
            "{:.1}",
        ),
        check("oversold", oversold as f64, "<=", 0.0, "{:.0}"),
    ];
    if let Some(o) = over {
        let share = o.holds_per_sec() / peak_holds.max(1e-9);
        checks.push(check(
            "overload holds/s / peak",
            share,
            ">=",
            args.target_overload_share,
            "{:.2}",
        ));
        checks.push(check(
            "overload refused p99 (ms)",
            q(&o.stats.refused, 0.99),
            "<=",
            args.target_refused_p99_ms,
            "{:.1}",
        ));
        checks.push(check(
            "overload refusals w/o Retry-After",
            o.stats.refused_without_retry_after as f64,
            "<=",
            0.0,
            "{:.0}",
        ));
        checks.push(check(
            "overload max latency (ms)",
            o.stats.all.max() as f64 / 1e3,
            "<=",
            1000.0,
            "{:.0}",
        ));
    }
    checks.push(check(
        "requests over 1 s (all phases)",
        phases.iter().map(|p| p.stats.over_1s).sum::<u64>() as f64,
        "<=",
        0.0,
        "{:.0}",
    ));
    println!("checks:");
    for c in &checks {
        println!(
            "  {:<36} {:>10} {} {:<8} {}",
            c["name"].as_str().unwrap_or(""),
            c["shown"].as_str().unwrap_or(""),
            c["op"].as_str().unwrap_or(""),
            c["target"],
            if c["pass"].as_bool() == Some(true) {
                "PASS"
            } else {
                "MISS"
            }
        );
    }

    if let Some(path) = &args.json {
        let doc = json!({
            "label": args.label,
            "url": base,
            "run_id": run_id,
            "server_rss_kib_after_setup": rss_after_setup,
            "buyers": args.buyers,
            "capacity": args.capacity,
            "quantity": args.quantity,
            "timeout_s": args.timeout,
            "phases": phases.iter().map(PhaseRun::to_json).collect::<Vec<_>>(),
            "peak_holds_per_s": round2(peak_holds),
            "overload_holds_share_of_peak": over.map(|o| round3(o.holds_per_sec() / peak_holds.max(1e-9))),
            "raw": raw.as_ref().map(|(r, cpu)| json!({
                "connections": r.connections,
                "seconds": r.seconds,
                "updates": r.updates,
                "updates_per_s": round2(r.per_sec()),
                "synchronous_commit": r.synchronous_commit,
                "latency_ms": quantiles(&r.latency),
                "cpu": cpu,
            })),
            "ratio_peak_to_raw": ratio.map(round3),
            "audit": audit_json,
            "audited": audited,
            "oversold": oversold,
            "checks": checks,
        });
        std::fs::write(path, serde_json::to_vec_pretty(&doc)?)
            .with_context(|| format!("write {}", path.display()))?;
    }
    Ok(oversold == 0)
}

fn q(h: &hdrhistogram::Histogram<u64>, quantile: f64) -> f64 {
    if h.is_empty() {
        0.0
    } else {
        h.value_at_quantile(quantile) as f64 / 1e3
    }
}

fn lat2(h: &hdrhistogram::Histogram<u64>) -> String {
    if h.is_empty() {
        return "-".into();
    }
    format!("{}/{}", ms(q(h, 0.5)), ms(q(h, 0.99)))
}

fn lat3(h: &hdrhistogram::Histogram<u64>) -> String {
    if h.is_empty() {
        return "-".into();
    }
    format!(
        "{}/{}/{}",
        ms(q(h, 0.5)),
        ms(q(h, 0.99)),
        ms(h.max() as f64 / 1e3)
    )
}

/// Milliseconds with sensible precision.
fn ms(v: f64) -> String {
    if v < 10.0 {
        format!("{v:.2}")
    } else if v < 100.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.0}")
    }
}

fn check(name: &str, value: f64, op: &str, target: f64, fmt: &str) -> Value {
    let pass = if op == ">=" {
        value >= target
    } else {
        value <= target
    };
    let shown = match fmt {
        "{:.0}" => format!("{value:.0}"),
        "{:.1}" => format!("{value:.1}"),
        _ => format!("{value:.2}"),
    };
    json!({"name": name, "value": round3(value), "shown": shown, "op": op, "target": target, "pass": pass})
}
