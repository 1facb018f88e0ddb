#!/usr/bin/env bash
# Hold load benchmark of Ticket Gateway: the local platform (dist ticketgw)
# under an open-loop load of holds on one hot ticket type, on PostgreSQL and
# on SQLite, driven by bench/loadgen. See bench/README.md ("Holds").
#
#   bash bench/holds.sh              # from the repository root
#
# Per backend: a fresh database (PostgreSQL: a new database on 127.0.0.1:5432,
# dropped afterwards; SQLite: a temporary data dir), `ticketgw admin create`,
# `ticketgw` on a free port, then loadgen: 500 buyers registered and logged
# in, a warm-up, a peak phase at a fixed arrival rate, an overload phase at
# OVERLOAD_FACTOR x the measured peak holds/s, the raw ceiling of the hot
# UPDATE straight to the database, and an oversell audit from the database.
#
# Environment knobs (all optional):
#   SKIP_BUILD=1          reuse target/dist/{ticketgw,loadgen} as they are
#   BACKENDS="postgres sqlite"
#   PG_RATE=1100 SQLITE_RATE=1300   peak arrival rate per backend, req/s (about
#                         95% of what each can hold on the project's 2-core machine)
#   DURATION=10           peak and overload phase length, s
#   WARMUP=2              warm-up at the peak rate, s
#   OVERLOAD_FACTOR=5     overload rate = factor x measured peak holds/s
#   BUYERS=500 CAPACITY=10000
#   POOL_SIZE=5           TICKETGW_DB_POOL_SIZE (the platform default; 10 and more
#                         hold fewer tickets/s: see bench/README.md); also the raw
#                         ceiling's connections
#   MAX_INFLIGHT=64       TICKETGW_BOOKING_MAX_INFLIGHT (the platform default)
#   RAW_SECONDS=5         raw ceiling measurement, s
#   WAIT_IDLE=300         wait up to this many seconds for the host to be <= 10%
#                         busy before each backend (0: measure at once)
#   WAIT_IDLE_PHASE=60    the same before each load phase (loadgen --wait-idle)
#   PG_BASE_URL=postgres://postgres@127.0.0.1:5432
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$(pwd)

BACKENDS=${BACKENDS:-postgres sqlite}
PG_RATE=${PG_RATE:-1100}
SQLITE_RATE=${SQLITE_RATE:-1300}
DURATION=${DURATION:-10}
WARMUP=${WARMUP:-2}
OVERLOAD_FACTOR=${OVERLOAD_FACTOR:-5}
BUYERS=${BUYERS:-500}
CAPACITY=${CAPACITY:-10000}
POOL_SIZE=${POOL_SIZE:-5}
MAX_INFLIGHT=${MAX_INFLIGHT:-64}
RAW_SECONDS=${RAW_SECONDS:-5}
WAIT_IDLE=${WAIT_IDLE:-300}
WAIT_IDLE_PHASE=${WAIT_IDLE_PHASE:-60}
PG_BASE_URL=${PG_BASE_URL:-postgres://postgres@127.0.0.1:5432}

GW_BIN=$ROOT/target/dist/ticketgw
LG_BIN=$ROOT/target/dist/loadgen
ADMIN_EMAIL=admin@loadgen.test
ADMIN_PASSWORD="loadgen admin password"

# Nothing inherited from the caller's shell may change what is measured.
unset DATABASE_URL TICKETGW_ADMIN_EMAIL TICKETGW_ADMIN_PASSWORD AWS_LAMBDA_RUNTIME_API \
      TICKETGW_DEMO TICKETGW_DATA_DIR TICKETGW_DB_POOL_SIZE PORT TICKETGW_PUBLIC_URL \
      TICKETGW_RECAPTCHA_SECRET TICKETGW_RECAPTCHA_ON_BOOKINGS TICKETGW_OIDC_ISSUER \
      TICKETGW_CATALOG_CACHE_MS TICKETGW_EXPIRY_INTERVAL_SECS || true

STAMP=$(date +%Y-%m-%d_%H%M%S)
RESULTS_DIR=$ROOT/bench/results
RESULT_FILE=$RESULTS_DIR/holds-$STAMP.txt
WORK=$(mktemp -d "${TMPDIR:-/tmp}/tg-holds.XXXXXX")
GW_PID=""
PG_DB=""

cleanup() {
    if [[ -n $GW_PID ]]; then
        kill -TERM "$GW_PID" 2>/dev/null && wait "$GW_PID" 2>/dev/null || true
    fi
    if [[ -n $PG_DB ]]; then
        dropdb -h 127.0.0.1 -U postgres --if-exists "$PG_DB" 2>/dev/null || true
    fi
    rm -rf "$WORK"
}
trap cleanup EXIT

log() { printf '==> %s\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

# One run at a time on this host (the foundation benchmark shares the lock):
# two runs would measure each other.
exec 9>"${TMPDIR:-/tmp}/ticketgw-foundation-bench.lock"
if ! flock -n 9; then
    log "another benchmark holds ${TMPDIR:-/tmp}/ticketgw-foundation-bench.lock; waiting"
    flock 9
fi

for tool in cargo curl python3 createdb dropdb psql; do
    command -v "$tool" >/dev/null 2>&1 || die "$tool is required (PostgreSQL client tools: apt-get install postgresql-client)"
done
[[ $BACKENDS != *postgres* ]] || psql "$PG_BASE_URL/postgres" -qAtc 'SELECT 1' >/dev/null \
    || die "PostgreSQL is not reachable at $PG_BASE_URL"

# 500 buyers plus the overload's in-flight requests need sockets on both ends.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

if [[ ${SKIP_BUILD:-0} != 1 ]]; then
    log "building ticketgw and loadgen (cargo build --profile dist; long when cold)"
    cargo build --profile dist -p ticketgw -p loadgen
fi
[[ -x $GW_BIN && -x $LG_BIN ]] || die "missing $GW_BIN or $LG_BIN (build with the dist profile)"

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# cpu_busy: percentage of all CPUs busy over 1 s.
cpu_busy() {
    local a b
    a=$(awk '/^cpu / {print $2+$3+$4+$6+$7+$8, $5}' /proc/stat); sleep 1
    b=$(awk '/^cpu / {print $2+$3+$4+$6+$7+$8, $5}' /proc/stat)
    awk -v a="$a" -v b="$b" 'BEGIN { split(a, x, " "); split(b, y, " ")
        busy = y[1] - x[1]; idle = y[2] - x[2]; printf "%.0f", 100 * busy / (busy + idle) }'
}

# wait_idle: until the host is at most 10% busy, WAIT_IDLE seconds at most.
wait_idle() {
    local busy waited=0
    busy=$(cpu_busy)
    while ((busy > 10 && waited < WAIT_IDLE)); do
        ((waited == 0)) && log "host ${busy}% busy; waiting up to ${WAIT_IDLE}s for it to go idle"
        sleep 4
        waited=$((waited + 5))
        busy=$(cpu_busy)
    done
    ((busy <= 10)) || log "warning: the host is ${busy}% busy before measuring; figures will be low/noisy"
    echo "$busy"
}

wait_ok() { # url pid seconds
    local i
    for ((i = 0; i < $3 * 20; i++)); do
        curl -fsS -o /dev/null --max-time 1 "$1" 2>/dev/null && return 0
        kill -0 "$2" 2>/dev/null || die "ticketgw exited before $1 answered (see $WORK/*.log)"
        sleep 0.05
    done
    die "$1 did not answer within $3 s"
}

run_backend() {
    local backend=$1 rate db_url raw_args=() env_db=() port busy_before busy_after
    port=$(free_port)
    case $backend in
    postgres)
        rate=$PG_RATE
        PG_DB="tg_holds_$(date +%s)_$$"
        createdb -h 127.0.0.1 -U postgres "$PG_DB"
        db_url=$PG_BASE_URL/$PG_DB
        env_db=(DATABASE_URL="$db_url" TICKETGW_DATA_DIR="$WORK/pg-data")
        ;;
    sqlite)
        rate=$SQLITE_RATE
        mkdir -p "$WORK/sqlite-data" "$WORK/sqlite-raw"
        db_url=sqlite://$WORK/sqlite-data/ticketgw.db
        env_db=(TICKETGW_DATA_DIR="$WORK/sqlite-data")
        # The raw ceiling on SQLite: a scratch file with the platform's settings.
        raw_args=(--raw-database-url "sqlite://$WORK/sqlite-raw/bench_hot.db")
        ;;
    *) die "unknown backend $backend" ;;
    esac
    local env_gw=(
        "${env_db[@]}"
        PORT="$port" TICKETGW_BIND=127.0.0.1 TICKETGW_DEMO=0
        RUST_LOG=warn TICKETGW_LOG_FORMAT=json
        TICKETGW_DB_POOL_SIZE="$POOL_SIZE"
        TICKETGW_BOOKING_MAX_INFLIGHT="$MAX_INFLIGHT"
        # Every buyer holds over and over: the per-buyer cap is out of the way.
        TICKETGW_MAX_HELD_PER_USER=100000
        # All load comes from 127.0.0.1: the per-IP hold limit is off.
        TICKETGW_HOLD_RATE_PER_IP=0
        TICKETGW_AUTH_RATE_PER_IP=100000 TICKETGW_AUTH_RATE_PER_ACCOUNT=100000
    )
    log "$backend: admin, migrations"
    env "${env_gw[@]}" "$GW_BIN" admin create --email "$ADMIN_EMAIL" --password "$ADMIN_PASSWORD" \
        >"$WORK/$backend-admin.log" 2>&1 || { cat "$WORK/$backend-admin.log" >&2; die "admin create failed"; }
    busy_before=$(wait_idle)
    log "$backend: ticketgw on 127.0.0.1:$port (pool $POOL_SIZE, max in flight $MAX_INFLIGHT)"
    env "${env_gw[@]}" "$GW_BIN" </dev/null >"$WORK/$backend-server.log" 2>&1 &
    GW_PID=$!
    wait_ok "http://127.0.0.1:$port/healthz" "$GW_PID" 30
    local status=0
    "$LG_BIN" --url "http://127.0.0.1:$port" --label "$backend" \
        --admin-email "$ADMIN_EMAIL" --admin-password "$ADMIN_PASSWORD" \
        --buyers "$BUYERS" --capacity "$CAPACITY" \
        --rate "$rate" --duration "$DURATION" --warmup "$WARMUP" \
        --overload-factor "$OVERLOAD_FACTOR" \
        --database-url "$db_url" "${raw_args[@]}" \
        --raw-seconds "$RAW_SECONDS" --raw-connections "$POOL_SIZE" \
        --wait-idle "$WAIT_IDLE_PHASE" --server-pid "$GW_PID" \
        --json "$WORK/$backend.json" >"$WORK/$backend.txt" 2>"$WORK/$backend-progress.txt" || status=$?
    cat "$WORK/$backend-progress.txt" >&2
    cat "$WORK/$backend.txt" >&2
    GW_RSS_KB=$(awk '/^VmRSS:/ {print $2}' "/proc/$GW_PID/status" 2>/dev/null || echo 0)
    kill -TERM "$GW_PID" 2>/dev/null || true
    wait "$GW_PID" 2>/dev/null || true
    GW_PID=""
    busy_after=$(cpu_busy)
    echo "$backend $busy_before $busy_after $GW_RSS_KB $status" >>"$WORK/hosts.txt"
    if [[ $backend == postgres ]]; then
        dropdb -h 127.0.0.1 -U postgres "$PG_DB" || true
        PG_DB=""
    fi
    ((status == 0 || status == 3)) || die "loadgen failed on $backend (exit $status)"
}

: >"$WORK/hosts.txt"
for b in $BACKENDS; do
    run_backend "$b"
done

# --- summary -------------------------------------------------------------------
commit=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
dirty=$(git status --porcelain -- shared functions ticketgw bench/loadgen Cargo.toml Cargo.lock 2>/dev/null | wc -l)
cpu=$(awk -F': *' '/^model name/ {print $2; exit}' /proc/cpuinfo)
pg_sync=$(psql "$PG_BASE_URL/postgres" -qAtc 'SHOW synchronous_commit' 2>/dev/null || echo '?')
summary() {
    echo "Ticket Gateway hold load benchmark  $(date '+%Y-%m-%d %H:%M:%S %Z')"
    echo "host: $(nproc) cores, ${cpu:-unknown CPU}, $(uname -sr); PostgreSQL synchronous_commit=$pg_sync"
    echo "build: $(rustc --version 2>/dev/null || echo 'rustc ?'), profile dist; git $commit ($dirty changed files in the sources)"
    echo "binaries: ticketgw built $(date -r "$GW_BIN" '+%Y-%m-%d %H:%M:%S'), loadgen built $(date -r "$LG_BIN" '+%Y-%m-%d %H:%M:%S')${SKIP_BUILD:+ (SKIP_BUILD=$SKIP_BUILD)}"
    echo "knobs: TICKETGW_DB_POOL_SIZE=$POOL_SIZE TICKETGW_BOOKING_MAX_INFLIGHT=$MAX_INFLIGHT TICKETGW_HOLD_RATE_PER_IP=0 (off: all load is from 127.0.0.1)"
    echo "       TICKETGW_MAX_HELD_PER_USER=100000; $BUYERS buyers; capacity $CAPACITY per phase; warm-up ${WARMUP}s, peak and overload ${DURATION}s each"
    echo
    python3 - "$WORK" $BACKENDS <<'EOF'
import json, sys
work, backends = sys.argv[1], sys.argv[2:]
hosts = {}
for line in open(f"{work}/hosts.txt"):
    b, before, after, rss, status = line.split()
    hosts[b] = (before, after, int(rss), int(status))
runs = {b: json.load(open(f"{work}/{b}.json")) for b in backends}

def phase(r, name):
    return next((p for p in r["phases"] if p["phase"] == name), None)

def f(v, fmt="{:.0f}"):
    return "-" if v is None else fmt.format(v)

def lat(p, kind, keys=("p50", "p99")):
    if p is None or p["latency_ms"][kind]["n"] == 0:
        return "-"
    return " / ".join(f(p["latency_ms"][kind][k], "{:.1f}") for k in keys)

rows = []
def row(label, fn, target=""):
    rows.append((label, [fn(runs[b]) for b in backends], target))

row("peak arrival rate (req/s)", lambda r: f(phase(r, "peak")["rate"]))
row("peak holds/s (201s/s while tickets left)", lambda r: f(r["peak_holds_per_s"]), ">= 1000 (PG)")
row("peak 201 p50 / p99 (ms)", lambda r: lat(phase(r, "peak"), "accepted"), "p99 <= 250")
row("peak all p50 / p99 / max (ms)", lambda r: lat(phase(r, "peak"), "all", ("p50", "p99", "max")))
row("peak 201 / sold out / 429+503 / errors", lambda r: "{} / {} / {} / {}".format(
    phase(r, "peak")["held"], phase(r, "peak")["sold_out"],
    phase(r, "peak")["rate_limited_429"] + phase(r, "peak")["overloaded_503"], phase(r, "peak")["errors"]))
row("oversold (DB audit, all phases)", lambda r: f(r["oversold"]), "0")
row("raw ceiling (hot UPDATE/s, autocommit)", lambda r: f(r["raw"]["updates_per_s"]) if r["raw"] else "-")
row("ratio peak holds/s / raw ceiling", lambda r: f(r["ratio_peak_to_raw"], "{:.2f}"))
row("overload arrival rate (req/s)", lambda r: f(phase(r, "overload")["rate"]) if phase(r, "overload") else "-", "5 x peak")
row("overload holds/s (share of peak)", lambda r: "{:.0f} ({:.2f})".format(
    phase(r, "overload")["holds_per_s"], r["overload_holds_share_of_peak"]) if phase(r, "overload") else "-", ">= 0.90 of peak")
row("overload refused 429+503 (w/o Retry-After)", lambda r: "{} ({})".format(
    phase(r, "overload")["rate_limited_429"] + phase(r, "overload")["overloaded_503"],
    phase(r, "overload")["refused_without_retry_after"]) if phase(r, "overload") else "-", "(0)")
row("overload refused p50 / p99 (ms)", lambda r: lat(phase(r, "overload"), "refused"), "p99 <= 50")
row("overload 201 p50 / p99 (ms)", lambda r: lat(phase(r, "overload"), "accepted"))
row("overload max latency (ms)", lambda r: f(phase(r, "overload")["latency_ms"]["all"]["max"]) if phase(r, "overload") else "-", "<= 1000")
row("requests > 1 s / errors (all phases)", lambda r: "{} / {}".format(
    sum(p["over_1s"] for p in r["phases"]), sum(p["errors"] for p in r["phases"])), "0 / 0")
row("other work on the host, peak / overload (% of a core)", lambda r: " / ".join(
    f(p["cpu"]["other_work_pct_of_one_core"]) if p and p["cpu"] else "-" for p in (phase(r, "peak"), phase(r, "overload"))), "~0")
row("host busy before / after (other work)", lambda r: "")
rows[-1] = (rows[-1][0], [f"{hosts[b][0]}% / {hosts[b][1]}%" for b in backends], "")
row("ticketgw RSS after buyers' login / after the run (MiB)", lambda r: "")
rows[-1] = (rows[-1][0], [f"{(runs[b].get('server_rss_kib_after_setup') or 0) / 1024:.0f} / {hosts[b][2] / 1024:.0f}" for b in backends], "")

w0 = max(len(r[0]) for r in rows)
ws = [max(len(b), *(len(r[1][i]) for r in rows)) for i, b in enumerate(backends)]
print("  ".join([" " * w0] + [b.ljust(w) for b, w in zip(backends, ws)] + ["target"]))
for label, vals, target in rows:
    print("  ".join([label.ljust(w0)] + [v.ljust(w) for v, w in zip(vals, ws)] + [target]))
print()
for b in backends:
    r = runs[b]
    for name in ("peak", "overload"):
        p = phase(r, name)
        if p is None or not p["cpu"]:
            continue
        progs = ", ".join(f'{x["name"]} {x["pct"]:.0f}%' for x in p["cpu"]["programs_pct_of_one_core"])
        print(f"cpu {b} {name}: host {p['cpu']['host_busy_pct']:.0f}% busy of {p['cpu']['cores']:.0f} cores; {progs}; other work {p['cpu']['other_work_pct_of_one_core']:.0f}%")
    if r["raw"] and r["raw"]["cpu"]:
        progs = ", ".join(f'{x["name"]} {x["pct"]:.0f}%' for x in r["raw"]["cpu"]["programs_pct_of_one_core"])
        print(f"cpu {b} raw ceiling: host {r['raw']['cpu']['host_busy_pct']:.0f}% busy; {progs}; other work {r['raw']['cpu']['other_work_pct_of_one_core']:.0f}%")
for b in backends:
    if hosts[b][3] == 3:
        print(f"{b}: OVERSOLD tickets found (loadgen exit 3)")
EOF
    echo
    echo "Latency runs from each request's scheduled send time (open loop) to the end of its response;"
    echo "loadgen, ticketgw and the database share the host's $(nproc) cores. Percent of one core per program."
}

mkdir -p "$RESULTS_DIR"
summary | tee "$RESULT_FILE"
{
    echo
    echo "==================== details ===================="
    for b in $BACKENDS; do
        echo "--- $b: loadgen progress"; cat "$WORK/$b-progress.txt"
        echo "--- $b: loadgen report"; cat "$WORK/$b.txt"
        echo "--- $b: loadgen JSON"; cat "$WORK/$b.json"; echo
        echo "--- $b: ticketgw log (last 20 lines)"; tail -n 20 "$WORK/$b-server.log"
    done
} >>"$RESULT_FILE"
log "summary written to ${RESULT_FILE#"$ROOT"/}"
