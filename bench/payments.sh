#!/usr/bin/env bash
# Payments benchmark: the whole purchase on the local platform, closed loop,
# on PostgreSQL (and SQLite): hold -> checkout -> simulated pay (a signed
# Stripe-format webhook, verified and applied) -> booking read back
# `confirmed`. Prints full flows per second, per-step p50/p99, and the
# webhook handling time the platform measured itself (/metrics histogram
# `payment_webhook_seconds`). See bench/README.md ("Payments").
#
#   bash bench/payments.sh                      # build (dist), PostgreSQL then SQLite
#   SKIP_BUILD=1 BACKENDS=postgres bash bench/payments.sh
#
# Knobs: CONCURRENCY (32 buyers running flows back to back), DURATION (15 s),
# POOL_SIZE (5), PG_BASE_URL (postgres://postgres@127.0.0.1:5432).
set -euo pipefail
cd "$(dirname "$0")/.."

BACKENDS=${BACKENDS:-postgres sqlite}
CONCURRENCY=${CONCURRENCY:-32}
DURATION=${DURATION:-15}
POOL_SIZE=${POOL_SIZE:-5}
PG_BASE_URL=${PG_BASE_URL:-postgres://postgres@127.0.0.1:5432}
GW_BIN=target/dist/ticketgw
PF_BIN=target/dist/payflow
ADMIN_EMAIL=bench-admin@payflow.test
ADMIN_PASSWORD=bench-admin-password-42
WORK=$(mktemp -d)
GW_PID=""
PG_DB=""

log() { printf '== %s\n' "$*" >&2; }
die() { log "FATAL: $*"; exit 1; }
cleanup() {
    [[ -n $GW_PID ]] && kill -TERM "$GW_PID" 2>/dev/null && wait "$GW_PID" 2>/dev/null || true
    [[ -n $PG_DB ]] && dropdb -h 127.0.0.1 -U postgres --if-exists "$PG_DB" 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT

ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
if [[ ${SKIP_BUILD:-0} != 1 ]]; then
    log "building ticketgw and payflow (cargo build --profile dist; long when cold)"
    cargo build --profile dist -p ticketgw -p loadgen
fi
[[ -x $GW_BIN && -x $PF_BIN ]] || die "missing $GW_BIN or $PF_BIN"

free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

for backend in $BACKENDS; do
    port=$(free_port)
    case $backend in
    postgres)
        PG_DB="tg_payflow_$(date +%s)_$$"
        createdb -h 127.0.0.1 -U postgres "$PG_DB"
        env_db=(DATABASE_URL="$PG_BASE_URL/$PG_DB" TICKETGW_DATA_DIR="$WORK/pg")
        ;;
    sqlite) env_db=(TICKETGW_DATA_DIR="$WORK/sqlite") ;;
    *) die "unknown backend $backend" ;;
    esac
    env_gw=(
        "${env_db[@]}" PORT="$port" TICKETGW_BIND=127.0.0.1 TICKETGW_DEMO=0
        RUST_LOG=warn TICKETGW_LOG_FORMAT=json TICKETGW_DB_POOL_SIZE="$POOL_SIZE"
        TICKETGW_PAYMENT_PROVIDER=simulated
        TICKETGW_MAX_HELD_PER_USER=100000 TICKETGW_HOLD_RATE_PER_IP=0
        TICKETGW_AUTH_RATE_PER_IP=100000 TICKETGW_AUTH_RATE_PER_ACCOUNT=100000
    )
    env "${env_gw[@]}" "$GW_BIN" admin create --email "$ADMIN_EMAIL" --password "$ADMIN_PASSWORD" >/dev/null
    env "${env_gw[@]}" "$GW_BIN" </dev/null >"$WORK/$backend-server.log" 2>&1 &
    GW_PID=$!
    for _ in $(seq 1 100); do curl -fsS -o /dev/null "http://127.0.0.1:$port/healthz" 2>/dev/null && break; sleep 0.1; done
    log "$backend: $CONCURRENCY buyers, ${DURATION}s"
    "$PF_BIN" --url "http://127.0.0.1:$port" --label "$backend" --concurrency "$CONCURRENCY" \
        --duration "$DURATION" --admin-email "$ADMIN_EMAIL" --admin-password "$ADMIN_PASSWORD" \
        --run-id "payflow-$backend"
    kill -TERM "$GW_PID" 2>/dev/null || true
    wait "$GW_PID" 2>/dev/null || true
    GW_PID=""
    if [[ -n $PG_DB ]]; then dropdb -h 127.0.0.1 -U postgres "$PG_DB" || true; PG_DB=""; fi
done
