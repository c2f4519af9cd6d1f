#!/usr/bin/env bash
# Readies PostgreSQL for the `chat-db` benchmark front (config/bench-db.yaml): the gateway migrates its `bench` schema
# once, then the benchmark's client key goes in as a database key (its SHA-256 only), so the measured gateway serves
# it from its in-memory key cache and logs every request through the batched writer.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
PORT=${BENCH_PREPARE_PORT:-3999}
KEY=${BENCH_API_KEY:-bench-key-0123456789abcdef}
DATABASE_URL=${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/test}

cd "$ROOT"
PORT=$PORT GATEWAY_CONFIG=config/bench-db.yaml node dist/src/main.js >/dev/null 2>&1 &
GATEWAY=$!
trap 'kill "$GATEWAY" 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do
  curl -fs "http://127.0.0.1:$PORT/health/ready" >/dev/null 2>&1 && break
  sleep 0.1
done
kill "$GATEWAY"
wait "$GATEWAY" 2>/dev/null || true
trap - EXIT
psql "$DATABASE_URL" -v ON_ERROR_STOP=1 -q -c \
  "INSERT INTO bench.keys (id, key_hash, prefix) VALUES ('bench', encode(sha256('$KEY'), 'hex'), left('$KEY', 12))
   ON CONFLICT (id) DO NOTHING"
