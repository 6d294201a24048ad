#!/usr/bin/env bash
# A hot standby of the local PostgreSQL (127.0.0.1:5432) for the read-replica tests: streaming replication on
# 127.0.0.1:5433, made with pg_basebackup -R into a scratch directory and run by pg_ctl as the OS user postgres.
#
#   scripts/pg/replica.sh start    make it if missing, start it, wait until it streams (idempotent)
#   scripts/pg/replica.sh stop     stop it (idempotent); the scratch directory stays for the next start
#   scripts/pg/replica.sh status   exit 0 and print the WAL receiver's state when it streams, 3 when it does not
#   scripts/pg/replica.sh destroy  stop it and remove the scratch directory
#
# On start it prints the URL to export, e.g. MARKETKIT_PG_REPLICA_URL=postgres://root@127.0.0.1:5433/postgres
# (the standby holds every database of the primary: use the primary's database name).
# Environment: MARKETKIT_PG_REPLICA_DIR (default /var/tmp/marketkit-replica), MARKETKIT_PG_REPLICA_PORT (5433),
# MARKETKIT_PG_PRIMARY_HOST/PORT/USER (127.0.0.1, 5432, root), PG_BIN (/usr/lib/postgresql/<version>/bin).
# The primary is never restarted: start only adds `host replication all 127.0.0.1/32 trust` to its pg_hba.conf
# when no such line is there, and reloads it (pg_reload_conf). No replication slot is made, so a stopped
# standby never holds WAL back on the primary; one that fell too far behind is rebuilt on the next start.
set -euo pipefail

dir="${MARKETKIT_PG_REPLICA_DIR:-/var/tmp/marketkit-replica}"
port="${MARKETKIT_PG_REPLICA_PORT:-5433}"
phost="${MARKETKIT_PG_PRIMARY_HOST:-127.0.0.1}"
pport="${MARKETKIT_PG_PRIMARY_PORT:-5432}"
puser="${MARKETKIT_PG_PRIMARY_USER:-root}"
data="$dir/data"
log="$dir/postgres.log"

primary() { psql -h "$phost" -p "$pport" -U "$puser" -d postgres -XAtqc "$1"; }
standby() { psql -h 127.0.0.1 -p "$port" -U "$puser" -d postgres -XAtqc "$1" 2>/dev/null; }

if [ -z "${PG_BIN:-}" ]; then
  version="$(primary 'show server_version_num')"
  PG_BIN="/usr/lib/postgresql/$((version / 10000))/bin"
fi

as_postgres() {
  if [ "$(id -un)" = postgres ]; then "$@"; else runuser -u postgres -- "$@"; fi
}

running() { [ -f "$data/postmaster.pid" ] && as_postgres "$PG_BIN/pg_ctl" -D "$data" status >/dev/null 2>&1; }

streaming() { [ "$(standby 'select status from pg_stat_wal_receiver')" = streaming ]; }

allow_replication() {
  local hba
  hba="$(primary 'show hba_file')"
  if ! grep -Eq "^[[:space:]]*host[[:space:]]+replication[[:space:]]+(all|$puser)[[:space:]]+127\.0\.0\.1/32[[:space:]]+trust" "$hba"; then
    printf '\n# added by marketkit scripts/pg/replica.sh: the local hot standby streams from here\nhost replication all 127.0.0.1/32 trust\n' >>"$hba"
    primary 'select pg_reload_conf()' >/dev/null
  fi
}

make_standby() {
  rm -rf "$data"
  mkdir -p "$dir"
  chown postgres: "$dir"
  chmod 700 "$dir"
  echo "pg_basebackup from $phost:$pport into $data"
  as_postgres "$PG_BIN/pg_basebackup" -h "$phost" -p "$pport" -U "$puser" -D "$data" -X stream -R -c fast
  # Debian keeps the primary's postgresql.conf in /etc: the copy gets its own, small one.
  as_postgres tee "$data/postgresql.conf" >/dev/null <<CONF
listen_addresses = '127.0.0.1'
port = $port
unix_socket_directories = '$dir'
hot_standby = on
hot_standby_feedback = off
max_connections = 100
shared_buffers = 32MB
wal_receiver_status_interval = 1s
max_standby_streaming_delay = 5s
logging_collector = off
CONF
  as_postgres tee "$data/pg_hba.conf" >/dev/null <<HBA
local all all trust
host all all 127.0.0.1/32 trust
HBA
  as_postgres touch "$data/pg_ident.conf"
}

wait_streaming() {
  for _ in $(seq 1 "${1:-60}"); do
    if streaming; then return 0; fi
    sleep 1
  done
  return 1
}

start() {
  allow_replication
  if [ ! -f "$data/standby.signal" ]; then make_standby; fi
  if ! running; then as_postgres "$PG_BIN/pg_ctl" -D "$data" -l "$log" -w -t 60 start >/dev/null; fi
  if ! wait_streaming 30; then
    echo "the standby in $data does not stream (too far behind?): rebuilding it" >&2
    stop
    make_standby
    as_postgres "$PG_BIN/pg_ctl" -D "$data" -l "$log" -w -t 60 start >/dev/null
    if ! wait_streaming 60; then
      tail -20 "$log" >&2
      echo 'the standby does not stream' >&2
      exit 1
    fi
  fi
  echo "standby streaming on 127.0.0.1:$port: MARKETKIT_PG_REPLICA_URL=postgres://$puser@127.0.0.1:$port/postgres"
}

stop() {
  if running; then as_postgres "$PG_BIN/pg_ctl" -D "$data" -m fast -w stop >/dev/null; fi
  echo 'standby stopped'
}

status() {
  if ! running; then
    echo 'standby not running'
    exit 3
  fi
  local state
  state="$(standby "select status || ' from ' || sender_host || ':' || sender_port || ', replayed ' || pg_last_wal_replay_lsn() from pg_stat_wal_receiver" || true)"
  if streaming; then
    echo "standby on 127.0.0.1:$port: $state"
  else
    echo "standby on 127.0.0.1:$port running but not streaming${state:+: $state}"
    exit 3
  fi
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  status) status ;;
  destroy)
    stop
    rm -rf "$dir"
    ;;
  *)
    echo "usage: $0 start|stop|status|destroy" >&2
    exit 2
    ;;
esac
