//! Where the CPU went during a phase, from `/proc` (Linux): the share of
//! the host that was busy, the CPU time of each program by name
//! (`ticketgw`, `postgres`, `loadgen`, ...) in percent of one core, and how
//! much of it was other work sharing the host (a build, a test run), which
//! makes the phase's figures low.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

/// The programs under test; kernel threads are counted apart.
const OURS: &[&str] = &["ticketgw", "postgres", "loadgen"];
const KERNEL: &[&str] = &["kworker", "ksoftirqd", "kdamond", "jbd2", "kswapd", "rcu_"];

fn is_kernel(name: &str) -> bool {
    KERNEL.iter().any(|k| k.trim_end_matches('_') == name)
}

pub struct Snapshot {
    at: Instant,
    /// (busy, total) jiffies over all cores from `/proc/stat`.
    host: (u64, u64),
    /// utime + stime jiffies and program name by (pid, start time).
    procs: HashMap<(u32, u64), (String, u64)>,
}

fn host() -> Option<(u64, u64)> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let cpu: Vec<u64> = stat
        .lines()
        .next()?
        .split_whitespace()
        .skip(1)
        .filter_map(|v| v.parse().ok())
        .collect();
    // user nice system idle iowait irq softirq steal
    let total: u64 = cpu.iter().take(8).sum();
    let idle = cpu.get(3).copied().unwrap_or(0) + cpu.get(4).copied().unwrap_or(0);
    Some((total - idle, total))
}

/// None where `/proc` is not readable.
pub fn snapshot() -> Option<Snapshot> {
    let host = host()?;
    let mut procs = HashMap::new();
    for entry in std::fs::read_dir("/proc").ok()?.flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(s) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        // pid (comm) state ppid ... utime(14) stime(15) ... starttime(22)
        let (Some(open), Some(close)) = (s.find('('), s.rfind(')')) else {
            continue;
        };
        let mut comm = s[open + 1..close].to_string();
        if let Some(k) = KERNEL.iter().find(|k| comm.starts_with(**k)) {
            comm = (*k).trim_end_matches('_').to_string();
        }
        let fields: Vec<&str> = s[close + 1..].split_whitespace().collect();
        let num = |i: usize| {
            fields
                .get(i)
                .and_then(|v| v.parse::<u64>().ok())
                .unwrap_or(0)
        };
        procs.insert((pid, num(19)), (comm, num(11) + num(12)));
    }
    Some(Snapshot {
        at: Instant::now(),
        host,
        procs,
    })
}

/// Host busy %, the busiest programs (percent of one core), and the other
/// work on the host (programs other than ours and the kernel's threads,
/// plus CPU time of processes that exited in between, such as compiler
/// runs) between two snapshots.
pub fn between(a: &Snapshot, b: &Snapshot) -> Value {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get()) as f64;
    let total = b.host.1.saturating_sub(a.host.1) as f64;
    let busy = b.host.0.saturating_sub(a.host.0) as f64;
    if total <= 0.0 {
        return Value::Null;
    }
    // Jiffies one core accumulates over the interval (no HZ assumption).
    let per_core = total / cores;
    let mut by_name: HashMap<&str, f64> = HashMap::new();
    for (key, (name, t)) in &b.procs {
        let before = a.procs.get(key).map_or(0, |(_, t)| *t);
        *by_name.entry(name.as_str()).or_insert(0.0) +=
            t.saturating_sub(before) as f64 / per_core * 100.0;
    }
    let attributed: f64 = by_name.values().sum();
    let unattributed = (busy / per_core * 100.0 - attributed).max(0.0);
    let other: f64 = unattributed
        + by_name
            .iter()
            .filter(|(n, _)| !OURS.contains(n) && !is_kernel(n))
            .map(|(_, p)| p)
            .sum::<f64>();
    let mut programs: Vec<(&str, f64)> = by_name.into_iter().filter(|(_, p)| *p >= 1.0).collect();
    programs.sort_by(|x, y| y.1.total_cmp(&x.1));
    programs.truncate(6);
    let r1 = |x: f64| (x * 10.0).round() / 10.0;
    json!({
        "seconds": crate::stats::round3((b.at - a.at).as_secs_f64()),
        "host_busy_pct": r1(busy / total * 100.0),
        "cores": cores,
        "programs_pct_of_one_core": programs
            .into_iter()
            .map(|(n, p)| json!({"name": n, "pct": r1(p)}))
            .collect::<Vec<_>>(),
        "other_work_pct_of_one_core": r1(other),
    })
}

/// `host 98% busy of 2 cores; postgres 95%, ticketgw 50%, ...; other work 3%`
pub fn describe(v: &Value) -> String {
    if v.is_null() {
        return "n/a".into();
    }
    let programs = v["programs_pct_of_one_core"]
        .as_array()
        .map(|ps| {
            ps.iter()
                .map(|p| {
                    format!(
                        "{} {:.0}%",
                        p["name"].as_str().unwrap_or("?"),
                        p["pct"].as_f64().unwrap_or(0.0)
                    )
                })
                .collect::<Vec<_>>()
                .join(", ")
        })
        .unwrap_or_default();
    format!(
        "host {:.0}% busy of {} cores; {programs}; other work {:.0}%",
        v["host_busy_pct"].as_f64().unwrap_or(0.0),
        v["cores"].as_f64().unwrap_or(0.0),
        v["other_work_pct_of_one_core"].as_f64().unwrap_or(0.0),
    )
}

/// Waits (up to `max`) until the host is at most `pct` % busy over a
/// second; returns the last reading.
pub async fn wait_idle(max: Duration, pct: f64) -> Option<f64> {
    let deadline = Instant::now() + max;
    let mut warned = false;
    loop {
        let a = host()?;
        tokio::time::sleep(Duration::from_secs(1)).await;
        let b = host()?;
        let total = b.1.saturating_sub(a.1) as f64;
        let busy = if total > 0.0 {
            b.0.saturating_sub(a.0) as f64 / total * 100.0
        } else {
            0.0
        };
        if busy <= pct || Instant::now() >= deadline {
            return Some(busy);
        }
        if !warned {
            eprintln!(
                "--> host {busy:.0}% busy (other work); waiting up to {} s for it to settle",
                max.as_secs()
            );
            warned = true;
        }
    }
}

/// `VmRSS` of a process in KiB.
pub fn rss_kib(pid: u32) -> Option<u64> {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()?
        .lines()
        .find(|l| l.starts_with("VmRSS:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}
