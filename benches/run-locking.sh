#!/usr/bin/env bash
# Reproduces the "Locking strategies, measured" series (benches/RESULTS.md): for every
# scenario and both reservation strategies, a fresh PostgreSQL database, a fresh `emporium`
# server (catalog in memory, ledger on that database, EMPORIUM_LOCKING=<strategy>), a short
# warm-up, then `emporium-bench orders` at each client count. One JSON line per run (the
# bench's own line plus strategy, pool size and load average) and one ledger check per
# server go to $OUT.
#
#   benches/run-locking.sh                                   # the whole series (~10 min)
#   SCENARIOS=hot CLIENTS="8 32" STRATEGIES=optimistic benches/run-locking.sh
#   benches/pgbench/run.sh                                   # the PostgreSQL ceiling
#   /tmp/venv/bin/python benches/plot.py RESULTS.jsonl...    # the chart
#
# The catalog stays in memory on purpose: EMPORIUM_MONGODB_URI is unset, because the
# MongoDB test server available here is one Python process (~2,000 reads/s) that would cap
# every order and measure nothing about stock locking.
#
# Environment (defaults): STRATEGIES (pessimistic optimistic), SCENARIOS (uniform hot
# crossed), CLIENTS (1 4 8 16 32), SECONDS_PER_RUN (10), WARMUP_SECONDS (3), POOL (32:
# EMPORIUM_POSTGRES_MAX_CONNECTIONS, >= the most clients so the pool never caps the
# database's concurrency), STOCK (1000000 units per SKU: nothing sells out), SKUS (10000),
# PORT (18080), PGHOST/PGPORT/PGUSER (127.0.0.1/5432/postgres), EMPORIUM_BIN and BENCH_BIN
# (target/release/{emporium,emporium-bench}, built when missing), OUT
# (benches/results/locking-<UTC timestamp>.jsonl).
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
STRATEGIES="${STRATEGIES:-pessimistic optimistic}"
SCENARIOS="${SCENARIOS:-uniform hot crossed}"
CLIENTS="${CLIENTS:-1 4 8 16 32}"
SECONDS_PER_RUN="${SECONDS_PER_RUN:-10}"
WARMUP_SECONDS="${WARMUP_SECONDS:-3}"
POOL="${POOL:-32}"
STOCK="${STOCK:-1000000}"
SKUS="${SKUS:-10000}"
PORT="${PORT:-18080}"
export PGHOST="${PGHOST:-127.0.0.1}" PGPORT="${PGPORT:-5432}" PGUSER="${PGUSER:-postgres}"
EMPORIUM_BIN="${EMPORIUM_BIN:-$root/target/release/emporium}"
BENCH_BIN="${BENCH_BIN:-$root/target/release/emporium-bench}"
OUT="${OUT:-$root/benches/results/locking-$(date -u +%Y%m%dT%H%M%SZ).jsonl}"
mkdir -p "$(dirname "$OUT")"

if [ ! -x "$EMPORIUM_BIN" ] || [ ! -x "$BENCH_BIN" ]; then
    (cd "$root" && cargo build --release -p emporium-app -p emporium-bench)
fi

base="http://127.0.0.1:$PORT/api"
server_pid=""
db=""
log="$(mktemp /tmp/emporium-locking-server.XXXXXX.log)"
stop_server() {
    if [ -n "$server_pid" ]; then
        kill "$server_pid" 2>/dev/null || true
        wait "$server_pid" 2>/dev/null || true
        server_pid=""
    fi
    if [ -n "$db" ]; then
        dropdb --if-exists "$db" >/dev/null 2>&1 || true
        db=""
    fi
}
trap stop_server EXIT

start_server() { # strategy
    db="emporium_bench_${1}_${scenario}_$$"
    createdb "$db"
    env -u EMPORIUM_MONGODB_URI \
        EMPORIUM_LISTEN="127.0.0.1:$PORT" \
        EMPORIUM_POSTGRES_URL="postgres://$PGUSER@$PGHOST:$PGPORT/$db" \
        EMPORIUM_LOCKING="$1" \
        EMPORIUM_POSTGRES_MAX_CONNECTIONS="$POOL" \
        RUST_LOG=warn \
        "$EMPORIUM_BIN" serve >>"$log" 2>&1 &
    server_pid=$!
    for _ in $(seq 1 100); do
        if curl -sf "$base/health" >/dev/null 2>&1; then return 0; fi
        sleep 0.1
    done
    echo "the server did not come up; its log: $log" >&2
    exit 1
}

# Adds fields to the bench's JSON line.
annotate() { # json strategy loadavg
    python3 -c '
import json, sys
line = json.loads(sys.argv[1])
line.update(strategy=sys.argv[2], pool=int(sys.argv[3]), loadavg=sys.argv[4])
print(json.dumps(line))' "$1" "$2" "$POOL" "$3"
}

# Ledger-level invariants over everything this server did (warm-up included): the units
# that left on_hand are exactly the units of confirmed orders, nothing is left reserved,
# and every saga completed. `rollbacks` counts the database's rolled-back transactions:
# with no 409s, each is an optimistic attempt that found its stock row changed and was
# retried (idle backends flush their statistics within 10 s, hence the wait).
ledger_check() { # strategy
    sleep 11
    psql -X -At -d "$db" -c "
        SELECT json_build_object(
          'label', 'ledger-check', 'strategy', '$1', 'scenario', '$scenario',
          'sold_by_stock', (SELECT sum($STOCK - on_hand) FROM inventory),
          'sold_by_orders', (SELECT coalesce(sum(i.quantity), 0) FROM order_items i
                               JOIN orders o ON o.id = i.order_id WHERE o.status = 'confirmed'),
          'reserved', (SELECT sum(reserved) FROM inventory),
          'orders_by_status', (SELECT coalesce(json_object_agg(status, n), '{}') FROM
                                 (SELECT status, count(*) n FROM orders GROUP BY status) s),
          'sagas_by_state', (SELECT coalesce(json_object_agg(state, n), '{}') FROM
                               (SELECT state, count(*) n FROM saga_log GROUP BY state) s),
          'rollbacks', (SELECT xact_rollback FROM pg_stat_database
                         WHERE datname = current_database()),
          'ok', (SELECT sum($STOCK - on_hand) FROM inventory)
                  = (SELECT coalesce(sum(i.quantity), 0) FROM order_items i
                       JOIN orders o ON o.id = i.order_id WHERE o.status = 'confirmed')
                AND (SELECT sum(reserved) FROM inventory) = 0)"
}

echo "machine: $(nproc) cores, $(. /etc/os-release && echo "$PRETTY_NAME"), $(psql -X -At -c 'SHOW server_version' -d postgres | cut -d' ' -f1)" >&2
echo "results: $OUT; server log: $log" >&2
for scenario in $SCENARIOS; do
    for strategy in $STRATEGIES; do
        start_server "$strategy"
        # Warm-up: creates the scenario's products once (10,000 for uniform), fills the
        # pool and the prepared-statement caches. Every run then reuses those products.
        products="$log.products-$scenario-$strategy"
        rm -f "$products"
        "$BENCH_BIN" orders --base "$base" --scenario "$scenario" --skus "$SKUS" \
            --stock "$STOCK" --clients 4 --seconds "$WARMUP_SECONDS" --label warmup \
            --products-file "$products" --json >/dev/null 2>"$log.bench" \
            || { echo "warm-up failed: $(tail -1 "$log.bench")" >&2; exit 1; }
        psql -X -q -d "$db" -c "VACUUM ANALYZE"
        for c in $CLIENTS; do
            psql -X -q -d "$db" -c "CHECKPOINT"
            load="$(cut -d' ' -f1-3 /proc/loadavg)"
            if json="$("$BENCH_BIN" orders --base "$base" --scenario "$scenario" --skus "$SKUS" \
                --stock "$STOCK" --clients "$c" --seconds "$SECONDS_PER_RUN" \
                --products-file "$products" --label "$strategy" --json 2>"$log.bench")"; then :; else
                echo "bench failed ($strategy $scenario $c): $(tail -1 "$log.bench")" >&2
            fi
            [ -n "$json" ] && annotate "$json" "$strategy" "$load" | tee -a "$OUT"
        done
        ledger_check "$strategy" | tee -a "$OUT"
        stop_server
        rm -f "$products"
    done
done
grep -E 'ERROR|WARN' "$log" | sort | uniq -c | sort -rn | head -20 >&2 || true
echo "results appended to $OUT" >&2
