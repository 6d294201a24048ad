#!/usr/bin/env bash
# Two scratch PostgreSQL 15 clusters for the failover test (packages/adapters/test/postgres/failover.test.ts):
# A, the primary, on 127.0.0.1:5441, and B, a pg_basebackup -R standby of A on 127.0.0.1:5442 with SYNCHRONOUS
# streaming replication (A's synchronous_standby_names names B's application_name, synchronous_commit = on), so a
# commit A acknowledged is on B too. Both run as the OS user postgres in /var/tmp/mk-failover/{a,b}, superuser root,
# trust auth on 127.0.0.1 only. The shared cluster on 5432 is never touched.
#
#   start         wipe and make both clusters, wait until B streams to A as its sync standby (database `mk`)
#   stop          stop both (immediately) and delete them
#   kill-primary  hard stop of A: pg_ctl stop -m immediate (no shutdown checkpoint, clients cut off)
#   promote       pg_ctl promote on B; waits until B accepts writes
#   restart NODE  pg_ctl restart -m fast of a (A) or b (B)
#   stall-standby SIGSTOP B's WAL receiver: commits on A wait for it (wait event SyncRep) until resume-standby
#   resume-standby SIGCONT it
#   status        which clusters run, and A's replication state
set -euo pipefail

BIN="${PG_BIN:-/usr/lib/postgresql/15/bin}"
ROOT="${MK_FAILOVER_DIR:-/var/tmp/mk-failover}"
PORT_A="${MK_FAILOVER_PORT_A:-5441}"
PORT_B="${MK_FAILOVER_PORT_B:-5442}"
APP_B=mk_failover_b

as_pg() {
  if [ "$(id -un)" = postgres ]; then "$@"; else runuser -u postgres -- "$@"; fi
}
psql_at() { "$BIN/psql" -h 127.0.0.1 -p "$1" -U root -d postgres -XAtqc "$2"; }
running() { [ -f "$ROOT/$1/postmaster.pid" ] && as_pg "$BIN/pg_ctl" -D "$ROOT/$1" status >/dev/null 2>&1; }
wait_for() { # what, seconds, command...
  local what="$1" secs="$2"
  shift 2
  for _ in $(seq 1 $((secs * 5))); do
    if "$@" >/dev/null 2>&1; then return 0; fi
    sleep 0.2
  done
  echo "failover-pair: timed out waiting for $what" >&2
  return 1
}
is_sync() { [ "$(psql_at "$PORT_A" "select sync_state from pg_stat_replication where application_name = '$APP_B'")" = sync ]; }
is_writable() { [ "$(psql_at "$1" 'show transaction_read_only')" = off ]; }

stop_all() {
  for node in a b; do
    if running "$node"; then as_pg "$BIN/pg_ctl" -D "$ROOT/$node" -m immediate -w stop >/dev/null; fi
  done
  rm -rf "$ROOT"
}

start() {
  stop_all
  mkdir -p "$ROOT"
  chown postgres:postgres "$ROOT"
  chmod 700 "$ROOT"
  as_pg "$BIN/initdb" -D "$ROOT/a" -U root --auth=trust -E UTF8 --locale=C.UTF-8 >/dev/null
  cat >>"$ROOT/a/postgresql.conf" <<CONF
listen_addresses = '127.0.0.1'
port = $PORT_A
unix_socket_directories = '$ROOT'
max_connections = 100
wal_level = replica
max_wal_senders = 5
wal_keep_size = '256MB'
synchronous_commit = on
logging_collector = off
CONF
  # trust on 127.0.0.1 only (initdb's default pg_hba has it for connections and replication).
  as_pg "$BIN/pg_ctl" -D "$ROOT/a" -l "$ROOT/a.log" -w start >/dev/null
  wait_for 'A to accept connections' 30 "$BIN/pg_isready" -h 127.0.0.1 -p "$PORT_A" -q
  psql_at "$PORT_A" 'create database mk' >/dev/null
  as_pg "$BIN/pg_basebackup" -h 127.0.0.1 -p "$PORT_A" -U root -D "$ROOT/b" -R -X stream -c fast >/dev/null
  # B: its own port; no sync standby of its own (after promotion it must not wait for one); named for A's list.
  cat >>"$ROOT/b/postgresql.auto.conf" <<CONF
port = $PORT_B
synchronous_standby_names = ''
# After A restarts, commits on A wait (SyncRep) until B streams again: B retries its connection every half second.
wal_retrieve_retry_interval = '500ms'
primary_conninfo = 'host=127.0.0.1 port=$PORT_A user=root application_name=$APP_B'
CONF
  as_pg "$BIN/pg_ctl" -D "$ROOT/b" -l "$ROOT/b.log" -w start >/dev/null
  wait_for 'B to accept connections' 30 "$BIN/pg_isready" -h 127.0.0.1 -p "$PORT_B" -q
  # Synchronous only now: with B named while B is not there yet, every commit on A (the CREATE DATABASE) would wait.
  psql_at "$PORT_A" "alter system set synchronous_standby_names = '$APP_B'" >/dev/null
  psql_at "$PORT_A" 'select pg_reload_conf()' >/dev/null
  wait_for 'B to stream to A as its synchronous standby' 30 is_sync
  echo "failover-pair: A (primary) 127.0.0.1:$PORT_A, B (sync standby) 127.0.0.1:$PORT_B, database mk"
}

case "${1:-}" in
  start) start ;;
  stop) stop_all ;;
  kill-primary) as_pg "$BIN/pg_ctl" -D "$ROOT/a" -m immediate -w stop >/dev/null ;;
  promote)
    as_pg "$BIN/pg_ctl" -D "$ROOT/b" -w promote >/dev/null
    wait_for 'B to accept writes' 30 is_writable "$PORT_B"
    ;;
  restart)
    node="${2:?restart needs a or b}"
    as_pg "$BIN/pg_ctl" -D "$ROOT/$node" -l "$ROOT/$node.log" -m fast -w restart >/dev/null
    ;;
  stall-standby | resume-standby)
    pid="$(psql_at "$PORT_B" 'select pid from pg_stat_wal_receiver')"
    [ -n "$pid" ] || { echo 'failover-pair: B has no WAL receiver' >&2; exit 1; }
    if [ "$1" = stall-standby ]; then kill -STOP "$pid"; else kill -CONT "$pid"; fi
    ;;
  status)
    for node in a b; do
      if running "$node"; then echo "$node: running"; else echo "$node: stopped"; fi
    done
    if running a; then psql_at "$PORT_A" 'select application_name, state, sync_state from pg_stat_replication'; fi
    ;;
  *)
    echo "usage: $0 start|stop|kill-primary|promote|restart a|b|stall-standby|resume-standby|status" >&2
    exit 2
    ;;
esac
