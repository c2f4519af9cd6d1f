#!/usr/bin/env bash
# `npm run bench`: measures the built gateway with the shared harness (../shared/bench), in one run next to the
# mock upstream itself (direct), a bare Node proxy (floor) and Portkey's gateway. Traffic stays on 127.0.0.1.
#   npm run bench                                   # full run, ~5 min
#   BENCH_TARGETS=direct,ours npm run bench         # skip floor and Portkey
#   npm run bench -- --quick                        # extra args go to compare.sh (after its own flags)
#   npm run bench:stack                             # the stack's own floor (bench/stack-floor.mjs) instead of ours
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
HARNESS=${BENCH_HARNESS:-$ROOT/../shared/bench}
[ -x "$HARNESS/compare.sh" ] || { echo "benchmark harness not found at $HARNESS (set BENCH_HARNESS)" >&2; exit 2; }
[ -f "$ROOT/dist/src/main.js" ] || { echo "build first: npm run build" >&2; exit 2; }
OUT=${BENCH_OUT:-$ROOT/bench/results/$(date +%Y%m%d-%H%M%S)}
mkdir -p "$OUT"
PORT=${BENCH_PORT:-3000}
# What `npm start` runs (node flags included), without npm's own process.
START=$(cd "$ROOT" && node -p "require('./package.json').scripts.start")
NAME=ours
CMD="cd '$ROOT' && GATEWAY_CONFIG=config/bench.yaml exec $START"
if [ "${1:-}" = stack ]; then
  shift
  NAME=stack-floor
  CMD="cd '$ROOT' && exec node bench/stack-floor.mjs"
fi
exec "$HARNESS/compare.sh" \
  --targets "${BENCH_TARGETS:-direct,floor,portkey,$NAME}" \
  --name "$NAME" \
  --cmd "$CMD" \
  --url "http://127.0.0.1:$PORT/v1" \
  -H "Authorization: Bearer ${BENCH_API_KEY:-bench-key-0123456789abcdef}" \
  --out "$OUT" \
  "$@"
