#!/usr/bin/env bash
# `npm run bench`: measures the built gateway with the shared harness (../shared/bench) next to the mock upstream
# itself (direct), on every front: chat (also against a bare Node proxy (floor) and Portkey's gateway), then
# /v1/messages passthrough to Anthropic, /v1/responses passthrough to a native Responses upstream, and /v1/responses
# translated to chat, each against a direct call to the mock upstream of that protocol; last the gateway's CPU per
# request on each provider against its simulator (bench/providers.mjs). Traffic stays on 127.0.0.1.
#   npm run bench                                   # full run, ~15 min
#   BENCH_FRONTS=chat npm run bench                 # chat only (also: chat-db, messages, responses-native, responses-translated, providers)
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
# BENCH_CONFIG chooses the gateway's config; the `chat-db` front runs chat again with database keys and the request log
# on (config/bench-db.yaml, on a private PostgreSQL pinned to the load generator's core: bench/bench-db.sh) in the same run.
CONFIG=${BENCH_CONFIG:-config/bench.yaml}
CMD="cd '$ROOT' && GATEWAY_CONFIG=$CONFIG exec $START"
FRONTS=${BENCH_FRONTS:-chat,chat-db,messages,responses-native,responses-translated,providers}
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
    chat-db)
      DB_DIR=$(mktemp -d)
      DB_URL=$(bash "$ROOT/bench/bench-db.sh" start "$DB_DIR")
      CMD="cd '$ROOT' && DATABASE_URL=$DB_URL GATEWAY_CONFIG=config/bench-db.yaml exec $START" \
        measure chat-db chat "direct,$NAME" --model gpt-4o-mini
      bash "$ROOT/bench/bench-db.sh" stop "$DB_DIR"
      ;;
    messages) measure messages messages "direct,$NAME" --model claude-bench "${FRONT_RUN[@]}" ;;
    responses-native) measure responses-native responses "direct,$NAME" --model gpt-responses "${FRONT_RUN[@]}" ;;
    responses-translated) measure responses-translated responses "direct,$NAME" --model gpt-4o-mini "${FRONT_RUN[@]}" ;;
    providers) node "$ROOT/bench/providers.mjs" "$OUT" ;;
    *) echo "unknown front '$front' (chat, chat-db, messages, responses-native, responses-translated, providers)" >&2; exit 2 ;;
  esac
done
node "$ROOT/bench/fronts-summary.mjs" "$OUT"
