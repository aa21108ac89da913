#!/usr/bin/env bash
# Measured query plans for ADR 0004 ("Measured plans").
#
#   scripts/explain-plans.sh [postgres|mongo|all] > plans.txt     (default: all)
#
# postgres: creates a throw-away database emporium_explain_<random> on $PGHOST:$PGPORT
#   (default 127.0.0.1:5432, user postgres, trust auth), applies
#   crates/postgres/migrations/*.sql in order, seeds realistic volumes with generate_series,
#   runs VACUUM (ANALYZE), then prints `EXPLAIN (ANALYZE, BUFFERS, COSTS OFF)` for the
#   statements the PostgreSQL adapter really sends (crates/postgres/src/orders/read.rs,
#   orders/create.rs, stock.rs, saga_log.rs), with literal values in place of the bind
#   parameters (custom plans; the last one shows the generic plan of a prepared statement).
#   The database is dropped on exit, even on failure. Needs psql, createdb, dropdb.
#
#   Seed (random() is seeded, so row counts are the same on every run; uuids are not):
#     inventory     10,000 SKUs
#     orders        50,000 over the last 90 days, 1,000 customers; 100 `pending` (0.2 %, all
#                   from the last hour: in flight or abandoned), the other 49,900 delivered
#                   50 %, confirmed 20 %, shipped 20 %, failed 5 %, cancelled 5 %
#     order_items   2 per order (100,000), products uniform over the 10,000 SKUs
#     payments      one per non-pending order (49,900)
#     saga_log      one place_order saga per order, one cancel_order per cancelled order;
#                   pending orders' sagas `running`, 3 `stuck`
#
# mongo: starts the development MongoDB wire-protocol server (secantusd-py from
#   .venv-mongo) on a free port with a temporary storage directory, creates the collections,
#   validators and indexes as crates/mongo/src/schema.rs does, inserts 100 suppliers and
#   5,000 products (25 categories, `laptops` about twice as large as the others; 90 % with a
#   supplier; Decimal128 prices; UUID v7 ids), and prints `explain` at verbosity
#   `executionStats` for the filters and sorts crates/mongo/src/query.rs builds. The server
#   is stopped and the directory removed on exit. These plans are the test server's, not
#   MongoDB's: see ADR 0004 for what they can and cannot show. To take the same plans on a
#   real MongoDB (e.g. the replica set of deploy/compose.yaml), point it at that server
#   instead; no server is started then, and the database `emporium_explain` is created there
#   and dropped at the end:
#     EXPLAIN_MONGODB_URI='mongodb://127.0.0.1:27017/?directConnection=true' \
#       scripts/explain-plans.sh mongo
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
WHAT="${1:-all}"
case "$WHAT" in postgres | mongo | all) ;; *)
  echo "usage: $0 [postgres|mongo|all]" >&2
  exit 2
  ;;
esac

DB=""
MONGO_PID=""
MONGO_DIR=""
cleanup() {
  if [ -n "$DB" ]; then dropdb --if-exists "$DB" || true; fi
  if [ -n "$MONGO_PID" ]; then
    kill -TERM "$MONGO_PID" 2>/dev/null || true
    wait "$MONGO_PID" 2>/dev/null || true
  fi
  if [ -n "$MONGO_DIR" ]; then rm -rf "$MONGO_DIR"; fi
}
trap cleanup EXIT

postgres_plans() {
export PGHOST="${PGHOST:-127.0.0.1}" PGPORT="${PGPORT:-5432}" PGUSER="${PGUSER:-postgres}"
DB="emporium_explain_$(od -An -N4 -tx4 /dev/urandom | tr -d ' \n')"
createdb "$DB"
printf '==> database %s on %s:%s\n' "$DB" "$PGHOST" "$PGPORT" >&2

psql_db() { psql -X -q -v ON_ERROR_STOP=1 -d "$DB" "$@"; }

for migration in "$ROOT"/crates/postgres/migrations/*.sql; do
  printf '==> %s\n' "${migration#"$ROOT"/}" >&2
  psql_db -f "$migration"
done

printf '==> seeding\n' >&2
psql_db <<'SQL'
SELECT setseed(0.42) \g /dev/null

INSERT INTO inventory (sku, product_id, on_hand, reserved)
SELECT 'SKU-' || lpad(i::text, 5, '0'), md5('product-' || i)::uuid,
       100 + (random() * 400)::int, 0
FROM generate_series(1, 10000) AS i;

CREATE TEMP TABLE seed_orders AS
SELECT gen_random_uuid() AS id,
       'cust-' || lpad((floor(random() * 1000))::int::text, 4, '0') AS customer_id,
       CASE WHEN i <= 100 THEN 'pending'
            WHEN r < 0.50 THEN 'delivered' WHEN r < 0.70 THEN 'confirmed'
            WHEN r < 0.90 THEN 'shipped' WHEN r < 0.95 THEN 'failed' ELSE 'cancelled'
       END AS status,
       CASE WHEN i <= 100 THEN now() - random() * interval '1 hour'
            ELSE now() - random() * interval '90 days' END AS created_at
FROM (SELECT i, random() AS r FROM generate_series(1, 50000) AS i) AS g;

INSERT INTO orders (id, customer_id, customer_name, status, total, currency, created_at, updated_at)
SELECT id, customer_id, 'Customer ' || customer_id, status, 0, 'USD', created_at, created_at
FROM seed_orders;

INSERT INTO order_items (order_id, line_no, product_id, sku, name, category, quantity,
                         unit_price, line_total)
SELECT o.id, l.line_no, md5('product-' || l.p)::uuid, 'SKU-' || lpad(l.p::text, 5, '0'),
       'Product ' || l.p, 'category-' || (l.p % 40), l.q, 19.99, 19.99 * l.q
FROM seed_orders AS o
CROSS JOIN LATERAL (
  SELECT n AS line_no, 1 + floor(random() * 10000)::int + 0 * length(o.id::text) AS p,
         1 + floor(random() * 3)::int AS q
  FROM generate_series(1, 2) AS n
) AS l;

UPDATE orders o SET total = s.total
FROM (SELECT order_id, sum(line_total) AS total FROM order_items GROUP BY order_id) AS s
WHERE s.order_id = o.id;

UPDATE inventory i SET reserved = d.units
FROM (SELECT it.sku, sum(it.quantity)::int AS units
        FROM order_items it JOIN orders o ON o.id = it.order_id
       WHERE o.status = 'pending' GROUP BY it.sku) AS d
WHERE d.sku = i.sku;

INSERT INTO payments (id, order_id, status, amount, currency, method, gateway_ref,
                      decline_reason, created_at, updated_at)
SELECT gen_random_uuid(), o.id,
       CASE o.status WHEN 'failed' THEN 'declined' WHEN 'cancelled' THEN 'voided'
                     ELSE 'authorized' END,
       o.total, 'USD', 'card',
       CASE WHEN o.status <> 'failed' THEN 'auth_' || replace(o.id::text, '-', '') END,
       CASE WHEN o.status = 'failed' THEN 'card declined' END,
       o.created_at, o.created_at
FROM orders o WHERE o.status <> 'pending';

INSERT INTO saga_log (id, kind, subject, state, payload, entries, started_at, updated_at)
SELECT gen_random_uuid(), 'place_order', o.id,
       CASE o.status WHEN 'pending' THEN 'running' WHEN 'failed' THEN 'compensated'
                     ELSE 'completed' END,
       '{"payment_method": "card"}',
       jsonb_build_array(
         jsonb_build_object('step', 'reserve_stock', 'outcome', 'succeeded', 'at', o.created_at),
         jsonb_build_object('step', 'authorize_payment', 'outcome', 'succeeded', 'at', o.created_at),
         jsonb_build_object('step', 'confirm_order', 'outcome', 'succeeded', 'at', o.created_at)),
       o.created_at, o.created_at
FROM orders o;

INSERT INTO saga_log (id, kind, subject, state, payload, entries, started_at, updated_at)
SELECT gen_random_uuid(), 'cancel_order', o.id, 'completed', '{}', '[]',
       o.created_at + interval '1 hour', o.created_at + interval '1 hour'
FROM orders o WHERE o.status = 'cancelled';

UPDATE saga_log SET state = 'stuck'
WHERE id IN (SELECT id FROM saga_log WHERE state = 'compensated' ORDER BY id LIMIT 3);

-- What autovacuum would have done by now on a live database: drop the dead row versions
-- the seeding UPDATEs left, set the visibility map, gather statistics.
VACUUM (ANALYZE);
SQL

psql_db -P pager=off <<'SQL'
\pset footer off
SELECT version();
SELECT 'inventory' AS "table", count(*) FROM inventory
UNION ALL SELECT 'orders', count(*) FROM orders
UNION ALL SELECT 'order_items', count(*) FROM order_items
UNION ALL SELECT 'payments', count(*) FROM payments
UNION ALL SELECT 'saga_log', count(*) FROM saga_log;
SELECT status, count(*) FROM orders GROUP BY status ORDER BY 2 DESC;
SELECT state, count(*) FROM saga_log GROUP BY state ORDER BY 2 DESC;

-- Values for the bind parameters.
SELECT customer_id AS customer FROM orders GROUP BY customer_id ORDER BY count(*), customer_id
  OFFSET 500 LIMIT 1 \gset
SELECT product_id AS product FROM order_items GROUP BY product_id ORDER BY count(*), product_id
  OFFSET 5000 LIMIT 1 \gset
SELECT (now() - interval '7 days')::text AS week_ago, now()::text AS now_ts,
       (now() - interval '15 minutes')::text AS ttl_cutoff \gset
SELECT array_agg(id)::text AS page_ids FROM (
  SELECT id FROM orders WHERE status = 'confirmed' ORDER BY created_at, id LIMIT 50) AS p \gset
SELECT id AS one_order FROM orders WHERE status = 'pending' ORDER BY id LIMIT 1 \gset
SELECT count(*) AS customer_orders FROM orders WHERE customer_id = :'customer' \gset
SELECT count(*) AS product_orders FROM order_items WHERE product_id = :'product' \gset
\echo customer :customer has :customer_orders orders; product :product is on :product_orders lines

\echo
\echo ### orders/read.rs count_matching + page_of_headers: ?status=confirmed
EXPLAIN (ANALYZE, BUFFERS, COSTS OFF)
SELECT count(*) FROM orders o WHERE TRUE AND o.status = 'confirmed';
EXPLAIN (ANALYZE, BUFFERS, COSTS OFF)
SELECT o.id, o.customer_id, o.customer_name, o.status, o.total, o.currency, o.created_at, o.updated_at
FROM orders o WHERE TRUE AND o.status = 'confirmed' ORDER BY o.created_at, o.id LIMIT 50 OFFSET 0;

\echo ### ?status=delivered&offset=10000 (a deep page)
EXPLAIN (ANALYZE, BUFFERS, COSTS OFF)
SELECT o.id, o.customer_id, o.customer_name, o.status, o.total, o.currency, o.created_at, o.updated_at
FROM orders o WHERE TRUE AND o.status = 'delivered' ORDER BY o.created_at, o.id LIMIT 50 OFFSET 10000;

\echo ### ?status=confirmed&from=<7 days ago>&to=<now>
EXPLAIN (ANALYZE, BUFFERS, COSTS OFF)
SELECT count(*) FROM orders o
WHERE TRUE AND o.status = 'confirmed' AND o.created_at >= :'week_ago' AND o.created_at < :'now_ts';
EXPLAIN (ANALYZE, BUFFERS, COSTS OFF)
SELECT o.id, o.customer_id, o.customer_name, o.status, o.total, o.currency, o.created_at, o.updated_at
FROM orders o
WHERE TRUE AND o.status = 'confirmed' AND o.created_at >= :'week_ago' AND o.created_at < :'now_ts'
ORDER BY o.created_at, o.id LIMIT 50 OFFSET 0;

\echo ### ?customer_id=<a customer>
EXPLAIN (ANALYZE, BUFFERS, COSTS OFF)
SELECT count(*) FROM orders o WHERE TRUE AND o.customer_id = :'customer';
EXPLAIN (ANALYZE, BUFFERS, COSTS OFF)
SELECT o.id, o.customer_id, o.customer_name, o.status, o.total, o.currency, o.created_at, o.updated_at
FROM orders o WHERE TRUE AND o.customer_id = :'customer' ORDER BY o.created_at, o.id LIMIT 50 OFFSET 0;

\echo ### ?product_id=<a product>
EXPLAIN (ANALYZE, BUFFERS, COSTS OFF)
SELECT count(*) FROM orders o WHERE TRUE
  AND EXISTS (SELECT 1 FROM order_items i WHERE i.order_id = o.id AND i.product_id = :'product');
EXPLAIN (ANALYZE, BUFFERS, COSTS OFF)
SELECT o.id, o.customer_id, o.customer_name, o.status, o.total, o.currency, o.created_at, o.updated_at
FROM orders o WHERE TRUE
  AND EXISTS (SELECT 1 FROM order_items i WHERE i.order_id = o.id AND i.product_id = :'product')
ORDER BY o.created_at, o.id LIMIT 50 OFFSET 0;

\echo ### ?from=<7 days ago>&to=<now> (no other filter)
EXPLAIN (ANALYZE, BUFFERS, COSTS OFF)
SELECT count(*) FROM orders o WHERE TRUE AND o.created_at >= :'week_ago' AND o.created_at < :'now_ts';
EXPLAIN (ANALYZE, BUFFERS, COSTS OFF)
SELECT o.id, o.customer_id, o.customer_name, o.status, o.total, o.currency, o.created_at, o.updated_at
FROM orders o WHERE TRUE AND o.created_at >= :'week_ago' AND o.created_at < :'now_ts'
ORDER BY o.created_at, o.id LIMIT 50 OFFSET 0;

\echo ### no filter
EXPLAIN (ANALYZE, BUFFERS, COSTS OFF)
SELECT count(*) FROM orders o WHERE TRUE;
EXPLAIN (ANALYZE, BUFFERS, COSTS OFF)
SELECT o.id, o.customer_id, o.customer_name, o.status, o.total, o.currency, o.created_at, o.updated_at
FROM orders o WHERE TRUE ORDER BY o.created_at, o.id LIMIT 50 OFFSET 0;

\echo ### orders/read.rs assemble: the lines and payments of a 50-order page
EXPLAIN (ANALYZE, BUFFERS, COSTS OFF)
SELECT order_id, line_no, product_id, sku, name, category, quantity, unit_price, line_total
FROM order_items WHERE order_id = ANY(:'page_ids'::uuid[]) ORDER BY order_id, line_no;
EXPLAIN (ANALYZE, BUFFERS, COSTS OFF)
SELECT * FROM payments WHERE order_id = ANY(:'page_ids'::uuid[]);

\echo ### recovery.rs expire_reservations: status=pending, created before now - 15 min
EXPLAIN (ANALYZE, BUFFERS, COSTS OFF)
SELECT o.id, o.customer_id, o.customer_name, o.status, o.total, o.currency, o.created_at, o.updated_at
FROM orders o WHERE TRUE AND o.status = 'pending' AND o.created_at < :'ttl_cutoff'
ORDER BY o.created_at, o.id LIMIT 200 OFFSET 0;

\echo ### stock.rs select_rows (create_pending, pessimistic): lock 2 SKUs in SKU order
BEGIN;
EXPLAIN (ANALYZE, BUFFERS, COSTS OFF)
SELECT sku, product_id, on_hand, reserved, version FROM inventory
WHERE sku = ANY('{SKU-07311,SKU-00042}'::text[]) ORDER BY sku COLLATE "C" FOR UPDATE;
ROLLBACK;

\echo ### stock.rs demand_of_order (confirm / fail / cancel)
EXPLAIN (ANALYZE, BUFFERS, COSTS OFF)
SELECT sku, SUM(quantity)::int4 AS units FROM order_items
WHERE order_id = :'one_order' GROUP BY sku ORDER BY sku COLLATE "C";

\echo ### saga_log.rs sagas_in_state: recovery (running, limit 500) and the stuck gauge (limit 10000)
EXPLAIN (ANALYZE, BUFFERS, COSTS OFF)
SELECT id, kind, subject, state, payload, entries, started_at, updated_at FROM saga_log
WHERE state = 'running' ORDER BY started_at, id LIMIT 500;
EXPLAIN (ANALYZE, BUFFERS, COSTS OFF)
SELECT id, kind, subject, state, payload, entries, started_at, updated_at FROM saga_log
WHERE state = 'stuck' ORDER BY started_at, id LIMIT 10000;

\echo ### generic plan (what a prepared statement may switch to after 5 executions)
PREPARE by_status(text, int8, int8) AS
SELECT o.id, o.customer_id, o.customer_name, o.status, o.total, o.currency, o.created_at, o.updated_at
FROM orders o WHERE TRUE AND o.status = $1 ORDER BY o.created_at, o.id LIMIT $2 OFFSET $3;
SET plan_cache_mode = force_generic_plan;
EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) EXECUTE by_status('confirmed', 50, 0);
RESET plan_cache_mode;
SQL
}

mongo_plans() {
local venv="$ROOT/.venv-mongo" uri="${EXPLAIN_MONGODB_URI:-}" port
[ -x "$venv/bin/python" ] || {
  echo "no $venv: python3 -m venv .venv-mongo && .venv-mongo/bin/pip install secantusdb" >&2
  exit 1
}
if [ -z "$uri" ]; then
  port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
  MONGO_DIR="$(mktemp -d /tmp/emporium-explain-mongo.XXXXXX)"
  # Started from the temporary directory, so no ./secantusd.toml of the caller is picked up.
  (cd "$MONGO_DIR" && exec "$venv/bin/secantusd-py" --host 127.0.0.1 --port "$port" \
    --storage-path "$MONGO_DIR/data" >"$MONGO_DIR/server.log" 2>&1) &
  MONGO_PID=$!
  uri="mongodb://127.0.0.1:$port/?directConnection=true"
  printf '==> secantusd-py pid %s on 127.0.0.1:%s, storage %s\n' "$MONGO_PID" "$port" "$MONGO_DIR" >&2
fi
"$venv/bin/python" - "$uri" <<'PY'
import datetime, json, random, sys, time, uuid
from bson import Decimal128
from bson.binary import Binary, UuidRepresentation
from bson.json_util import dumps
from pymongo import IndexModel, MongoClient
from pymongo.errors import OperationFailure

client = MongoClient(sys.argv[1], uuidRepresentation="standard", serverSelectionTimeoutMS=20000)
info = client.admin.command("buildInfo")
print(f"server: {sys.argv[1]}, reports version {info.get('version')}; "
      f"pymongo {__import__('pymongo').version}")
client.drop_database("emporium_explain")
db = client["emporium_explain"]

# crates/mongo/src/schema.rs: validators, then indexes, then the text index (refused here).
db.create_collection("products", validator={
    "$jsonSchema": {"bsonType": "object", "required": ["name", "sku", "category", "price"],
                    "properties": {"sku": {"bsonType": "string"}, "name": {"bsonType": "string"},
                                   "category": {"bsonType": "string"},
                                   "price": {"bsonType": "decimal", "minimum": 0},
                                   "currency": {"bsonType": "string"}}},
    "price": {"$gte": Decimal128("0")}})
db.create_collection("suppliers", validator={
    "$jsonSchema": {"bsonType": "object", "required": ["name", "region"],
                    "properties": {"name": {"bsonType": "string"},
                                   "region": {"bsonType": "string"}}}})
products = db.products
products.create_indexes([
    IndexModel([("sku", 1)], name="sku_unique", unique=True),
    IndexModel([("category", 1)], name="category"),
    IndexModel([("category", 1), ("price", 1)], name="category_price"),
    IndexModel([("supplier_id", 1)], name="supplier_id"),
    IndexModel([("created_at", 1), ("_id", 1)], name="created_at_id"),
])
db.suppliers.create_index([("created_at", 1), ("_id", 1)], name="created_at_id")
try:
    products.create_index([("name", "text"), ("description", "text"), ("tags", "text")],
                          name="products_text", weights={"name": 10, "tags": 5, "description": 1})
    print("text index: created")
except OperationFailure as e:
    print(f"text index: refused, code {e.code}: {e.details.get('errmsg')}")
print("indexes:", sorted(i["name"] for i in products.list_indexes()))

def uuid7(ms):
    v = (ms << 80) | random.getrandbits(80)
    v = (v & ~(0xF << 76)) | (0x7 << 76)
    v = (v & ~(0x3 << 62)) | (0x2 << 62)
    return uuid.UUID(int=v)

random.seed(42)
now = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)
suppliers = []
for i in range(100):
    at = now - datetime.timedelta(days=400 - i)
    sid = uuid7(int(at.timestamp() * 1000))
    suppliers.append(sid)
    db.suppliers.insert_one({"_id": sid, "name": f"Supplier {i}",
                             "region": random.choice(["EU", "US", "APAC"]),
                             "created_at": at, "updated_at": at})
categories = [f"category-{i:02d}" for i in range(24)] + ["laptops"]
docs = []
for i in range(5000):
    at = now - datetime.timedelta(seconds=random.randint(0, 365 * 86400))
    category = random.choices(categories, [1] * 24 + [2])[0]
    if category == "laptops":
        attributes = {"cpu": random.choice(["i5", "i7", "i9", "m3"]),
                      "ram_gb": random.choice([8, 16, 32]),
                      "display": {"size": random.choice(["13.3in", "14in", "15.6in", "16in", "17.3in"]),
                                  "hz": random.choice([60, 120, 144])}}
        cents = random.randint(39900, 399900)
    else:
        attributes = {"color": random.choice(["black", "silver", "white", "red"]),
                      "weight_kg": round(random.uniform(0.2, 4), 1)}
        cents = random.randint(199, 250000)
    docs.append({"_id": uuid7(int(at.timestamp() * 1000)), "sku": f"SKU-{i:05d}",
                 "name": f"Product {i}", "description": "A product for the explain run",
                 "category": category, "price": Decimal128(f"{cents / 100:.2f}"),
                 "currency": "USD", "low_stock_threshold": 5,
                 "supplier_id": random.choice(suppliers) if random.random() < 0.9 else None,
                 "tags": random.sample(["new", "sale", "eco", "premium", "bundle"], 2),
                 "attributes": attributes, "variants": [], "created_at": at, "updated_at": at})
started = time.time()
for k in range(0, len(docs), 500):
    products.insert_many(docs[k:k + 500])
print(f"products: {products.count_documents({})} inserted in {time.time() - started:.1f} s; "
      f"laptops {products.count_documents({'category': 'laptops'})}")

supplier = next(products.aggregate([
    {"$match": {"supplier_id": {"$ne": None}}},
    {"$group": {"_id": "$supplier_id", "n": {"$sum": 1}}}, {"$sort": {"n": -1}}, {"$limit": 1}]))
supplier_bin = Binary.from_uuid(supplier["_id"], UuidRepresentation.STANDARD)
print(f"supplier {supplier['_id']} has {supplier['n']} products")

def chain(stage):
    stage = stage.get("queryPlan", stage)  # MongoDB 7+ (slot-based engine) nests the plan
    out = []
    while stage:
        name = stage.get("stage", "?")
        if stage.get("indexName"):
            name += f"({stage['indexName']}, {stage.get('direction', '?')})"
        if stage.get("stage") == "SORT":
            name += f"({json.dumps(stage.get('sortPattern'))}, limit {stage.get('limitAmount')})"
        out.append(name)
        stage = stage.get("inputStage")
    return " <- ".join(out)

def explain(label, filt, sort=None, limit=50, hint=None):
    cmd = {"find": "products", "filter": filt}
    if sort:
        cmd["sort"] = sort
    cmd.update({"skip": 0, "limit": limit})
    if hint:
        cmd["hint"] = hint
    r = db.command({"explain": cmd, "verbosity": "executionStats"})
    qp, es = r["queryPlanner"], r.get("executionStats", {})
    print(f"\n### {label}")
    print("command:       ", dumps(cmd))
    print("winningPlan:   ", chain(qp["winningPlan"]))
    print("rejectedPlans: ", len(qp.get("rejectedPlans", [])))
    print("executionStats:", dumps({k: es.get(k) for k in ("nReturned", "totalKeysExamined",
                                   "totalDocsExamined", "executionTimeMillis")}))
    return r

laptops = {"category": "laptops"}
price_range = {"price": {"$gte": Decimal128("500"), "$lte": Decimal128("1500")}}
# As query.rs builds them: one clause alone, several under $and.
first = explain("?category=laptops&min_price=500&max_price=1500&sort=price",
                {"$and": [laptops, price_range]}, {"price": 1, "_id": 1})
print("\nraw explain of the query above, as the server returns it:")
print(dumps({k: v for k, v in first.items() if k not in ("$clusterTime", "operationTime")}, indent=1))
explain("the same, hint category_price", {"$and": [laptops, price_range]}, {"price": 1, "_id": 1},
        hint="category_price")
explain("the same filter without $and (implicit AND)", {**laptops, **price_range},
        {"price": 1, "_id": 1})
explain("one clause under $and (query.rs never builds this; it isolates $and)",
        {"$and": [laptops]})
explain("?category=laptops&sort=price", laptops, {"price": 1, "_id": 1})
explain("?category=laptops&sort=price, without the _id tie-break", laptops, {"price": 1})
explain("?category=laptops&sort=-price", laptops, {"price": -1, "_id": 1})
explain("?category=laptops (default sort)", laptops, {"created_at": 1, "_id": 1})
explain("?supplier_id=<the largest supplier>", {"supplier_id": supplier_bin},
        {"created_at": 1, "_id": 1})
explain("?attr.display.size=15.6in", {"attributes.display.size": {"$in": ["15.6in"]}},
        {"created_at": 1, "_id": 1})
explain("?category=laptops&attr.display.size=15.6in",
        {"$and": [laptops, {"attributes.display.size": {"$in": ["15.6in"]}}]},
        {"created_at": 1, "_id": 1})
explain("sku lookup (the unique check's index)", {"sku": "SKU-00042"}, limit=1)
explain("no filter (default sort)", {}, {"created_at": 1, "_id": 1})
explain("sort=-created_at (as product_sort builds it now)", {}, {"created_at": -1, "_id": -1})
explain("sort {created_at: -1, _id: 1} (the tie-break an earlier ADR 0004 draft assumed)", {},
        {"created_at": -1, "_id": 1})
explain("sort=name", {}, {"name": 1, "_id": 1})
explain("sort=price (no category)", {}, {"price": 1, "_id": 1})

agg = db.command({"explain": {"aggregate": "products",
                              "pipeline": [{"$match": {"$and": [laptops, price_range]}},
                                           {"$group": {"_id": 1, "n": {"$sum": 1}}}],
                              "cursor": {}},
                  "verbosity": "executionStats"})
# The plan is at the top level, or under the first stage's $cursor, depending on the server.
cursor = agg if "queryPlanner" in agg else agg["stages"][0]["$cursor"]
print("\n### count_documents of the first query (aggregate $match + $group)")
print("winningPlan:   ", chain(cursor["queryPlanner"]["winningPlan"]))
print("executionStats:", dumps({k: cursor.get("executionStats", {}).get(k) for k in
                                ("nReturned", "totalKeysExamined", "totalDocsExamined")}))
client.drop_database("emporium_explain")
PY
}

case "$WHAT" in
postgres) postgres_plans ;;
mongo) mongo_plans ;;
all)
  postgres_plans
  echo
  mongo_plans
  ;;
esac
