# Shared helpers for Emporium's scripts (sourced, not run).
# shellcheck shell=bash

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$ROOT/.venv-mongo"

log() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

# Makes sure a PostgreSQL server answers at 127.0.0.1:5432: starts the Debian cluster if it
# is installed but stopped, installs it (as root, with apt-get) if it is missing.
ensure_postgres() {
  if pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; then return 0; fi
  if ! command -v pg_ctlcluster >/dev/null 2>&1 || [ -z "$(ls /etc/postgresql 2>/dev/null)" ]; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
      log "PostgreSQL is not installed: installing it (apt-get install -y postgresql)"
      apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
    else
      die "PostgreSQL is not installed. Install it (sudo apt-get install -y postgresql) or set EMPORIUM_TEST_POSTGRES_URL to a server you have."
    fi
  fi
  local version
  version="$(ls /etc/postgresql | sort -V | tail -n 1)"
  log "starting PostgreSQL $version"
  pg_ctlcluster --skip-systemctl-redirect "$version" main start 2>/dev/null \
    || pg_ctlcluster "$version" main start
  for _ in $(seq 1 30); do
    pg_isready -q -h 127.0.0.1 -p 5432 && break
    sleep 0.5
  done
  pg_isready -q -h 127.0.0.1 -p 5432 || die "PostgreSQL did not start (see /var/log/postgresql)"
  # Trust auth for the local test user is how these machines are set up; make sure the
  # `postgres` role can log in over TCP without a password.
  psql -h 127.0.0.1 -U postgres -c 'select 1' >/dev/null 2>&1 \
    || die "cannot connect as postgres@127.0.0.1:5432; set EMPORIUM_TEST_POSTGRES_URL"
}

# Makes sure the project-local virtualenv has the MongoDB wire-protocol test server.
ensure_secantus() {
  if [ -x "$VENV/bin/secantusd-py" ]; then return 0; fi
  command -v python3 >/dev/null 2>&1 || die "python3 is needed for the MongoDB test server (apt-get install -y python3 python3-venv)"
  log "installing the MongoDB wire-protocol test server (PyPI secantusdb) into $VENV"
  python3 -m venv "$VENV" || die "python3 -m venv failed (apt-get install -y python3-venv)"
  "$VENV/bin/pip" install -q --disable-pip-version-check secantusdb
}

# A free TCP port on 127.0.0.1.
free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# Waits until something accepts TCP connections on 127.0.0.1:$1.
wait_for_port() {
  local port="$1" tries="${2:-60}"
  for _ in $(seq 1 "$tries"); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then return 0; fi
    sleep 0.25
  done
  return 1
}
