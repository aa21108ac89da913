#!/usr/bin/env bash
# Backing services for developing Emporium on a machine without Docker.
#
#   scripts/dev-services.sh up [--install]   start what is missing, print the variables to export
#   scripts/dev-services.sh down             stop the MongoDB server started by `up`
#   scripts/dev-services.sh status           say what runs
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

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$ROOT/.venv-mongo"
DEV_DIR="$ROOT/.emporium-dev"
MONGO_DATA="$DEV_DIR/mongo"
MONGO_PID_FILE="$DEV_DIR/mongo.pid"
MONGO_LOG="$DEV_DIR/mongo.log"
MONGO_PORT=27017
PG_PORT=5432
POSTGRES_URL="postgres://postgres@127.0.0.1:$PG_PORT/emporium"
MONGODB_URI="mongodb://127.0.0.1:$MONGO_PORT/?directConnection=true"

log() { printf '==> %s\n' "$*" >&2; }
die() {
  printf 'error: %s\n' "$*" >&2
  exit 1
}

usage() {
  sed -n '2,6p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2
  exit 2
}

# True when something accepts TCP connections on 127.0.0.1:$1.
port_open() {
  (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# ---------------------------------------------------------------- PostgreSQL

# The newest PostgreSQL version with a Debian cluster configuration (e.g. 15), or nothing.
postgres_version() {
  [ -d /etc/postgresql ] || return 0
  find /etc/postgresql -mindepth 1 -maxdepth 1 -type d -printf '%f\n' | sort -V | tail -n 1
}

postgres_installed() {
  command -v pg_ctlcluster >/dev/null 2>&1 && [ -n "$(postgres_version)" ]
}

install_postgres() {
  [ "$(id -u)" = 0 ] || die "--install needs root; as root run: apt-get install -y postgresql"
  log "installing PostgreSQL (apt-get install -y postgresql)"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
}

start_postgres() {
  local version
  version="$(postgres_version)"
  log "starting PostgreSQL $version (cluster main)"
  # The Debian package's own service may not start in a container; start the cluster.
  pg_ctlcluster --skip-systemctl-redirect "$version" main start \
    || die "pg_ctlcluster could not start PostgreSQL $version (run as root, or see /var/log/postgresql)"
  for _ in $(seq 1 30); do
    port_open "$PG_PORT" && return 0
    sleep 0.5
  done
  die "PostgreSQL $version did not open port $PG_PORT (see /var/log/postgresql)"
}

ensure_postgres() {
  local install="$1"
  if port_open "$PG_PORT"; then
    log "PostgreSQL answers on 127.0.0.1:$PG_PORT"
    return 0
  fi
  if ! postgres_installed; then
    if [ "$install" = yes ]; then
      install_postgres
    else
      die "PostgreSQL is not installed. Install it with: apt-get install -y postgresql (as root), or run: $0 up --install (as root)"
    fi
  fi
  start_postgres
}

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

# Installs secantusdb into .venv-mongo unless it is there. The lock is the one the Rust test
# harness (crates/testkit/src/harness/mongo.rs) takes, so the two never install at once.
ensure_secantusdb() {
  if [ -x "$VENV/bin/secantusd-py" ]; then
    return 0
  fi
  command -v python3 >/dev/null 2>&1 || die "python3 is missing: apt-get install -y python3 python3-venv"
  command -v flock >/dev/null 2>&1 || die "flock is missing: apt-get install -y util-linux"
  log "installing the MongoDB wire-protocol server (PyPI secantusdb) into $VENV"
  mkdir -p "$VENV"
  # The inner script gets the venv as $1: single quotes are meant.
  # shellcheck disable=SC2016
  flock "$VENV/.install.lock" sh -c '
    set -eu
    if [ ! -x "$1/bin/secantusd-py" ]; then
      python3 -m venv "$1"
      "$1/bin/pip" install --quiet --disable-pip-version-check secantusdb
    fi' install-secantusdb "$VENV" \
    || die "installing secantusdb failed (python3 -m venv needs: apt-get install -y python3-venv)"
}

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

# -------------------------------------------------------------------- commands

print_env() {
  printf 'export EMPORIUM_POSTGRES_URL=%s\n' "$POSTGRES_URL"
  printf "export EMPORIUM_MONGODB_URI='%s'\n" "$MONGODB_URI"
}

cmd_up() {
  local install=no
  while [ "$#" -gt 0 ]; do
    case "$1" in
      --install) install=yes ;;
      *) usage ;;
    esac
    shift
  done
  ensure_postgres "$install"
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
    down) [ "$#" -eq 0 ] || usage; stop_mongo ;;
    status) [ "$#" -eq 0 ] || usage; cmd_status ;;
    -h | --help | help) usage ;;
    *) usage ;;
  esac
}

main "$@"
