#!/usr/bin/env bash
# Web app figures (see bench/README.md, "Web app"):
#   1. first-load JavaScript per route, raw and gzip (what a first visit in
#      Chromium downloads from the web server);
#   2. the event page at a phone viewport (390x844) with 4x CPU throttling:
#      Largest Contentful Paint and Total Blocking Time (median of RUNS);
#   3. a scripted buyer from landing on / to a paid ticket's confirmation;
#   4. the standalone output's size, and `node server.js` cold start to the
#      first 200 of `/` (bench/coldstart.py).
# The platform is the local one: ticketgw (target/release, else target/debug;
# GW_BIN) on a fresh SQLite data folder with the demo data, and the web app's
# standalone server, both on free ports.
#
#   bash bench/web.sh                 # builds web/ (next build) first
#   SKIP_BUILD=1 bash bench/web.sh    # reuse web/.next
#
# Knobs: RUNS (5 browser runs; the cold start takes 3 x RUNS), GW_BIN,
# CHROMIUM_PATH (/usr/bin/chromium), WEB_DIR (web: a copy of it may be
# measured instead). Writes bench/results/web-<date>.txt too.
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-5}
export CHROMIUM_PATH=${CHROMIUM_PATH:-/usr/bin/chromium}
export NEXT_TELEMETRY_DISABLED=1
web=${WEB_DIR:-web}
standalone=$web/.next/standalone
work=$(mktemp -d)
gw_pid=""
web_pid=""

log() { printf '== %s\n' "$*" >&2; }
die() { log "FATAL: $*"; exit 1; }
cleanup() {
  for pid in $web_pid $gw_pid; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in $web_pid $gw_pid; do wait "$pid" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_ok() {
  for _ in $(seq 1 300); do curl -fs -o /dev/null --max-time 2 "$1" && return 0; sleep 0.2; done
  die "$1 did not answer"
}

if [ -z "${GW_BIN:-}" ]; then
  if [ -x target/release/ticketgw ]; then GW_BIN=target/release/ticketgw; else GW_BIN=target/debug/ticketgw; fi
fi
[ -x "$GW_BIN" ] || die "$GW_BIN missing: cargo build --release -p ticketgw"
[ -x "$CHROMIUM_PATH" ] || die "$CHROMIUM_PATH missing: apt-get install -y chromium"
if [ "${SKIP_BUILD:-0}" != 1 ]; then
  log "next build"
  (cd "$web" && npm run build >&2)
fi
[ -f "$standalone/server.js" ] || die "no $standalone/server.js: build $web first"
rm -rf "$standalone/.next/static" "$standalone/public"
cp -a "$web/.next/static" "$standalone/.next/static"
[ ! -d "$web/public" ] || cp -a "$web/public" "$standalone/public"

api_port=$(free_port)
web_port=$(free_port)
api_url="http://127.0.0.1:$api_port"
web_url="http://127.0.0.1:$web_port"
secret=$(head -c 32 /dev/urandom | base64 | tr -d '=+/\n')
log "ticketgw ($GW_BIN) on $api_url, web on $web_url"
PORT=$api_port TICKETGW_DATA_DIR="$work/data" TICKETGW_PUBLIC_URL=$api_url TICKETGW_WEB_URL=$web_url \
  TICKETGW_AUTH_RATE_PER_IP=10000 TICKETGW_AUTH_RATE_PER_ACCOUNT=10000 TICKETGW_HOLD_RATE_PER_IP=0 \
  RUST_LOG=warn "$GW_BIN" >"$work/api.log" 2>&1 &
gw_pid=$!
wait_ok "$api_url/readyz"
web_env=(NODE_ENV=production HOSTNAME=127.0.0.1 WEB_URL=$web_url TICKETGW_API_URL=$api_url
  OIDC_ISSUER=$api_url OIDC_CLIENT_ID=ticketgw-web SESSION_SECRET=$secret NEXT_TELEMETRY_DISABLED=1)
env "${web_env[@]}" PORT=$web_port node "$standalone/server.js" >"$work/web.log" 2>&1 &
web_pid=$!
wait_ok "$web_url/"

# A published event with plenty of tickets (the demo organizer's), and a buyer.
token=$(curl -fsS "$api_url/v1/auth/login" -H 'content-type: application/json' \
  -d '{"email":"organizer@demo.test","password":"demo-organizer-pass"}' | python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])')
starts=$(date -u -d '+30 days' +%Y-%m-%dT18:00:00Z)
ends=$(date -u -d '+30 days' +%Y-%m-%dT22:00:00Z)
event=$(curl -fsS "$api_url/v1/events" -H "authorization: Bearer $token" -H 'content-type: application/json' \
  -d "{\"title\":\"Bench Night\",\"description\":\"A night for measuring.\",\"venue\":\"Hall\",\"city\":\"Berlin\",\"category\":\"music\",\"timezone\":\"Europe/Berlin\",\"starts_at\":\"$starts\",\"ends_at\":\"$ends\"}" |
  python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
curl -fsS -o /dev/null "$api_url/v1/events/$event/ticket-types" -H "authorization: Bearer $token" -H 'content-type: application/json' \
  -d '{"name":"General admission","price_cents":2500,"currency":"EUR","capacity":1000,"max_per_order":4}'
curl -fsS -o /dev/null -X POST "$api_url/v1/events/$event/publish" -H "authorization: Bearer $token"
buyer_email="bench-buyer-$(date +%s)@example.test"
buyer_password="bench buyer password $(date +%s)"
curl -fsS -o /dev/null "$api_url/v1/auth/register" -H 'content-type: application/json' \
  -d "{\"email\":\"$buyer_email\",\"password\":\"$buyer_password\",\"name\":\"Bench Buyer\"}"

log "browser figures ($RUNS runs)"
WEB_URL=$web_url API_URL=$api_url EVENT_ID=$event RUNS=$RUNS BUYER_EMAIL=$buyer_email BUYER_PASSWORD=$buyer_password \
  node bench/web-measure.mjs >"$work/browser.json"

log "standalone size and cold start"
size_bytes=$(du -sb "$standalone" | cut -f1)
files=$(find "$standalone" -type f | wc -l)
cold_env=()
for kv in "${web_env[@]}"; do cold_env+=(--env "$kv"); done
python3 bench/coldstart.py --runs $((RUNS * 3)) --path / --timeout 30 --quiet "${cold_env[@]}" \
  --json "$work/cold.json" -- node "$(cd "$standalone" && pwd)/server.js" >&2

mkdir -p bench/results
out="bench/results/web-$(date -u +%Y%m%d_%H%M%S).txt"
python3 - "$work/browser.json" "$work/cold.json" "$size_bytes" "$files" "$GW_BIN" <<'EOF' | tee "$out"
import json, sys
b = json.load(open(sys.argv[1])); c = json.load(open(sys.argv[2]))
size, files, gw = int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
print(f"Web app figures (ticketgw: {gw})")
print("\nFirst-load JavaScript per route (the scripts the page's HTML names; gzip -6),")
print("and everything fetched by network idle (prefetches and lazy chunks too):")
print(f"  {'route':<44} {'files':>5} {'raw KiB':>9} {'gzip KiB':>9}   {'idle files':>10} {'idle gzip KiB':>13}")
for r in b["firstLoadJs"]:
    a = r["byNetworkIdle"]
    print(f"  {r['route']:<44} {r['files']:>5} {r['rawBytes']/1024:>9.1f} {r['gzipBytes']/1024:>9.1f}"
          f"   {a['files']:>10} {a['gzipBytes']/1024:>13.1f}")
e = b["eventPage"]
print(f"\nEvent page, phone 390x844, CPU throttled {e['cpuThrottling']}x:")
print(f"  LCP median {e['lcpMs']['median']:.0f} ms (runs {e['lcpMs']['runs']})")
print(f"  TBT median {e['tbtMs']['median']:.0f} ms (runs {e['tbtMs']['runs']})")
p = b.get("purchase")
if p and "medianMs" in p:
    print(f"\nScripted buyer, landing to paid ticket: median {p['medianMs']/1000:.2f} s (runs {p['runsMs']} ms)")
elif p:
    print(f"\nScripted buyer: not measured ({p.get('error')})")
s = c["ready_ms"]
print(f"\nStandalone output: {size/1048576:.1f} MiB in {files} files")
print(f"node server.js cold start to the first 200 of /: median {s['median']:.0f} ms, "
      f"p90 {s['p90']:.0f} ms, min {s['min']:.0f}, max {s['max']:.0f} (n={s['n']})")
EOF
log "written to $out"
