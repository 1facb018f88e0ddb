#!/usr/bin/env bash
# Foundation figures of Ticket Gateway: cold start, idle memory, binary size
# and catalog read throughput of the `dist` builds. See bench/README.md.
#
#   bash bench/foundation.sh             # from the repository root
#
# Environment knobs (all optional):
#   SKIP_BUILD=1        reuse target/dist/* as they are (no cargo build)
#   RUNS=20             cold-start runs (after 1 unrecorded warm-up run)
#   POLL_US=50          cold-start probe pause, microseconds
#   WRK_THREADS=1 WRK_CONNECTIONS=32 WRK_DURATION=10s WRK_WARMUP=3s
#   WRK_ROUNDS=3        alternating healthz/event rounds (summary: medians)
#   WAIT_IDLE=300      wait up to this many seconds for the host to be <= 10%
#                       busy before measuring (0: measure at once)
#   BENCH_DATABASE_URL  PostgreSQL for catalog-query
#                       (default postgres://postgres@127.0.0.1:5432/test;
#                       nothing is written to it: migrations are off)
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$(pwd)

RUNS=${RUNS:-20}
POLL_US=${POLL_US:-50}
WRK_THREADS=${WRK_THREADS:-1}
WRK_CONNECTIONS=${WRK_CONNECTIONS:-32}
WRK_DURATION=${WRK_DURATION:-10s}
WRK_WARMUP=${WRK_WARMUP:-3s}
WRK_ROUNDS=${WRK_ROUNDS:-3}
PG_URL=${BENCH_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/test}

CQ_BIN=$ROOT/target/dist/catalog-query
GW_BIN=$ROOT/target/dist/ticketgw

# Targets.
T_COLD_MS=10
T_RSS_MIB=15
T_SIZE_MIB=20
T_RATIO=0.35

# Nothing inherited from the caller's shell may change what is measured
# (an admin token makes start-up write to the database; a Lambda runtime
# variable switches the server off).
unset DATABASE_URL TICKETGW_ADMIN_TOKEN AWS_LAMBDA_RUNTIME_API TICKETGW_DEMO \
      TICKETGW_DATA_DIR TICKETGW_DB_POOL_SIZE PORT || true

STAMP=$(date +%Y-%m-%d_%H%M%S)
RESULTS_DIR=$ROOT/bench/results
RESULT_FILE=$RESULTS_DIR/foundation-$STAMP.txt
WORK=$(mktemp -d "${TMPDIR:-/tmp}/tg-bench.XXXXXX")
PIDS=()

cleanup() {
    local pid
    for pid in "${PIDS[@]:-}"; do
        [[ -n $pid ]] && kill -TERM "$pid" 2>/dev/null && wait "$pid" 2>/dev/null || true
    done
    rm -rf "$WORK"
}
trap cleanup EXIT

log() { printf '==> %s\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

# One run at a time on this host: two runs would measure each other.
exec 9>"${TMPDIR:-/tmp}/ticketgw-foundation-bench.lock"
if ! flock -n 9; then
    log "another foundation.sh run holds ${TMPDIR:-/tmp}/ticketgw-foundation-bench.lock; waiting"
    flock 9
fi

# --- tools --------------------------------------------------------------------
as_root() { if [[ $(id -u) -eq 0 ]]; then "$@"; else sudo "$@"; fi; }

if ! command -v wrk >/dev/null 2>&1; then
    log "installing wrk (apt-get)"
    as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null
fi
for tool in wrk curl python3 file cargo; do
    command -v "$tool" >/dev/null 2>&1 || die "$tool is required"
done

# --- build --------------------------------------------------------------------
if [[ ${SKIP_BUILD:-0} != 1 ]]; then
    log "building catalog-query and ticketgw (cargo build --profile dist; long when cold)"
    cargo build --profile dist -p catalog-query -p ticketgw
fi
[[ -x $CQ_BIN && -x $GW_BIN ]] || die "missing $CQ_BIN or $GW_BIN (build with the dist profile)"

# --- helpers ------------------------------------------------------------------
free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# wait_ok URL PID SECONDS: until URL answers 2xx, or fail if PID exits.
wait_ok() {
    local url=$1 pid=$2 secs=$3 i
    for ((i = 0; i < secs * 20; i++)); do
        curl -fsS -o /dev/null --max-time 1 "$url" 2>/dev/null && return 0
        kill -0 "$pid" 2>/dev/null || die "process $pid exited before $url answered"
        sleep 0.05
    done
    die "$url did not answer within ${secs}s"
}

stop_pid() {
    local pid=$1
    kill -TERM "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    local keep=() p
    for p in "${PIDS[@]}"; do [[ $p != "$pid" ]] && keep+=("$p"); done
    PIDS=("${keep[@]:-}")
}

# to_ms "123.45us" -> 0.123 ; "1.20ms" -> 1.200 ; "1.01s" -> 1010.000
to_ms() {
    awk -v v="$1" 'BEGIN {
        n = v + 0; u = v; sub(/^[0-9.]+/, "", u)
        if (u == "us") n /= 1000; else if (u == "s") n *= 1000; else if (u == "m") n *= 60000
        printf "%.3f", n }'
}

# wrk_field FILE what
wrk_rps()      { awk '/^Requests\/sec:/ {print $2}' "$1"; }
wrk_pct()      { awk -v p="$2%" '$1 == p {print $2}' "$1"; }
wrk_non2xx()   { awk -F': *' '/Non-2xx or 3xx responses/ {print $2}' "$1" | tr -d ' '; }
wrk_sockerr()  { grep -E '^ *Socket errors' "$1" | sed 's/^ *//' || true; }
wrk_requests() { awk '/requests in/ {print $1}' "$1"; }

fcmp() { awk -v a="$1" -v op="$2" -v b="$3" 'BEGIN {
    r = (op == "<=") ? (a <= b) : (a >= b); exit !r }'; }
verdict() { if fcmp "$1" "$2" "$3"; then echo PASS; else echo MISS; fi; }

# cpu_busy: percentage of all CPUs busy over 1 s (other work skews every figure).
cpu_busy() {
    local a b
    a=$(awk '/^cpu / {print $2+$3+$4+$6+$7+$8, $5}' /proc/stat); sleep 1
    b=$(awk '/^cpu / {print $2+$3+$4+$6+$7+$8, $5}' /proc/stat)
    awk -v a="$a" -v b="$b" 'BEGIN { split(a, x, " "); split(b, y, " ")
        busy = y[1] - x[1]; idle = y[2] - x[2]; printf "%.0f", 100 * busy / (busy + idle) }'
}
# Wait (up to WAIT_IDLE seconds, default 300; 0 = don't) for the other work
# on the host to stop, so the figures measure the binaries, not a build.
BUSY_BEFORE=$(cpu_busy)
waited=0
while ((BUSY_BEFORE > 10 && waited < ${WAIT_IDLE:-300})); do
    ((waited == 0)) && log "host ${BUSY_BEFORE}% busy; waiting up to ${WAIT_IDLE:-300}s for it to go idle"
    sleep 4
    waited=$((waited + 5))
    BUSY_BEFORE=$(cpu_busy)
done
LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
if ((BUSY_BEFORE > 10)); then
    log "warning: the host is ${BUSY_BEFORE}% busy before measuring (load $LOAD_BEFORE); figures will be low/noisy"
fi

CQ_ENV=(
    TICKETGW_BIND=127.0.0.1
    DATABASE_URL="$PG_URL"
    TICKETGW_MIGRATE_ON_START=false
    RUST_LOG=warn
    TICKETGW_LOG_FORMAT=json
)

# --- a. cold start --------------------------------------------------------------
log "a. cold start of catalog-query: $RUNS runs (+1 warm-up), exec -> first 200 on /healthz"
cold_args=()
for kv in "${CQ_ENV[@]}"; do cold_args+=(--env "$kv"); done
python3 "$ROOT/bench/coldstart.py" --runs "$RUNS" --warmup 1 --poll-us "$POLL_US" \
    --path /healthz --json "$WORK/coldstart.json" "${cold_args[@]}" -- "$CQ_BIN" \
    >"$WORK/coldstart.txt" 2>"$WORK/coldstart.runs" \
    || { cat "$WORK/coldstart.runs" "$WORK/coldstart.txt" >&2; die "cold-start measurement failed"; }
cat "$WORK/coldstart.runs" "$WORK/coldstart.txt" >&2
read -r COLD_MIN COLD_MED COLD_P90 COLD_MAX LISTEN_MED SPAWN_MED < <(python3 - "$WORK/coldstart.json" <<'EOF'
import json, sys
r = json.load(open(sys.argv[1]))
s, l, p = r["ready_ms"], r["connect_ms"], r["spawn_ms"]
print(f'{s["min"]:.2f} {s["median"]:.2f} {s["p90"]:.2f} {s["max"]:.2f} {l["median"]:.2f} {p["median"]:.2f}')
EOF
)

# --- b. idle RSS ----------------------------------------------------------------
log "b. idle RSS of catalog-query (after a few requests, then 1 s idle)"
port=$(free_port)
env "${CQ_ENV[@]}" PORT="$port" "$CQ_BIN" </dev/null >"$WORK/cq.log" 2>&1 &
cq_pid=$!
PIDS+=("$cq_pid")
base=http://127.0.0.1:$port
wait_ok "$base/healthz" "$cq_pid" 10
for _ in $(seq 10); do curl -fsS -o /dev/null "$base/healthz"; done
READYZ=$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 "$base/readyz")  # opens a DB connection
READYZ2=$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 "$base/readyz")
METRICS=$(curl -s -o /dev/null -w '%{http_code}' "$base/metrics")
sleep 1
RSS_KB=$(awk '/^VmRSS:/ {print $2}' "/proc/$cq_pid/status")
HWM_KB=$(awk '/^VmHWM:/ {print $2}' "/proc/$cq_pid/status")
THREADS=$(awk '/^Threads:/ {print $2}' "/proc/$cq_pid/status")
stop_pid "$cq_pid"
RSS_MIB=$(awk -v k="$RSS_KB" 'BEGIN {printf "%.2f", k / 1024}')
HWM_MIB=$(awk -v k="$HWM_KB" 'BEGIN {printf "%.2f", k / 1024}')
log "   VmRSS ${RSS_MIB} MiB, VmHWM ${HWM_MIB} MiB, ${THREADS} threads (readyz $READYZ/$READYZ2, metrics $METRICS)"

# --- c. binary sizes --------------------------------------------------------------
log "c. binary sizes"
size_mib() { awk -v b="$(stat -c %s "$1")" 'BEGIN {printf "%.2f", b / 1048576}'; }
stripped() {
    local f; f=$(file -b "$1")
    if [[ $f == *"not stripped"* ]]; then echo "NOT stripped"
    elif [[ $f == *", stripped"* ]]; then echo stripped
    else echo "unknown ($f)"; fi
}
CQ_MIB=$(size_mib "$CQ_BIN"); CQ_STRIP=$(stripped "$CQ_BIN")
GW_MIB=$(size_mib "$GW_BIN"); GW_STRIP=$(stripped "$GW_BIN")
file "$CQ_BIN" "$GW_BIN" >"$WORK/file.txt"

# --- d. catalog read throughput ---------------------------------------------------
log "d. catalog read throughput on ticketgw (SQLite, demo data), $WRK_ROUNDS x wrk -t$WRK_THREADS -c$WRK_CONNECTIONS -d$WRK_DURATION per URL"
port=$(free_port)
data_dir=$WORK/gw-data
mkdir -p "$data_dir"
env TICKETGW_BIND=127.0.0.1 TICKETGW_DATA_DIR="$data_dir" RUST_LOG=warn TICKETGW_LOG_FORMAT=json \
    PORT="$port" "$GW_BIN" </dev/null >"$WORK/gw.log" 2>&1 &
gw_pid=$!
PIDS+=("$gw_pid")
base=http://127.0.0.1:$port
wait_ok "$base/healthz" "$gw_pid" 60
EVENT_ID=$(curl -fsS "$base/v1/events?limit=1" \
    | python3 -c 'import json, sys; print(json.load(sys.stdin)["items"][0]["id"])') \
    || die "no published event in the demo data"
event_url=$base/v1/events/$EVENT_ID
curl -fsS -o "$WORK/event.json" "$event_url" || die "GET $event_url failed"
EVENT_BYTES=$(stat -c %s "$WORK/event.json")
log "   event $EVENT_ID ($EVENT_BYTES-byte body)"

wrk_run() { # name url duration
    wrk -t"$WRK_THREADS" -c"$WRK_CONNECTIONS" -d"$3" --latency "$2" >"$WORK/wrk-$1.txt" 2>&1
}
wrk_run warm-healthz "$base/healthz" "$WRK_WARMUP"
wrk_run warm-event "$event_url" "$WRK_WARMUP"
# Alternate the two URLs for WRK_ROUNDS rounds; the summary takes medians,
# which damps the noise of a shared 2-core host.
: >"$WORK/rounds.txt"
H_BAD=0 E_BAD=0 SOCK_ERRS=""
for ((r = 1; r <= WRK_ROUNDS; r++)); do
    hf=$WORK/wrk-healthz-$r.txt ef=$WORK/wrk-event-$r.txt
    wrk_run "healthz-$r" "$base/healthz" "$WRK_DURATION"
    wrk_run "event-$r" "$event_url" "$WRK_DURATION"
    h=$(wrk_rps "$hf") e=$(wrk_rps "$ef")
    [[ -n $h && -n $e ]] || { cat "$hf" "$ef" >&2; die "could not read wrk output (see above)"; }
    ratio=$(awk -v e="$e" -v h="$h" 'BEGIN {printf "%.3f", e / h}')
    echo "$r $h $e $ratio $(to_ms "$(wrk_pct "$hf" 50)") $(to_ms "$(wrk_pct "$hf" 99)")" \
        "$(to_ms "$(wrk_pct "$ef" 50)") $(to_ms "$(wrk_pct "$ef" 99)")" >>"$WORK/rounds.txt"
    b=$(wrk_non2xx "$hf"); H_BAD=$((H_BAD + ${b:-0}))
    b=$(wrk_non2xx "$ef"); E_BAD=$((E_BAD + ${b:-0}))
    b=$(wrk_sockerr "$hf"); [[ -n $b ]] && SOCK_ERRS+="healthz round $r: $b; "
    b=$(wrk_sockerr "$ef"); [[ -n $b ]] && SOCK_ERRS+="event round $r: $b; "
    log "   round $r: healthz $h req/s, event $e req/s, ratio $ratio"
done
GW_RSS_KB=$(awk '/^VmRSS:/ {print $2}' "/proc/$gw_pid/status")
stop_pid "$gw_pid"

# col N FORMAT: median of column N of the rounds table.
col() {
    awk -v c="$1" '{print $c}' "$WORK/rounds.txt" | sort -g | awk -v f="$2\n" '{a[NR] = $1}
        END {printf f, (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2}'
}
H_RPS=$(col 2 %.2f) E_RPS=$(col 3 %.2f) RATIO=$(col 4 %.3f)
H_P50=$(col 5 %.3f) H_P99=$(col 6 %.3f) E_P50=$(col 7 %.3f) E_P99=$(col 8 %.3f)
RATIOS=$(awk '{printf "%s%s", sep, $4; sep = " / "}' "$WORK/rounds.txt")
GW_RSS_MIB=$(awk -v k="$GW_RSS_KB" 'BEGIN {printf "%.1f", k / 1024}')

BUSY_AFTER=$(cpu_busy)  # our processes are stopped: anything here is other work

# --- summary ------------------------------------------------------------------------
non2xx_verdict() { if [[ $1 == 0 && $2 == 0 ]]; then echo PASS; else echo MISS; fi; }
commit=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
dirty=$(git status --porcelain -- shared functions ticketgw Cargo.toml Cargo.lock 2>/dev/null | wc -l)
cpu=$(awk -F': *' '/^model name/ {print $2; exit}' /proc/cpuinfo)
summary() {
    echo "Ticket Gateway foundation benchmark  $(date '+%Y-%m-%d %H:%M:%S %Z')"
    echo "host: $(nproc) cores, ${cpu:-unknown CPU}, $(uname -sr)"
    echo "host CPU busy by other work: ${BUSY_BEFORE}% just before, ${BUSY_AFTER}% just after measuring (load average before: $LOAD_BEFORE)"
    echo "build: $(rustc --version 2>/dev/null || echo 'rustc ?'), profile dist; git $commit ($dirty changed files in the sources)"
    echo "binaries: catalog-query built $(date -r "$CQ_BIN" '+%Y-%m-%d %H:%M:%S'), ticketgw built $(date -r "$GW_BIN" '+%Y-%m-%d %H:%M:%S')${SKIP_BUILD:+ (SKIP_BUILD=$SKIP_BUILD)}"
    echo
    printf '%-46s %-28s %-10s %s\n' "Metric" "Measured" "Target" "Status"
    printf '%-46s %-28s %-10s %s\n' "------" "--------" "------" "------"
    printf '%-46s %-28s %-10s %s\n' "a. cold start catalog-query, median (n=$RUNS)" "$COLD_MED ms" "<= $T_COLD_MS ms" "$(verdict "$COLD_MED" '<=' "$T_COLD_MS")"
    printf '%-46s %-28s\n' "   min / p90 / max" "$COLD_MIN / $COLD_P90 / $COLD_MAX ms"
    printf '%-46s %-28s\n' "   median: spawn returned / listening" "$SPAWN_MED / $LISTEN_MED ms"
    printf '%-46s %-28s %-10s %s\n' "b. idle RSS catalog-query (VmRSS)" "$RSS_MIB MiB" "<= $T_RSS_MIB MiB" "$(verdict "$RSS_MIB" '<=' "$T_RSS_MIB")"
    printf '%-46s %-28s\n' "   VmHWM / threads / readyz" "$HWM_MIB MiB / $THREADS / $READYZ"
    printf '%-46s %-28s %-10s %s\n' "c. binary size catalog-query" "$CQ_MIB MiB ($CQ_STRIP)" "<= $T_SIZE_MIB MiB" "$(verdict "$CQ_MIB" '<=' "$T_SIZE_MIB")"
    printf '%-46s %-28s %-10s %s\n' "   binary size ticketgw" "$GW_MIB MiB ($GW_STRIP)" "<= $T_SIZE_MIB MiB" "$(verdict "$GW_MIB" '<=' "$T_SIZE_MIB")"
    printf '%-46s %-28s\n' "d. ticketgw GET /healthz (median of $WRK_ROUNDS)" "$H_RPS req/s"
    printf '%-46s %-28s\n' "   latency p50 / p99" "$H_P50 / $H_P99 ms"
    printf '%-46s %-28s\n' "   GET /v1/events/{id} (median of $WRK_ROUNDS)" "$E_RPS req/s"
    printf '%-46s %-28s\n' "   latency p50 / p99" "$E_P50 / $E_P99 ms"
    printf '%-46s %-28s %-10s %s\n' "   ratio event / healthz (median)" "$RATIO" ">= $T_RATIO" "$(verdict "$RATIO" '>=' "$T_RATIO")"
    printf '%-46s %-28s\n' "   ratio per round" "$RATIOS"
    printf '%-46s %-28s %-10s %s\n' "   non-2xx responses (healthz / event)" "$H_BAD / $E_BAD" "0" "$(non2xx_verdict "$H_BAD" "$E_BAD")"
    [[ -n $SOCK_ERRS ]] && printf '%-46s %s\n' "   wrk socket errors" "$SOCK_ERRS"
    printf '%-46s %-28s\n' "   ticketgw RSS after load" "$GW_RSS_MIB MiB"
    echo
    echo "wrk -t$WRK_THREADS -c$WRK_CONNECTIONS -d$WRK_DURATION --latency, $WRK_ROUNDS alternating rounds after a $WRK_WARMUP warm-up on each URL;"
    echo "server and wrk share the host's cores; latencies are medians over the rounds."
    echo "event $EVENT_ID, $EVENT_BYTES-byte body; catalog-query DATABASE_URL ${PG_URL%%@*}@… (lazy pool, no migrations)."
}

mkdir -p "$RESULTS_DIR"
summary | tee "$RESULT_FILE"
{
    echo
    echo "==================== details ===================="
    echo "--- cold start runs"; cat "$WORK/coldstart.runs" "$WORK/coldstart.txt"
    echo "--- file"; cat "$WORK/file.txt"
    echo "--- wrk rounds: round healthz_rps event_rps ratio healthz_p50 healthz_p99 event_p50 event_p99 (ms)"
    cat "$WORK/rounds.txt"
    for ((r = 1; r <= WRK_ROUNDS; r++)); do
        echo "--- wrk healthz round $r"; cat "$WORK/wrk-healthz-$r.txt"
        echo "--- wrk event round $r"; cat "$WORK/wrk-event-$r.txt"
    done
    echo "--- catalog-query log (RSS run)"; tail -n 20 "$WORK/cq.log"
    echo "--- ticketgw log"; tail -n 20 "$WORK/gw.log"
} >>"$RESULT_FILE"
log "summary written to ${RESULT_FILE#"$ROOT"/}"
