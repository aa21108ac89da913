# Shared helpers for Emporium's scripts (sourced by test.sh and dev-services.sh).
# shellcheck shell=bash

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$ROOT/.venv-mongo"
PG_PORT=5432

log() { printf '==> %s\n' "$*" >&2; }
die() {
  printf 'error: %s\n' "$*" >&2
  exit 1
}

# True when something accepts TCP connections on 127.0.0.1:$1.
port_open() {
  (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# Waits up to $2 quarter-seconds (default 60) for 127.0.0.1:$1 to accept connections.
wait_for_port() {
  local port="$1" tries="${2:-60}"
  for _ in $(seq 1 "$tries"); do
    port_open "$port" && return 0
    sleep 0.25
  done
  return 1
}

# A free TCP port on 127.0.0.1.
free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
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
  [ "$(id -u)" = 0 ] || die "installing PostgreSQL needs root; as root run: apt-get install -y postgresql"
  command -v apt-get >/dev/null 2>&1 || die "no apt-get here: install PostgreSQL 15+ yourself and start it on 127.0.0.1:$PG_PORT"
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
  wait_for_port "$PG_PORT" 120 \
    || die "PostgreSQL $version did not open port $PG_PORT (see /var/log/postgresql)"
}

# Makes sure PostgreSQL answers on 127.0.0.1:5432. `ensure_postgres yes` installs it with
# apt-get when it is missing (root only); `ensure_postgres no` says what to install.
ensure_postgres() {
  local install="$1"
  if port_open "$PG_PORT"; then
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

# ------------------------------------------------------------------- MongoDB

# Installs secantusdb (the MongoDB wire-protocol test server) into .venv-mongo unless it is
# there. The lock is the one the Rust test harness (crates/testkit/src/harness/mongo.rs)
# takes, so the two never install at once.
# Headless Chromium and its WebDriver for the dashboard's browser test (Debian's packages;
# installed with apt-get when missing and root, otherwise the exact command is named).
ensure_chromium() {
  if command -v chromium >/dev/null 2>&1 && command -v chromedriver >/dev/null 2>&1; then
    return
  fi
  [ "$(id -u)" = 0 ] || die "the browser test needs Chromium: as root run: apt-get install -y chromium chromium-driver"
  command -v apt-get >/dev/null 2>&1 || die "no apt-get here: install Chromium and its chromedriver yourself"
  log "installing Chromium for the browser test (apt-get install -y chromium chromium-driver)"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null
}

# pgBackRest (Debian package): PostgreSQL backups, WAL archiving and PITR, for the backup
# tests and `scripts/dev-services.sh up --private`.
ensure_pgbackrest() {
  if command -v pgbackrest >/dev/null 2>&1; then
    return
  fi
  [ "$(id -u)" = 0 ] || die "backups need pgBackRest: as root run: apt-get install -y pgbackrest"
  command -v apt-get >/dev/null 2>&1 || die "no apt-get here: install pgBackRest (https://pgbackrest.org) yourself"
  log "installing pgBackRest (apt-get install -y pgbackrest)"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq pgbackrest >/dev/null
}

# promtool (Debian package `prometheus`): checks the alert rules and the /metrics text.
ensure_promtool() {
  if command -v promtool >/dev/null 2>&1; then
    return
  fi
  [ "$(id -u)" = 0 ] || die "the monitoring checks need promtool: as root run: apt-get install -y prometheus"
  command -v apt-get >/dev/null 2>&1 || die "no apt-get here: install Prometheus's promtool yourself"
  log "installing promtool (apt-get install -y --no-install-recommends prometheus)"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus >/dev/null
}

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

# schemathesis (PyPI), which fuzzes the server against its own OpenAPI document, in a
# virtualenv of the project's own; installed once.
SCHEMATHESIS_VENV="$ROOT/.venv-schemathesis"
ensure_schemathesis() {
  if [ -x "$SCHEMATHESIS_VENV/bin/schemathesis" ]; then
    return 0
  fi
  command -v python3 >/dev/null 2>&1 || die "python3 is missing: apt-get install -y python3 python3-venv"
  log "installing schemathesis (PyPI) into $SCHEMATHESIS_VENV"
  mkdir -p "$SCHEMATHESIS_VENV"
  # shellcheck disable=SC2016
  flock "$SCHEMATHESIS_VENV/.install.lock" sh -c '
    set -eu
    if [ ! -x "$1/bin/schemathesis" ]; then
      python3 -m venv "$1"
      "$1/bin/pip" install --quiet --disable-pip-version-check "schemathesis>=4,<5"
    fi' install-schemathesis "$SCHEMATHESIS_VENV" \
    || die "installing schemathesis failed (python3 -m venv needs: apt-get install -y python3-venv)"
}
