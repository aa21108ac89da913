#!/usr/bin/env bash
# The PostgreSQL ceiling for order placement: runs the server's own SQL (order_*.sql, the
# statements of one `POST /api/orders`, captured with log_statement=all) with pgbench
# directly against PostgreSQL, at the same client counts as benches/run-locking.sh.
#
#   benches/pgbench/run.sh                     # all scenarios, clients 1 4 8 16 32, 10 s each
#   SCENARIOS=hot CLIENTS="8" SECONDS_PER_RUN=30 benches/pgbench/run.sh
#
# Per scenario it creates a throw-away database, loads the ledger schema from
# crates/postgres/migrations/*.sql (the files `emporium migrate` embeds), seeds 10,000 SKUs
# (SKU-00001 .. SKU-10000, 100,000,000 units each so nothing sells out), runs
# `pgbench -n -M prepared -f <script> -D skus=<n> -c N -j N -T S` per client count (uniform
# and hot share order_one_line.sql over 10,000 SKUs or one; crossed is order_crossed.sql), and
# drops the database. One JSON line per run goes to stdout and to $OUT (appended).
#
# Environment: PGHOST (127.0.0.1), PGPORT (5432), PGUSER (postgres), CLIENTS, SCENARIOS,
# SECONDS_PER_RUN, OUT (benches/results/pgbench-<UTC timestamp>.jsonl).
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
export PGHOST="${PGHOST:-127.0.0.1}" PGPORT="${PGPORT:-5432}" PGUSER="${PGUSER:-postgres}"
CLIENTS="${CLIENTS:-1 4 8 16 32}"
SCENARIOS="${SCENARIOS:-uniform hot crossed}"
SECONDS_PER_RUN="${SECONDS_PER_RUN:-10}"
SKUS=10000
OUT="${OUT:-$root/benches/results/pgbench-$(date -u +%Y%m%dT%H%M%SZ).jsonl}"
mkdir -p "$(dirname "$OUT")"

work="$(mktemp -d /tmp/emporium-pgbench.XXXXXX)"
db=""
cleanup() {
    if [ -n "$db" ]; then dropdb --if-exists "$db" >/dev/null 2>&1 || true; fi
    rm -rf "$work"
}
trap cleanup EXIT

load_schema() {
    for f in "$root"/crates/postgres/migrations/*.sql; do
        psql -X -q -v ON_ERROR_STOP=1 -d "$1" -f "$f"
    done
    # Product ids are md5(sku)::uuid so the scripts can compute them without a read.
    psql -X -q -v ON_ERROR_STOP=1 -d "$1" -c "
        INSERT INTO inventory (sku, product_id, on_hand, reserved, version, updated_at)
        SELECT s, md5(s)::uuid, 100000000, 0, 0, now()
          FROM (SELECT 'SKU-' || lpad(i::text, 5, '0') AS s FROM generate_series(1, $SKUS) i) x"
    psql -X -q -v ON_ERROR_STOP=1 -d "$1" -c "VACUUM ANALYZE"
}

# p50/p95/p99 in ms from pgbench's per-transaction logs (3rd field: latency in us).
percentiles() {
    python3 - "$@" <<'EOF'
import sys, glob
lat = []
for pattern in sys.argv[1:]:
    for path in glob.glob(pattern):
        with open(path) as f:
            for line in f:
                parts = line.split()
                if len(parts) >= 3 and parts[2].isdigit():
                    lat.append(int(parts[2]))
lat.sort()
def pct(p):
    if not lat:
        return 0.0
    return round(lat[round(p / 100 * (len(lat) - 1))] / 1000, 1)
print(f"{pct(50)} {pct(95)} {pct(99)}")
EOF
}

for scenario in $SCENARIOS; do
    # uniform and hot run the same one-line order, over 10,000 SKUs or over one.
    case "$scenario" in
        uniform | uniform_ledger_only) skus=$SKUS ;;
        hot | hot_ledger_only) skus=1 ;;
        *) skus=$SKUS ;;
    esac
    script="$here/order_${scenario}.sql"
    case "$scenario" in
        uniform | hot) script="$here/order_one_line.sql" ;;
        uniform_ledger_only | hot_ledger_only) script="$here/order_one_line_ledger_only.sql" ;;
    esac
    [ -f "$script" ] || { echo "no script $script" >&2; exit 1; }
    db="emporium_pgbench_${scenario}_$$"
    createdb "$db"
    load_schema "$db"
    for c in $CLIENTS; do
        load="$(cut -d' ' -f1-3 /proc/loadavg)"
        rm -f "$work"/pgbench_log.*
        psql -X -q -d "$db" -c "CHECKPOINT" >/dev/null
        (cd "$work" && pgbench -n -M prepared -f "$script" -D skus="$skus" -c "$c" -j "$c" -T "$SECONDS_PER_RUN" \
            -l --log-prefix=pgbench_log "$db") > "$work/out.txt" 2>&1 \
            || { cat "$work/out.txt" >&2; exit 1; }
        tps="$(sed -n 's/^tps = \([0-9.]*\) (without initial connection time)$/\1/p' "$work/out.txt")"
        failed="$(sed -n 's/^number of failed transactions: \([0-9]*\).*/\1/p' "$work/out.txt")"
        done_tx="$(sed -n 's/^number of transactions actually processed: \([0-9]*\).*/\1/p' "$work/out.txt")"
        read -r p50 p95 p99 < <(percentiles "$work/pgbench_log.*")
        line="$(printf '{"label":"pgbench","scenario":"%s","clients":%s,"seconds":%s,"orders_per_s":%.0f,"transactions":%s,"failed":%s,"p50_ms":%s,"p95_ms":%s,"p99_ms":%s,"loadavg":"%s"}' \
            "$scenario" "$c" "$SECONDS_PER_RUN" "$tps" "${done_tx:-0}" "${failed:-0}" "$p50" "$p95" "$p99" "$load")"
        echo "$line" | tee -a "$OUT"
    done
    # The ledger must balance: what left on_hand is exactly what confirmed lines sold.
    psql -X -At -d "$db" -c "
        SELECT 'pgbench ledger check ($scenario): ' ||
               CASE WHEN (SELECT sum(100000000 - on_hand) FROM inventory)
                       = (SELECT coalesce(sum(quantity), 0) FROM order_items)
                     AND (SELECT sum(reserved) FROM inventory) = 0
                    THEN 'ok' ELSE 'MISMATCH' END" >&2
    dropdb "$db"
    db=""
done
echo "results appended to $OUT" >&2
