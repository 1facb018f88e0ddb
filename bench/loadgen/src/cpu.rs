//! Where the CPU went during a phase, from `/proc` (Linux): the share of
//! the host that was busy, and the CPU time of each program by name
//! (`ticketgw`, `postgres`, `loadgen`, ...) in percent of one core.

use std::collections::HashMap;
use std::time::Instant;

use serde_json::{Value, json};

pub struct Snapshot {
    at: Instant,
    /// (busy, total) jiffies over all cores from `/proc/stat`.
    host: (u64, u64),
    /// utime + stime jiffies by program name.
    programs: HashMap<String, u64>,
}

/// None where `/proc` is not readable.
pub fn snapshot() -> Option<Snapshot> {
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
    let mut programs = HashMap::new();
    for entry in std::fs::read_dir("/proc").ok()?.flatten() {
        let name = entry.file_name();
        if !name.to_string_lossy().bytes().all(|b| b.is_ascii_digit()) {
            continue;
        }
        let Ok(s) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        // pid (comm) state ppid ... utime(14) stime(15)
        let (Some(open), Some(close)) = (s.find('('), s.rfind(')')) else {
            continue;
        };
        let comm = s[open + 1..close].to_string();
        let fields: Vec<&str> = s[close + 1..].split_whitespace().collect();
        let jiffies = |i: usize| {
            fields
                .get(i)
                .and_then(|v| v.parse::<u64>().ok())
                .unwrap_or(0)
        };
        *programs.entry(comm).or_insert(0) += jiffies(11) + jiffies(12);
    }
    Some(Snapshot {
        at: Instant::now(),
        host: (total - idle, total),
        programs,
    })
}

/// Host busy % and the busiest programs (percent of one core) between
/// two snapshots.
pub fn between(a: &Snapshot, b: &Snapshot) -> Value {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get()) as f64;
    let total = b.host.1.saturating_sub(a.host.1) as f64;
    let busy = b.host.0.saturating_sub(a.host.0) as f64;
    if total <= 0.0 {
        return Value::Null;
    }
    // Jiffies one core accumulates over the interval (no HZ assumption).
    let per_core = total / cores;
    let mut programs: Vec<(String, f64)> = b
        .programs
        .iter()
        .map(|(name, &t)| {
            let before = a.programs.get(name).copied().unwrap_or(0);
            (
                name.clone(),
                t.saturating_sub(before) as f64 / per_core * 100.0,
            )
        })
        .filter(|(_, pct)| *pct >= 1.0)
        .collect();
    programs.sort_by(|x, y| y.1.total_cmp(&x.1));
    programs.truncate(6);
    json!({
        "seconds": crate::stats::round3((b.at - a.at).as_secs_f64()),
        "host_busy_pct": (busy / total * 1000.0).round() / 10.0,
        "cores": cores,
        "programs_pct_of_one_core": programs
            .into_iter()
            .map(|(n, p)| json!({"name": n, "pct": (p * 10.0).round() / 10.0}))
            .collect::<Vec<_>>(),
    })
}

/// `ticketgw 120%, postgres 45%, loadgen 20%`
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
        "host {:.0}% busy of {} cores; {programs}",
        v["host_busy_pct"].as_f64().unwrap_or(0.0),
        v["cores"].as_f64().unwrap_or(0.0)
    )
}
