#!/usr/bin/env bash
# The streaming standby of deploy/compose.sharded.yaml: on first start, a base backup of
# the primary through its slot `standby1` (pg_basebackup -R writes standby.signal and
# primary_conninfo); then the server, as a hot standby named standby1.
set -euo pipefail
: "${PRIMARY_HOST:=postgres}"
export PGPASSWORD="${REPLICATION_PASSWORD:-replicator}"
if [ ! -s "$PGDATA/PG_VERSION" ]; then
  until pg_isready -h "$PRIMARY_HOST" -p 5432 >/dev/null 2>&1; do sleep 1; done
  pg_basebackup -h "$PRIMARY_HOST" -p 5432 -U replicator -D "$PGDATA" -R -X stream -S standby1 -c fast
  chmod 700 "$PGDATA"
fi
exec postgres -c cluster_name=standby1 -c hot_standby=on -c archive_mode=off
