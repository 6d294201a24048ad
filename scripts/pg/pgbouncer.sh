#!/usr/bin/env bash
# PgBouncer in transaction pooling mode in front of the local PostgreSQL, for the pooler test lane.
#   scripts/pg/pgbouncer.sh start   starts it on 127.0.0.1:6432 (does nothing if it already answers there)
#   scripts/pg/pgbouncer.sh stop    stops the one this script started (does nothing if none runs)
# Every database is reachable through it (a `*` entry), as the same user, with trust auth. The server pool is small
# (default_pool_size 10) so that many client connections really share few server connections, as in production.
# Settings: PGBOUNCER_PORT (6432), PGBOUNCER_STATE_DIR (/tmp/marketkit-pgbouncer), PG_HOST (127.0.0.1), PG_PORT (5432).
set -euo pipefail

port="${PGBOUNCER_PORT:-6432}"
state="${PGBOUNCER_STATE_DIR:-/tmp/marketkit-pgbouncer}"
pg_host="${PG_HOST:-127.0.0.1}"
pg_port="${PG_PORT:-5432}"
pidfile="$state/pgbouncer.pid"

answers() { pg_isready -h 127.0.0.1 -p "$port" -q -t 1 2>/dev/null; }

start() {
  if answers; then
    echo "pgbouncer: already answering on 127.0.0.1:$port"
    return 0
  fi
  command -v pgbouncer >/dev/null || PATH="$PATH:/usr/sbin"
  if ! command -v pgbouncer >/dev/null; then
    echo 'pgbouncer: not installed (apt-get install -y pgbouncer)' >&2
    return 1
  fi
  mkdir -p "$state"
  cat >"$state/pgbouncer.ini" <<INI
[databases]
* = host=$pg_host port=$pg_port

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = $port
unix_socket_dir =
auth_type = trust
auth_file = $state/userlist.txt
pool_mode = transaction
max_client_conn = 1000
default_pool_size = 10
min_pool_size = 0
reserve_pool_size = 0
max_db_connections = 0
server_reset_query =
ignore_startup_parameters = extra_float_digits,statement_timeout,plan_cache_mode
logfile = $state/pgbouncer.log
pidfile = $pidfile
admin_users = root
INI
  printf '"root" ""\n' >"$state/userlist.txt"
  # As root, pgbouncer refuses to run without -u: it drops to the postgres user, which must write the state dir.
  local user=()
  if [ "$(id -u)" = "0" ]; then
    user=(-u postgres)
    chown -R postgres "$state"
  fi
  pgbouncer -d "${user[@]}" "$state/pgbouncer.ini"
  for _ in $(seq 1 50); do
    if answers; then
      echo "pgbouncer: transaction pooling on 127.0.0.1:$port -> $pg_host:$pg_port (config $state/pgbouncer.ini)"
      return 0
    fi
    sleep 0.1
  done
  echo "pgbouncer: did not start; see $state/pgbouncer.log" >&2
  tail -20 "$state/pgbouncer.log" >&2 || true
  return 1
}

stop() {
  if [ -f "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null; then
    kill "$(cat "$pidfile")"
    for _ in $(seq 1 50); do
      kill -0 "$(cat "$pidfile" 2>/dev/null)" 2>/dev/null || break
      sleep 0.1
    done
    echo 'pgbouncer: stopped'
  else
    echo 'pgbouncer: not running (started by this script)'
  fi
  rm -f "$pidfile"
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  *)
    echo "usage: $0 start|stop" >&2
    exit 2
    ;;
esac
