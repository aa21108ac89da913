#!/usr/bin/env bash
# Backing services for developing Emporium on a machine without Docker.
#
#   scripts/dev-services.sh up [--install]   start what is missing, print the variables to export
#   scripts/dev-services.sh down             stop the MongoDB server started by `up`
#   scripts/dev-services.sh status           say what runs
#   scripts/dev-services.sh up --private DIR [--standby]
#                                               a backup-ready stack of its own under DIR
#                                               (--standby: and a streaming standby)
#   scripts/dev-services.sh down --private DIR  stop it (its data stays in DIR)
#   scripts/dev-services.sh restore-snapshot --private DIR SNAPSHOT
#                                               start it again from a snapshot's data directories
#
# `up --private DIR` starts, on free ports and with everything under DIR:
#   * a PostgreSQL cluster of its own (initdb), archiving its WAL into a pgBackRest
#     repository (stanza `emporium` created), with a database `emporium`;
#   * the MongoDB wire-protocol server, with its oplog;
# and prints every variable `emporium serve` needs, backup settings included:
#   eval "$(scripts/dev-services.sh up --private .shop)" && cargo run -p emporium-app -- serve
# Running it again restarts what stopped, on the same ports and data.
#
# `up` is idempotent:
#   * PostgreSQL: the Debian cluster on 127.0.0.1:5432 (started with pg_ctlcluster when it is
#     installed but stopped; installed with apt-get only when run as root with --install),
#     with a database `emporium`.
#   * MongoDB: a wire-protocol server (PyPI `secantusdb`, in the project's .venv-mongo, the
#     same virtualenv the test harness uses) on 127.0.0.1:27017, storing its data in
#     .emporium-dev/mongo, running in the background (pid file .emporium-dev/mongo.pid).
#
# The variables go to stdout and everything else to stderr, so this works:
#   eval "$(scripts/dev-services.sh up)"
set -euo pipefail

# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

DEV_DIR="$ROOT/.emporium-dev"
MONGO_DATA="$DEV_DIR/mongo"
MONGO_PID_FILE="$DEV_DIR/mongo.pid"
MONGO_LOG="$DEV_DIR/mongo.log"
MONGO_PORT=27017
POSTGRES_URL="postgres://postgres@127.0.0.1:$PG_PORT/emporium"
MONGODB_URI="mongodb://127.0.0.1:$MONGO_PORT/?directConnection=true"

usage() {
  sed -n '2,12p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2
  exit 2
}

# ---------------------------------------------------------------- PostgreSQL

psql_admin() {
  psql -h 127.0.0.1 -p "$PG_PORT" -U postgres -d postgres -v ON_ERROR_STOP=1 -qtA "$@"
}

ensure_database() {
  command -v psql >/dev/null 2>&1 || die "psql is missing: apt-get install -y postgresql-client"
  local exists
  exists="$(psql_admin -c "SELECT 1 FROM pg_database WHERE datname = 'emporium'")" \
    || die "cannot connect as postgres@127.0.0.1:$PG_PORT (these machines use trust auth for local TCP)"
  if [ "$exists" = 1 ]; then
    log "database emporium exists"
  else
    log "creating database emporium"
    psql_admin -c 'CREATE DATABASE emporium' >/dev/null
  fi
}

# ------------------------------------------------------------------- MongoDB

# The pid in the pid file, when that process is still our secantusdb server.
mongo_pid() {
  local pid
  [ -f "$MONGO_PID_FILE" ] || return 1
  pid="$(cat "$MONGO_PID_FILE")"
  [ -n "$pid" ] || return 1
  kill -0 "$pid" 2>/dev/null || return 1
  # Guard against a recycled pid: only ever signal our own server.
  ps -p "$pid" -o args= 2>/dev/null | grep -q secantusd || return 1
  printf '%s\n' "$pid"
}

mongo_answers() {
  "$VENV/bin/python" - "$MONGODB_URI" >/dev/null 2>&1 <<'PY'
import sys
import pymongo

pymongo.MongoClient(sys.argv[1], serverSelectionTimeoutMS=500).admin.command("ping")
PY
}

start_mongo() {
  local pid
  if pid="$(mongo_pid)"; then
    log "MongoDB (secantusdb) already runs, pid $pid"
    return 0
  fi
  rm -f "$MONGO_PID_FILE"
  if port_open "$MONGO_PORT"; then
    die "something else listens on 127.0.0.1:$MONGO_PORT; stop it, or point EMPORIUM_MONGODB_URI at it yourself"
  fi
  ensure_secantusdb
  mkdir -p "$MONGO_DATA"
  log "starting MongoDB (secantusdb) on 127.0.0.1:$MONGO_PORT, data in ${MONGO_DATA#"$ROOT"/}"
  nohup "$VENV/bin/secantusd-py" --host 127.0.0.1 --port "$MONGO_PORT" \
    --storage-path "$MONGO_DATA" >>"$MONGO_LOG" 2>&1 </dev/null &
  pid=$!
  echo "$pid" >"$MONGO_PID_FILE"
  for _ in $(seq 1 40); do
    mongo_answers && return 0
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.5
  done
  tail -n 20 "$MONGO_LOG" >&2 || true
  die "MongoDB (secantusdb) did not answer; log: $MONGO_LOG"
}

stop_mongo() {
  local pid
  if ! pid="$(mongo_pid)"; then
    rm -f "$MONGO_PID_FILE"
    log "MongoDB (secantusdb) is not running"
    return 0
  fi
  log "stopping MongoDB (secantusdb), pid $pid"
  kill "$pid"
  # It takes about 2 s to close its storage cleanly; give it 15 before insisting.
  for _ in $(seq 1 30); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.5
  done
  if kill -0 "$pid" 2>/dev/null; then
    log "still running after 15 s: sending SIGKILL"
    kill -9 "$pid" 2>/dev/null || true
  fi
  rm -f "$MONGO_PID_FILE"
}

# ------------------------------------------------------------ private stack

# The folder with pg_ctl and initdb: the newest Debian PostgreSQL, else PATH.
pg_bindir() {
  local dir
  dir="$(find /usr/lib/postgresql -mindepth 2 -maxdepth 2 -type d -name bin 2>/dev/null | sort -V | tail -n 1)"
  if [ -n "$dir" ] && [ -x "$dir/initdb" ]; then
    printf '%s\n' "$dir"
  else
    dirname "$(command -v initdb || die "initdb is missing: apt-get install -y postgresql")"
  fi
}

# Runs a PostgreSQL tool as the cluster's owner: `postgres` when we are root.
as_owner() {
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

private_up() {
  local dir="$1" standby="${2:-no}"
  mkdir -p "$dir"
  dir="$(cd "$dir" && pwd)"
  ensure_pgbackrest
  local bindir pg="$dir/postgres" data="$dir/postgres/data" ports="$dir/ports.env"
  bindir="$(pg_bindir)"
  if [ ! -f "$ports" ]; then
    printf 'PRIVATE_PG_PORT=%s\nPRIVATE_MONGO_PORT=%s\n' "$(free_port)" "$(free_port)" >"$ports"
  fi
  if ! grep -q PRIVATE_STANDBY_PORT "$ports"; then
    printf 'PRIVATE_STANDBY_PORT=%s\n' "$(free_port)" >>"$ports"
  fi
  # shellcheck source=/dev/null
  source "$ports"
  local conf="$pg/pgbackrest.conf" fresh=no
  if [ ! -f "$data/PG_VERSION" ]; then
    fresh=yes
    log "creating a PostgreSQL cluster in ${data}"
    mkdir -p "$pg/sock" "$pg/repo" "$pg/pgbackrest-log" "$pg/pgbackrest-lock"
    if [ "$(id -u)" = 0 ]; then
      chown -R postgres:postgres "$pg"
      # The server's user must be able to reach the folder.
      runuser -u postgres -- test -x "$pg" || die "user postgres cannot reach $pg; choose a folder outside a private home directory"
    fi
    as_owner "$bindir/initdb" -D "$data" -U postgres -A trust -E UTF8 --no-locale >/dev/null
    cat >"$conf" <<CONF
[global]
repo1-path=$pg/repo
repo1-retention-full=4
log-path=$pg/pgbackrest-log
lock-path=$pg/pgbackrest-lock
start-fast=y
log-level-console=warn

[emporium]
pg1-path=$data
pg1-port=$PRIVATE_PG_PORT
pg1-socket-path=$pg/sock
CONF
    cat >"$data/postgresql.auto.conf" <<CONF
port = $PRIVATE_PG_PORT
listen_addresses = '127.0.0.1'
unix_socket_directories = '$pg/sock'
wal_level = replica
shared_preload_libraries = 'pg_stat_statements'
archive_mode = on
archive_command = 'pgbackrest --config=$conf --stanza=emporium archive-push %p'
CONF
    [ "$(id -u)" = 0 ] && chown -R postgres:postgres "$pg"
  fi
  if as_owner "$bindir/pg_ctl" -D "$data" status >/dev/null 2>&1; then
    log "private PostgreSQL already runs on 127.0.0.1:$PRIVATE_PG_PORT"
  else
    log "starting private PostgreSQL on 127.0.0.1:$PRIVATE_PG_PORT"
    as_owner "$bindir/pg_ctl" -D "$data" -l "$pg/server.log" -w -t 60 start >/dev/null \
      || { tail -n 20 "$pg/server.log" >&2; die "the private PostgreSQL did not start"; }
  fi
  if [ "$fresh" = yes ]; then
    as_owner pgbackrest --config="$conf" --stanza=emporium stanza-create >&2
    psql -h 127.0.0.1 -p "$PRIVATE_PG_PORT" -U postgres -qtA -c 'CREATE DATABASE emporium' >/dev/null
    # The slowest statements in GET /api/admin/performance.
    psql -h 127.0.0.1 -p "$PRIVATE_PG_PORT" -U postgres -d emporium -qtA \
      -c 'CREATE EXTENSION IF NOT EXISTS pg_stat_statements' >/dev/null
  fi

  if [ "$standby" = yes ]; then
    private_standby_up "$dir" "$bindir"
  fi

  local mongo_pid_file="$dir/mongo.pid" pid
  if [ -f "$mongo_pid_file" ] && pid="$(cat "$mongo_pid_file")" && kill -0 "$pid" 2>/dev/null \
    && ps -p "$pid" -o args= | grep -q secantusd; then
    log "private MongoDB (secantusdb) already runs on 127.0.0.1:$PRIVATE_MONGO_PORT"
  else
    ensure_secantusdb
    mkdir -p "$dir/mongo"
    log "starting private MongoDB (secantusdb) on 127.0.0.1:$PRIVATE_MONGO_PORT"
    nohup "$VENV/bin/secantusd-py" --host 127.0.0.1 --port "$PRIVATE_MONGO_PORT" \
      --storage-path "$dir/mongo" >>"$dir/mongo.log" 2>&1 </dev/null &
    echo $! >"$mongo_pid_file"
    wait_for_port "$PRIVATE_MONGO_PORT" 240 || { tail -n 20 "$dir/mongo.log" >&2; die "the private MongoDB did not start"; }
  fi

  log "private stack is up under $dir; export these (or: eval \"\$($0 up --private $1)\"):"
  printf 'export EMPORIUM_POSTGRES_URL=postgres://postgres@127.0.0.1:%s/emporium\n' "$PRIVATE_PG_PORT"
  printf "export EMPORIUM_MONGODB_URI='mongodb://127.0.0.1:%s/?directConnection=true'\n" "$PRIVATE_MONGO_PORT"
  printf 'export EMPORIUM_BACKUP_DIR=%s\n' "$dir/backups"
  printf 'export EMPORIUM_BACKUP_PGBACKREST_STANZA=emporium\n'
  printf 'export EMPORIUM_BACKUP_PGBACKREST_CONFIG=%s\n' "$conf"
  printf 'export EMPORIUM_BACKUP_PG_DATA=%s\n' "$data"
  printf 'export EMPORIUM_BACKUP_PG_BINDIR=%s\n' "$bindir"
  printf 'export EMPORIUM_BACKUP_MONGODB_DATA=%s\n' "$dir/mongo"
  if [ "$(id -u)" = 0 ]; then printf 'export EMPORIUM_BACKUP_RUN_AS=postgres\n'; fi
  if [ -f "$dir/standby/data/PG_VERSION" ]; then
    printf '%s\n' '# the streaming standby (read-only), as GET /api/admin/replica-status names it: emporium_standby'
    printf 'export EMPORIUM_POSTGRES_STANDBY_URL=postgres://postgres@127.0.0.1:%s/emporium\n' "$PRIVATE_STANDBY_PORT"
  fi
  printf '%s\n' '# payments: the test gateway (no money moves)'
  printf 'export EMPORIUM_TEST_GATEWAY=true\n'
}

# A streaming standby of the private cluster (issue 12): pg_basebackup into
# DIR/standby/data with a physical slot `emporium_standby` on the primary (so a standby
# that stops is still seen, as `down`, and its WAL is kept), on its own port.
private_standby_up() {
  local dir="$1" bindir="$2" sb="$1/standby"
  local data="$sb/data"
  if [ ! -f "$data/PG_VERSION" ]; then
    log "creating a streaming standby in $data"
    mkdir -p "$sb/sock"
    [ "$(id -u)" = 0 ] && chown -R postgres:postgres "$sb"
    # A slot left by a standby whose folder was removed would refuse -C.
    psql -h 127.0.0.1 -p "$PRIVATE_PG_PORT" -U postgres -qtA -c \
      "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = 'emporium_standby' AND NOT active" >/dev/null
    as_owner "$bindir/pg_basebackup" -h 127.0.0.1 -p "$PRIVATE_PG_PORT" -U postgres -D "$data" \
      -X stream -R -C -S emporium_standby -c fast >&2
    cat >>"$data/postgresql.auto.conf" <<CONF
port = $PRIVATE_STANDBY_PORT
unix_socket_directories = '$sb/sock'
cluster_name = 'emporium_standby'
archive_mode = off
CONF
    [ "$(id -u)" = 0 ] && chown -R postgres:postgres "$sb"
  fi
  if as_owner "$bindir/pg_ctl" -D "$data" status >/dev/null 2>&1; then
    log "private standby already runs on 127.0.0.1:$PRIVATE_STANDBY_PORT"
  else
    log "starting the private standby on 127.0.0.1:$PRIVATE_STANDBY_PORT"
    as_owner "$bindir/pg_ctl" -D "$data" -l "$sb/server.log" -w -t 60 start >/dev/null \
      || { tail -n 20 "$sb/server.log" >&2; die "the private standby did not start"; }
  fi
}

private_down() {
  local dir="$1"
  [ -d "$dir" ] || die "no private stack in $dir"
  dir="$(cd "$dir" && pwd)"
  local data="$dir/postgres/data" pid
  if [ -f "$dir/standby/data/postmaster.pid" ]; then
    log "stopping the private standby"
    as_owner "$(pg_bindir)/pg_ctl" -D "$dir/standby/data" -m fast -w stop >/dev/null || true
  fi
  if [ -f "$data/postmaster.pid" ]; then
    log "stopping private PostgreSQL"
    as_owner "$(pg_bindir)/pg_ctl" -D "$data" -m fast -w stop >/dev/null || true
  fi
  if [ -f "$dir/mongo.pid" ] && pid="$(cat "$dir/mongo.pid")" && kill -0 "$pid" 2>/dev/null \
    && ps -p "$pid" -o args= | grep -q secantusd; then
    log "stopping private MongoDB (secantusdb), pid $pid"
    kill "$pid"
    for _ in $(seq 1 30); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
    kill -9 "$pid" 2>/dev/null || true
  fi
  rm -f "$dir/mongo.pid"
  log "stopped; the data stays in $dir (remove the folder to forget it)"
}

# `restore-snapshot --private DIR SNAPSHOT`: the disaster path of RUNBOOK.md ("Store lost:
# restore from a snapshot"). SNAPSHOT is a folder `emporium snapshot` (or POST
# /api/admin/snapshot) wrote: EMPORIUM_BACKUP_DIR/snapshots/<id>. Checks every file against
# the snapshot's manifest first (nothing is touched if one differs), stops the stack, puts
# each store's data directory aside (DIR/replaced-<time>/), copies the snapshot's in, and
# starts the stack again. PostgreSQL recovers to the end of the snapshot's backup label
# (recovery_target = 'immediate') and is promoted on a new timeline, so the WAL it writes
# from then on never collides with what the archive already holds.
private_restore_snapshot() {
  local dir="$1" snap="$2"
  [ -d "$dir" ] || die "no private stack in $dir"
  [ -f "$snap/manifest.json" ] || die "$snap holds no snapshot (no manifest.json)"
  dir="$(cd "$dir" && pwd)"
  snap="$(cd "$snap" && pwd)"
  log "checking $snap against its manifest"
  python3 - "$snap" <<'PY' || die "the snapshot is damaged; nothing was changed"
import hashlib, json, os, sys
root = sys.argv[1]
manifest = json.load(open(os.path.join(root, "manifest.json")))
bad = []
for store in manifest["stores"].values():
    for f in store["files"]:
        path = os.path.join(root, f["path"])
        h = hashlib.sha256()
        try:
            with open(path, "rb") as fh:
                for chunk in iter(lambda: fh.read(1 << 20), b""):
                    h.update(chunk)
        except OSError as e:
            bad.append(f"{f['path']}: {e}")
            continue
        if h.hexdigest() != f["sha256"]:
            bad.append(f"{f['path']}: checksum differs")
for b in bad:
    print(b, file=sys.stderr)
sys.exit(1 if bad else 0)
PY
  [ -d "$snap/postgres/data" ] || die "the snapshot holds no PostgreSQL data directory"
  private_down "$dir"
  local aside="$dir/replaced-$(date -u +%Y%m%dT%H%M%SZ)" data="$dir/postgres/data" conf="$dir/postgres/pgbackrest.conf"
  mkdir -p "$aside"
  if [ -e "$data" ]; then mv "$data" "$aside/postgres-data"; fi
  if [ -e "$dir/mongo" ]; then mv "$dir/mongo" "$aside/mongo"; fi
  log "copying PostgreSQL's data directory from the snapshot (the one it replaces is in $aside)"
  cp -a "$snap/postgres/data" "$data"
  # Recovery to the snapshot's point and no further, then promotion on a fresh timeline;
  # any recovery settings an earlier restore left behind would conflict with these.
  sed -i -E '/^[[:space:]]*(restore_command|recovery_target[a-z_]*)[[:space:]]*=/d' "$data/postgresql.auto.conf"
  cat >>"$data/postgresql.auto.conf" <<CONF
restore_command = 'pgbackrest --config=$conf --stanza=emporium archive-get %f "%p"'
recovery_target = 'immediate'
recovery_target_action = 'promote'
recovery_target_timeline = 'current'
CONF
  touch "$data/recovery.signal"
  chmod 700 "$data"
  [ "$(id -u)" = 0 ] && chown -R postgres:postgres "$data"
  if [ -f "$snap/mongodb/data.tar.gz" ]; then
    log "unpacking MongoDB's data directory from the snapshot"
    "$VENV/bin/secantus-restore-archive" --archive "$snap/mongodb/data.tar.gz" --target-dir "$dir/mongo" >&2
  elif [ -d "$snap/mongodb/data" ]; then
    log "copying MongoDB's data directory from the snapshot"
    cp -a "$snap/mongodb/data" "$dir/mongo"
  else
    die "the snapshot holds no MongoDB data directory"
  fi
  private_up "$dir"
  # source the ports again: private_up printed them, the wait needs the PostgreSQL one
  # shellcheck source=/dev/null
  source "$dir/ports.env"
  log "waiting for PostgreSQL to finish recovery and take writes"
  for _ in $(seq 1 120); do
    if [ "$(psql -h 127.0.0.1 -p "$PRIVATE_PG_PORT" -U postgres -qtA -c 'SELECT pg_is_in_recovery()' 2>/dev/null)" = f ]; then
      log "restored from $snap"
      return 0
    fi
    sleep 0.5
  done
  die "PostgreSQL did not leave recovery; see $dir/postgres/server.log"
}

# -------------------------------------------------------------------- commands

print_env() {
  printf 'export EMPORIUM_POSTGRES_URL=%s\n' "$POSTGRES_URL"
  printf "export EMPORIUM_MONGODB_URI='%s'\n" "$MONGODB_URI"
  printf '%s\n' '# payments: the test gateway (no money moves); a real one is EMPORIUM_GATEWAY_URL + EMPORIUM_GATEWAY_API_KEY'
  printf 'export EMPORIUM_TEST_GATEWAY=true\n'
}

cmd_up() {
  local install=no
  while [ "$#" -gt 0 ]; do
    case "$1" in
      --install) install=yes ;;
      --private)
        [ "$#" -eq 2 ] || { [ "$#" -eq 3 ] && [ "$3" = --standby ]; } || usage
        private_up "$2" "$([ "${3:-}" = --standby ] && echo yes || echo no)"
        return
        ;;
      *) usage ;;
    esac
    shift
  done
  ensure_postgres "$install"
  log "PostgreSQL answers on 127.0.0.1:$PG_PORT"
  ensure_database
  start_mongo
  log "services are up; export these (or: eval \"\$($0 up)\"):"
  print_env
}

cmd_status() {
  if port_open "$PG_PORT"; then
    echo "postgres: running on 127.0.0.1:$PG_PORT"
  else
    echo "postgres: not running"
  fi
  local pid
  if pid="$(mongo_pid)"; then
    if mongo_answers; then
      echo "mongodb:  running (secantusdb, pid $pid) on 127.0.0.1:$MONGO_PORT"
    else
      echo "mongodb:  started (secantusdb, pid $pid) but not answering; log: $MONGO_LOG"
    fi
  elif port_open "$MONGO_PORT"; then
    echo "mongodb:  something not started by this script listens on 127.0.0.1:$MONGO_PORT"
  else
    echo "mongodb:  not running"
  fi
}

main() {
  [ "$#" -ge 1 ] || usage
  local command="$1"
  shift
  case "$command" in
    up) cmd_up "$@" ;;
    down)
      if [ "$#" -eq 2 ] && [ "$1" = --private ]; then
        private_down "$2"
      else
        [ "$#" -eq 0 ] || usage
        stop_mongo
      fi
      ;;
    status) [ "$#" -eq 0 ] || usage; cmd_status ;;
    restore-snapshot)
      [ "$#" -eq 3 ] && [ "$1" = --private ] || usage
      private_restore_snapshot "$2" "$3"
      ;;
    -h | --help | help) usage ;;
    *) usage ;;
  esac
}

main "$@"
