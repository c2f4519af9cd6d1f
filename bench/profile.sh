#!/usr/bin/env bash
# CPU profile of the gateway under load: the bench's mock upstream, the gateway with --cpu-prof, wrk for
# DURATION seconds (default 10) at CONNECTIONS (default 16) against 127.0.0.1, then a summary by package and
# function. The .cpuprofile (bench/results/profile-*/) opens in Chrome DevTools or speedscope as a flame graph.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
HARNESS=${BENCH_HARNESS:-$ROOT/../shared/bench}
DURATION=${DURATION:-10}; CONNECTIONS=${CONNECTIONS:-16}; STREAM=${STREAM:-false}
OUT=$ROOT/bench/results/profile-$(date +%Y%m%d-%H%M%S); mkdir -p "$OUT"
# The node flags of `npm start` (the entry point is the last word).
START_FLAGS=$(cd "$ROOT" && node -p "require('./package.json').scripts.start.split(' ').slice(1, -1).join(' ')")
command -v wrk >/dev/null || { echo "wrk is needed (apt-get install wrk)" >&2; exit 2; }
node "$HARNESS/upstream.mjs" --port 18080 >"$OUT/upstream.log" 2>&1 & UP=$!
(cd "$ROOT" && GATEWAY_CONFIG=${BENCH_CONFIG:-config/bench.yaml} PORT=3000 exec node --cpu-prof --cpu-prof-dir="$OUT" $START_FLAGS dist/src/main.js) >"$OUT/gateway.log" 2>&1 & GW=$!
trap 'kill $UP 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do curl -s -o /dev/null localhost:3000/health/live && break; sleep 0.1; done
cat >"$OUT/body.json" <<JSON
{"model":"gpt-4o-mini","stream":$STREAM,"messages":[{"role":"user","content":"Say something about gateways."}]}
JSON
cat >"$OUT/post.lua" <<LUA
wrk.method = "POST"
wrk.body = io.open("$OUT/body.json"):read("*a")
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer ${BENCH_API_KEY:-bench-key-0123456789abcdef}"
LUA
wrk -t1 -c"$CONNECTIONS" -d"${DURATION}s" -s "$OUT/post.lua" http://127.0.0.1:3000/v1/chat/completions | tee "$OUT/wrk.txt"
kill -INT $GW; wait $GW || true
node "$ROOT/bench/profile-summary.mjs" "$OUT"/*.cpuprofile 30 | tee "$OUT/summary.txt"
