#!/usr/bin/env bash
# Identity figures: login latency at the production argon2id parameters
# (m=19 MiB, t=2, p=1) on the local platform's dist binary, and the
# per-request cost of an authenticated call versus an anonymous one.
#
#   bash bench/identity.sh            (builds target/dist/ticketgw unless SKIP_BUILD=1)
#
# Token verification alone (cached key, ES256) is measured by
#   cargo run --release -p tg-auth --example verify_bench
set -euo pipefail
cd "$(dirname "$0")/.."
N=${N:-50}
if [[ ${SKIP_BUILD:-0} != 1 ]]; then
  cargo build --profile dist -p ticketgw
fi
bin=target/dist/ticketgw
data=$(mktemp -d)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
env TICKETGW_DATA_DIR="$data" PORT="$port" RUST_LOG=warn TICKETGW_LOG_FORMAT=json TICKETGW_DEMO=0 \
    TICKETGW_AUTH_RATE_PER_IP=100000 TICKETGW_AUTH_RATE_PER_ACCOUNT=100000 "$bin" >/dev/null 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null || true; rm -rf "$data"' EXIT
for _ in $(seq 200); do curl -sf "http://127.0.0.1:$port/healthz" >/dev/null && break; sleep 0.05; done
base="http://127.0.0.1:$port"
curl -sf "$base/v1/auth/register" -H 'content-type: application/json' \
  -d '{"email":"bench@example.test","password":"benchmark password 1","name":"Bench"}' >/dev/null
python3 - "$base" "$N" <<'PY'
import json, statistics, sys, time, urllib.request
base, n = sys.argv[1], int(sys.argv[2])
def post(path, body):
    req = urllib.request.Request(base + path, data=json.dumps(body).encode(), headers={"content-type": "application/json"})
    t = time.perf_counter(); r = urllib.request.urlopen(req); body = r.read(); return time.perf_counter() - t, json.loads(body)
def get(path, token=None):
    req = urllib.request.Request(base + path, headers={"authorization": f"Bearer {token}"} if token else {})
    t = time.perf_counter(); urllib.request.urlopen(req).read(); return time.perf_counter() - t
logins = []
for _ in range(n):
    dt, tok = post("/v1/auth/login", {"email": "bench@example.test", "password": "benchmark password 1"})
    logins.append(dt)
token = tok["access_token"]
me = [get("/v1/me", token) for _ in range(500)]
anon = [get("/healthz") for _ in range(500)]
q = lambda xs, p: sorted(xs)[min(len(xs) - 1, int(p * len(xs)))] * 1000
print(f"login (argon2id m=19456 KiB t=2 p=1), n={n}: p50 {q(logins, .5):.1f} ms, p99 {q(logins, .99):.1f} ms")
print(f"GET /v1/me (verify + profile lookup), n=500: p50 {q(me, .5):.3f} ms; GET /healthz p50 {q(anon, .5):.3f} ms")
PY
