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
  sed -n '2,6p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2
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
    down) [ "$#" -eq 0 ] || usage; stop_mongo ;;
    status) [ "$#" -eq 0 ] || usage; cmd_status ;;
    -h | --help | help) usage ;;
    *) usage ;;
  esac
}

main "$@"
