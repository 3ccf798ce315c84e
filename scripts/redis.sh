#!/usr/bin/env bash
# Procfile's "redis" process: a local redis-server on 127.0.0.1:6379 for `make run`.
# Starts nothing (and just waits) when REDIS_URL is set or a Redis already listens there.
set -euo pipefail

port=6379
if [ -n "${REDIS_URL:-}" ]; then
    echo "redis: REDIS_URL is set (${REDIS_URL}); not starting a local server"
    exec sleep infinity
fi
if (exec 3<>"/dev/tcp/127.0.0.1/${port}") 2>/dev/null; then
    echo "redis: something already listens on 127.0.0.1:${port}; using it"
    exec sleep infinity
fi

root="$(cd "$(dirname "$0")/.." && pwd)"
binary="${root}/.venv/bin/redis-server"
[ -x "${binary}" ] || binary="$(command -v redis-server || true)"
if [ -z "${binary}" ]; then
    echo "redis: no redis-server in .venv/bin or on PATH (run make install)" >&2
    exit 1
fi
mkdir -p "${root}/instance"
# No persistence: every job is backed by an outbox row in the database.
# Own session, so Ctrl-C reaches only this wrapper: Redis stops a moment after the worker,
# which still talks to it while shutting down.
setsid "${binary}" --port "${port}" --bind 127.0.0.1 --save "" --appendonly no \
    --dir "${root}/instance" &
redis_pid=$!
stop() {
    sleep 2
    kill -TERM "${redis_pid}" 2>/dev/null || true
    wait "${redis_pid}" || true
    exit 0
}
trap stop INT TERM
wait "${redis_pid}"
