#!/usr/bin/env bash
# The PostgreSQL of the `chat-db` benchmark front (config/bench-db.yaml): a private instance in DIR on PORT, pinned to
# CPU 0 with the load generator and the mock upstream, as a database on another host would be (it must not take the
# core the gateway is measured on). `start` also migrates the `bench` schema (the gateway starts once) and adds the
# benchmark's client key as a database key (its SHA-256 only), so the measured gateway serves it from its in-memory
# key cache and logs every request through the batched writer.
#   bash bench/bench-db.sh start DIR [PORT]     # prints the DATABASE_URL
#   bash bench/bench-db.sh stop DIR
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
ACTION=$1 DIR=$2 PORT=${3:-55432}
BIN=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
KEY=${BENCH_API_KEY:-bench-key-0123456789abcdef}
# initdb refuses root: as root the server runs as the postgres user.
as_server() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }

case "$ACTION" in
  start)
    [ "$(id -u)" = 0 ] && chown postgres "$DIR"
    as_server "$BIN/initdb" -D "$DIR/data" -U postgres -A trust --no-sync >/dev/null
    as_server taskset -c 0 "$BIN/pg_ctl" -D "$DIR/data" -l "$DIR/server.log" -w \
      -o "-p $PORT -c listen_addresses=127.0.0.1 -k $DIR" start >/dev/null
    URL="postgres://postgres@127.0.0.1:$PORT/postgres"
    cd "$ROOT"
    DATABASE_URL=$URL PORT=$((PORT + 1)) GATEWAY_CONFIG=config/bench-db.yaml node dist/src/main.js >"$DIR/migrate.log" 2>&1 &
    GATEWAY=$!
    for _ in $(seq 1 100); do
      curl -fs "http://127.0.0.1:$((PORT + 1))/health/ready" >/dev/null 2>&1 && break
      sleep 0.1
    done
    kill "$GATEWAY"
    wait "$GATEWAY" 2>/dev/null || true
    psql "$URL" -v ON_ERROR_STOP=1 -q -c \
      "INSERT INTO bench.keys (id, key_hash, prefix) VALUES ('bench', encode(sha256('$KEY'), 'hex'), left('$KEY', 12))"
    echo "$URL"
    ;;
  stop)
    as_server "$BIN/pg_ctl" -D "$DIR/data" -m fast -w stop >/dev/null
    rm -rf "$DIR"
    ;;
  *) echo "usage: bench-db.sh start|stop DIR [PORT]" >&2; exit 2 ;;
esac
