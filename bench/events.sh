#!/usr/bin/env bash
# Events pipeline benchmark (PostgreSQL + RabbitMQ + a real SMTP server):
#
#  A. outbox lag under the bookings benchmark's load: the local platform
#     (dist ticketgw) with the relay publishing to RabbitMQ
#     (TICKETGW_RELAY_TARGET=amqp, publisher confirms) while bench/loadgen
#     drives the holds benchmark (peak, then 5x overload). Lag = the event's
#     time (written in the hold's transaction) to the broker's confirm
#     (`sent_at`), read from the database for every row.
#  B. confirmation to email: bench/loadgen's payflow buys tickets end to end
#     (hold, checkout, simulated payment, signed webhook, confirmed); the
#     booking.confirmed event goes outbox -> relay -> RabbitMQ -> dispatcher
#     -> notification handler -> SMTP (aiosmtpd on loopback). Latency = the
#     SMTP server's receipt time minus the confirmation's time (the UUIDv7
#     event id in the Message-ID carries it, in ms).
#
#   bash bench/events.sh            # from the repository root
#
# Knobs: SKIP_BUILD=1, RATE (1000 holds/s), DURATION (10 s), BUYERS (500),
# PAY_CONCURRENCY (16), PAY_DURATION (15 s), AMQP_URL, PG_BASE_URL,
# TEST_PYTHON (a Python with aiosmtpd; default the venv .ci/run builds).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$(pwd)
RATE=${RATE:-1000}
DURATION=${DURATION:-10}
BUYERS=${BUYERS:-500}
PAY_CONCURRENCY=${PAY_CONCURRENCY:-16}
PAY_DURATION=${PAY_DURATION:-15}
AMQP_URL=${AMQP_URL:-amqp://guest:guest@127.0.0.1:5672/%2f}
PG_BASE_URL=${PG_BASE_URL:-postgres://postgres@127.0.0.1:5432}
TEST_PYTHON=${TEST_PYTHON:-${TICKETGW_TEST_PYTHON:-$HOME/.cache/ticketgw-test-venv/bin/python}}
GW_BIN=$ROOT/target/dist/ticketgw
LG_BIN=$ROOT/target/dist/loadgen
PF_BIN=$ROOT/target/dist/payflow
ADMIN_EMAIL=admin@events.test
ADMIN_PASSWORD="events bench admin password"
STAMP=$(date +%Y-%m-%d_%H%M%S)
WORK=$(mktemp -d "${TMPDIR:-/tmp}/tg-events.XXXXXX")
RESULT_FILE=$ROOT/bench/results/events-$STAMP.txt
GW_PID="" SINK_PID="" PG_DB=""
unset DATABASE_URL TICKETGW_DATA_DIR PORT TICKETGW_DEMO TICKETGW_RELAY_TARGET || true

log() { printf '==> %s\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }
cleanup() {
    [[ -n $GW_PID ]] && { kill -TERM "$GW_PID" 2>/dev/null; wait "$GW_PID" 2>/dev/null || true; }
    [[ -n $SINK_PID ]] && { kill -TERM "$SINK_PID" 2>/dev/null; wait "$SINK_PID" 2>/dev/null || true; }
    [[ -n $PG_DB ]] && dropdb -h 127.0.0.1 -U postgres --if-exists "$PG_DB" 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT
free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

[[ -x $TEST_PYTHON ]] || die "no Python with aiosmtpd at $TEST_PYTHON (run .ci/run once, or set TEST_PYTHON)"
if [[ ${SKIP_BUILD:-0} != 1 ]]; then
    log "building ticketgw and loadgen (cargo build --profile dist)"
    cargo build --profile dist -p ticketgw -p loadgen
fi
[[ -x $GW_BIN && -x $LG_BIN && -x $PF_BIN ]] || die "missing dist binaries"
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

smtp_port=$(free_port)
"$TEST_PYTHON" shared/testkit/py/smtp_sink.py --port "$smtp_port" --out "$WORK/sink.jsonl" </dev/null >"$WORK/sink.log" 2>&1 &
SINK_PID=$!
PG_DB="tg_events_$(date +%s)_$$"
createdb -h 127.0.0.1 -U postgres "$PG_DB"
db_url=$PG_BASE_URL/$PG_DB
port=$(free_port)
env_gw=(
    DATABASE_URL="$db_url" TICKETGW_DATA_DIR="$WORK/data" PORT="$port" TICKETGW_BIND=127.0.0.1
    TICKETGW_DEMO=0 RUST_LOG=warn TICKETGW_LOG_FORMAT=json TICKETGW_PAYMENT_PROVIDER=simulated
    TICKETGW_MAX_HELD_PER_USER=100000 TICKETGW_HOLD_RATE_PER_IP=0
    TICKETGW_AUTH_RATE_PER_IP=100000 TICKETGW_AUTH_RATE_PER_ACCOUNT=100000
    TICKETGW_RELAY_TARGET=amqp TICKETGW_AMQP_URL="$AMQP_URL"
    TICKETGW_AMQP_EXCHANGE="bench.events.$STAMP" TICKETGW_DISPATCH_QUEUE="bench.events.$STAMP.notifications"
    TICKETGW_SMTP_URL="smtp://127.0.0.1:$smtp_port" TICKETGW_NOTIFY_DAILY_CAP=0
)
env "${env_gw[@]}" "$GW_BIN" admin create --email "$ADMIN_EMAIL" --password "$ADMIN_PASSWORD" >/dev/null
env "${env_gw[@]}" "$GW_BIN" </dev/null >"$WORK/server.log" 2>&1 &
GW_PID=$!
for _ in $(seq 1 100); do curl -fsS -o /dev/null "http://127.0.0.1:$port/healthz" 2>/dev/null && break; sleep 0.1; done

log "A: holds at $RATE/s for ${DURATION}s (then 5x overload) with the relay publishing to RabbitMQ"
"$LG_BIN" --url "http://127.0.0.1:$port" --label events \
    --admin-email "$ADMIN_EMAIL" --admin-password "$ADMIN_PASSWORD" \
    --buyers "$BUYERS" --capacity 10000 --rate "$RATE" --duration "$DURATION" --warmup 2 \
    --overload-factor 5 --database-url "$db_url" --raw-seconds 1 --raw-connections 2 \
    --wait-idle 0 --server-pid "$GW_PID" >"$WORK/holds.txt" 2>"$WORK/holds-progress.txt" || true
for _ in $(seq 1 300); do
    left=$(psql "$db_url" -qAtc "SELECT count(*) FROM outbox WHERE sent_at IS NULL AND dead_at IS NULL")
    [[ $left == 0 ]] && break; sleep 0.1
done
lag_holds=$(psql "$db_url" -qAtc "SELECT count(*) || ' events; p50 ' || round(1000*percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM sent_at - time))::numeric, 1) || ' ms, p99 ' || round(1000*percentile_cont(0.99) WITHIN GROUP (ORDER BY extract(epoch FROM sent_at - time))::numeric, 1) || ' ms, max ' || round(1000*max(extract(epoch FROM sent_at - time))::numeric, 1) || ' ms' FROM outbox WHERE sent_at IS NOT NULL AND type = 'booking.held'")
held_rate=$(awk '$1 == "peak" && $2 == "holds/s" && $3 ~ /^[0-9]/ {print $3; exit}' "$WORK/holds.txt" || true)
cp "$WORK/holds.txt" "$WORK/holds-report.txt" 2>/dev/null || true

log "B: $PAY_CONCURRENCY buyers purchasing for ${PAY_DURATION}s; confirmations mailed over SMTP"
: >"$WORK/sink.jsonl"
"$PF_BIN" --url "http://127.0.0.1:$port" --label events --concurrency "$PAY_CONCURRENCY" \
    --duration "$PAY_DURATION" --admin-email "$ADMIN_EMAIL" --admin-password "$ADMIN_PASSWORD" \
    --run-id "events-$STAMP" >"$WORK/payflow.txt" 2>&1 || true
confirmed=$(psql "$db_url" -qAtc "SELECT count(*) FROM outbox WHERE type = 'booking.confirmed'")
for _ in $(seq 1 600); do
    got=$(wc -l <"$WORK/sink.jsonl")
    ((got >= confirmed)) && break; sleep 0.1
done
lag_confirmed=$(psql "$db_url" -qAtc "SELECT round(1000*percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM sent_at - time))::numeric, 1) || ' / ' || round(1000*percentile_cont(0.99) WITHIN GROUP (ORDER BY extract(epoch FROM sent_at - time))::numeric, 1) || ' ms' FROM outbox WHERE sent_at IS NOT NULL AND type = 'booking.confirmed'")
email=$(python3 - "$WORK/sink.jsonl" <<'PY'
import json, sys, statistics, uuid
lat = []
for line in open(sys.argv[1]):
    r = json.loads(line)
    mid = (r.get("message_id") or "").strip("<>").split(".")[0]
    try:
        u = uuid.UUID(mid)
    except ValueError:
        continue
    ms = u.int >> 80  # UUIDv7: unix ms in the top 48 bits
    lat.append(r["received"] * 1000 - ms)
if not lat:
    print("no messages"); sys.exit()
lat.sort()
p = lambda q: lat[min(len(lat) - 1, int(q * len(lat)))]
print(f"{len(lat)} emails; median {statistics.median(lat):.0f} ms, p90 {p(0.9):.0f} ms, p99 {p(0.99):.0f} ms, max {lat[-1]:.0f} ms")
PY
)
mkdir -p bench/results
{
    echo "Ticket Gateway events pipeline benchmark  $(date '+%Y-%m-%d %H:%M:%S %Z')"
    echo "host: $(nproc) cores; git $(git rev-parse --short HEAD); dist ticketgw, relay -> RabbitMQ (confirms) -> dispatcher -> notifications -> aiosmtpd"
    echo "A. holds load: peak holds/s ${held_rate:-?} at arrival $RATE/s, then 5x overload"
    echo "   outbox lag (hold's commit time -> broker confirm), booking.held: $lag_holds"
    echo "B. purchases: $confirmed confirmations ($PAY_CONCURRENCY buyers, ${PAY_DURATION}s)"
    echo "   outbox lag booking.confirmed p50 / p99: $lag_confirmed"
    echo "   confirmation -> email accepted by the SMTP server: $email"
} | tee "$RESULT_FILE"
