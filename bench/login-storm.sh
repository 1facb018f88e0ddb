#!/usr/bin/env bash
# Memory under a login storm: peak resident size (VmHWM) of
#   1. the identity function binary during 1,000 logins (16 clients at once),
#      with TICKETGW_PASSWORD_HASHING=1 and =4 (argon2 computations at once);
#   2. the local platform `ticketgw` after 200 registrations + 200 logins.
# argon2id (m=19 MiB) takes its working memory from a pool bounded by
# TICKETGW_PASSWORD_HASHING, so the peak stays flat however long the storm.
#
#   bash bench/login-storm.sh     (builds target/dist/{identity,ticketgw} unless SKIP_BUILD=1)
#   LOGINS=1000 CLIENTS=16 bash bench/login-storm.sh
set -euo pipefail
cd "$(dirname "$0")/.."
LOGINS=${LOGINS:-1000}
BIN_DIR=${BIN_DIR:-target/dist}   # target/debug for a quick look (dev profile)
CLIENTS=${CLIENTS:-16}
if [[ ${SKIP_BUILD:-0} != 1 ]]; then
  cargo build --profile dist -p identity -p ticketgw
fi

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# storm <base url> <pid> <registrations> <logins>: prints the peak RSS in MiB.
storm() {
  python3 - "$@" <<'PY'
import json, sys, threading, time, urllib.request, urllib.error
base, pid, regs, logins, clients = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
def post(path, body):
    req = urllib.request.Request(base + path, data=json.dumps(body).encode(), headers={"content-type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=120) as r: return r.status
    except urllib.error.HTTPError as e: return e.code
def hwm():
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmHWM:"): return int(line.split()[1]) / 1024
def rss():
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS:"): return int(line.split()[1]) / 1024
start = rss()
accounts = [f"storm{i}@example.test" for i in range(max(regs, 1))]
def run(jobs):
    jobs = list(jobs); lock = threading.Lock(); bad = []
    def worker():
        while True:
            with lock:
                if not jobs: return
                path, body = jobs.pop()
            s = post(path, body)
            if s not in (200, 201): bad.append(s)
    ts = [threading.Thread(target=worker) for _ in range(clients)]
    [t.start() for t in ts]; [t.join() for t in ts]
    if bad: sys.exit(f"unexpected statuses: {sorted(set(bad))} x{len(bad)}")
pw = "storm password 123"
t = time.time()
run(("/v1/auth/register", {"email": a, "password": pw, "name": "Storm"}) for a in accounts[:max(regs, 1)])
run(("/v1/auth/login", {"email": accounts[i % len(accounts)], "password": pw}) for i in range(logins))
print(f"{start:.0f} MiB at start, peak {hwm():.0f} MiB, {rss():.0f} MiB after; {regs} registrations + {logins} logins in {time.time() - t:.1f} s")
PY
}

run_one() { # <label> <binary> <registrations> <logins> [env...]
  local label=$1 bin=$2 regs=$3 logins=$4; shift 4
  local data port pid
  data=$(mktemp -d); port=$(free_port)
  env "$@" TICKETGW_DATA_DIR="$data" DATABASE_URL="sqlite://$data/storm.db" PORT="$port" \
    TICKETGW_BIND=127.0.0.1 RUST_LOG=warn TICKETGW_DEMO=0 \
    TICKETGW_AUTH_RATE_PER_IP=1000000 TICKETGW_AUTH_RATE_PER_ACCOUNT=1000000 "$bin" >/dev/null 2>&1 &
  pid=$!
  for _ in $(seq 200); do curl -sf "http://127.0.0.1:$port/healthz" >/dev/null && break; sleep 0.05; done
  printf '%-44s ' "$label:"
  storm "http://127.0.0.1:$port" "$pid" "$regs" "$logins" "$CLIENTS" || true
  kill "$pid"; wait "$pid" 2>/dev/null || true; rm -rf "$data"
}

run_one "identity, TICKETGW_PASSWORD_HASHING=1, $LOGINS logins" "$BIN_DIR/identity" 1 "$LOGINS" TICKETGW_PASSWORD_HASHING=1
run_one "identity, TICKETGW_PASSWORD_HASHING=4, $LOGINS logins" "$BIN_DIR/identity" 1 "$LOGINS" TICKETGW_PASSWORD_HASHING=4
run_one "ticketgw, 200 registrations + 200 logins" "$BIN_DIR/ticketgw" 200 200
