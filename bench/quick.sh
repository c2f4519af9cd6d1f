#!/usr/bin/env bash
# Quick A/B loop for hot-path work (not the reference run, which is `npm run bench`): the bench's mock
# upstream and wrk on CPU 0, one target on CPU 1, wrk for DURATION s (default 5) at each of CONC (default
# "1 64"), then req/s, latency p50/p99, the target's CPU µs per request and its peak RSS from /proc.
# NODE_FLAGS adds node options to the gateway's command line.
#   bash bench/quick.sh ours|floor [stream]
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
HARNESS=${BENCH_HARNESS:-$ROOT/../shared/bench}
TARGET=${1:-ours}; STREAM=${2:-false}; [ "$STREAM" = stream ] && STREAM=true
DURATION=${DURATION:-5}; CONC=${CONC:-1 64}
OUT=$(mktemp -d)
START_FLAGS=$(cd "$ROOT" && node -p "require('./package.json').scripts.start.split(' ').slice(1, -1).join(' ')")
taskset -c 0 node "$HARNESS/upstream.mjs" --port 18080 >"$OUT/upstream.log" 2>&1 & UP=$!
if [ "$TARGET" = floor ]; then
  taskset -c 1 node "$HARNESS/floor-proxy.mjs" --port 3000 >"$OUT/target.log" 2>&1 & GW=$!
else
  (cd "$ROOT" && GATEWAY_CONFIG=config/bench.yaml PORT=3000 exec taskset -c 1 node $START_FLAGS ${NODE_FLAGS:-} dist/src/main.js) >"$OUT/target.log" 2>&1 & GW=$!
fi
trap 'kill $UP $GW 2>/dev/null || true; rm -rf "$OUT"' EXIT
for _ in $(seq 1 100); do curl -s -o /dev/null -X POST localhost:3000/v1/chat/completions && break; sleep 0.1; done
cat >"$OUT/post.lua" <<LUA
wrk.method = "POST"
wrk.body = '{"model":"gpt-4o-mini","stream":$STREAM,"messages":[{"role":"user","content":"Say something about gateways."}]}'
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer ${BENCH_API_KEY:-bench-key-0123456789abcdef}"
done = function(summary, latency, requests)
  io.write(string.format("REQS %d %.3f %.3f\n", summary.requests, latency:percentile(50) / 1000, latency:percentile(99) / 1000))
end
LUA
cpu() { awk '{print $14 + $15}' "/proc/$GW/stat"; }
taskset -c 0 wrk -t1 -c16 -d2s -s "$OUT/post.lua" http://127.0.0.1:3000/v1/chat/completions >/dev/null # warm-up
for c in $CONC; do
  before=$(cpu)
  line=$(taskset -c 0 wrk -t1 -c"$c" -d"${DURATION}s" -s "$OUT/post.lua" http://127.0.0.1:3000/v1/chat/completions | grep '^REQS')
  after=$(cpu)
  read -r _ reqs p50 p99 <<<"$line"
  awk -v t="$TARGET" -v c="$c" -v n="$reqs" -v d="$DURATION" -v p50="$p50" -v p99="$p99" -v ticks=$((after - before)) -v hz="$(getconf CLK_TCK)" \
    'BEGIN { printf "%-6s c=%-3d %7.0f req/s  p50 %.2f ms  p99 %.2f ms  CPU %4.0f µs/req\n", t, c, n / d, p50, p99, ticks / hz * 1e6 / n }'
done
echo "$TARGET peak RSS $(awk '/VmHWM/ {printf "%.0f MiB", $2 / 1024}' "/proc/$GW/status")"
grep -m3 '"level":"error"' "$OUT/target.log" || true
