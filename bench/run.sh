#!/usr/bin/env bash
# `npm run bench`: measures the built gateway with the shared harness (../shared/bench) next to the mock upstream
# itself (direct), on every front: chat (also against a bare Node proxy (floor) and Portkey's gateway), then
# /v1/messages passthrough to Anthropic, /v1/responses passthrough to a native Responses upstream, and /v1/responses
# translated to chat, each against a direct call to the mock upstream of that protocol. Traffic stays on 127.0.0.1.
#   npm run bench                                   # full run, ~12 min
#   BENCH_FRONTS=chat npm run bench                 # chat only (also: messages, responses-native, responses-translated)
#   BENCH_TARGETS=direct,ours npm run bench         # chat without floor and Portkey
#   npm run bench -- --quick                        # extra args go to compare.sh (its own flags, e.g. --quick)
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
# BENCH_CONFIG=config/bench-db.yaml measures the gateway with database keys and the request log on.
CMD="cd '$ROOT' && GATEWAY_CONFIG=${BENCH_CONFIG:-config/bench.yaml} exec $START"
FRONTS=${BENCH_FRONTS:-chat,messages,responses-native,responses-translated}
if [ "${1:-}" = stack ]; then
  shift
  NAME=stack-floor
  CMD="cd '$ROOT' && exec node bench/stack-floor.mjs"
  FRONTS=chat
fi

COMPARE_ARGS=("$@")
# compare.sh for one front: the folder, its api, the targets, then run.mjs's arguments (the model that routes it).
measure() {
  local front=$1 api=$2 targets=$3
  shift 3
  "$HARNESS/compare.sh" \
    --api "$api" \
    --targets "$targets" \
    --name "$NAME" \
    --cmd "$CMD" \
    --url "http://127.0.0.1:$PORT/v1" \
    -H "Authorization: Bearer ${BENCH_API_KEY:-bench-key-0123456789abcdef}" \
    --out "$OUT/$front" \
    "${COMPARE_ARGS[@]}" -- "$@"
}

# The fronts' runs skip the idle scenario (1000 open streams: a property of the stream writer they share with chat).
FRONT_RUN=(--scenarios nonstream,stream)
for front in ${FRONTS//,/ }; do
  case "$front" in
    chat) measure chat chat "${BENCH_TARGETS:-direct,floor,portkey,$NAME}" --model gpt-4o-mini ;;
    messages) measure messages messages "direct,$NAME" --model claude-bench "${FRONT_RUN[@]}" ;;
    responses-native) measure responses-native responses "direct,$NAME" --model gpt-responses "${FRONT_RUN[@]}" ;;
    responses-translated) measure responses-translated responses "direct,$NAME" --model gpt-4o-mini "${FRONT_RUN[@]}" ;;
    *) echo "unknown front '$front' (chat, messages, responses-native, responses-translated)" >&2; exit 2 ;;
  esac
done
node "$ROOT/bench/fronts-summary.mjs" "$OUT"
