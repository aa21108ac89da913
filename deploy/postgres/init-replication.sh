#!/usr/bin/env bash
# Runs once, on the primary's first start (/docker-entrypoint-initdb.d): a role the standby
# streams as, its pg_hba line, and a physical slot, so a standby that stops is still
# known (GET /api/admin/replica-status reports it `down`; ADR 0025) and its WAL is kept.
set -euo pipefail
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" <<SQL
CREATE ROLE replicator WITH REPLICATION LOGIN PASSWORD '${REPLICATION_PASSWORD:-replicator}';
SELECT pg_create_physical_replication_slot('standby1');
CREATE EXTENSION IF NOT EXISTS pg_stat_statements;
SQL
echo "host replication replicator all scram-sha-256" >>"$PGDATA/pg_hba.conf"
