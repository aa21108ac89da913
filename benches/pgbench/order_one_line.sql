-- One order placement as the server runs it against PostgreSQL (pessimistic locking),
-- statement for statement: 11 round-trip groups, 9 commits. Captured with
-- log_statement=all from a real `POST /api/orders` (see benches/RESULTS.md).
-- Scenarios `uniform` and `hot`: 1 unit of one SKU drawn uniformly out of the first :skus
-- seeded by run.sh (run.sh passes -D skus=10000 for uniform, -D skus=1 for hot: one hot row).
\set i random(1, :skus)
-- Ids and the SKU. The server makes these in process (UUIDv7 + the in-memory catalog);
-- here they cost one extra read-only round trip.
SELECT gen_random_uuid() AS oid, gen_random_uuid() AS sid, gen_random_uuid() AS pay,
       'SKU-' || lpad((:i)::text, 5, '0') AS sku,
       md5('SKU-' || lpad((:i)::text, 5, '0'))::uuid AS prod \gset
-- saga: begin + reserve_stock started (autocommit each)
INSERT INTO saga_log (id, kind, subject, state, payload, entries, started_at, updated_at)
VALUES (:sid, 'place_order', :oid, 'running', '{"payment_method": "card"}', '[]', now(), now())
ON CONFLICT (id) DO NOTHING;
UPDATE saga_log SET entries = entries || jsonb_build_array(jsonb_build_object('at', now(), 'step', 'reserve_stock', 'detail', NULL, 'outcome', 'started')), state = 'running', updated_at = now() WHERE id = :sid;
-- ledger transaction 1: create_pending (claim the order id, lock stock in SKU order, reserve, lines, outbox)
BEGIN;
INSERT INTO orders (id, customer_id, customer_name, status, total, currency, created_at, updated_at)
VALUES (:oid, 'bench-' || :client_id, NULL, 'pending', 9.99, 'USD', now(), now()) ON CONFLICT (id) DO NOTHING;
SELECT sku, product_id, on_hand, reserved, version FROM inventory WHERE sku = ANY(ARRAY[(:sku)::text]) ORDER BY sku COLLATE "C" FOR UPDATE;
UPDATE inventory AS i SET on_hand = i.on_hand + d.on_hand, reserved = i.reserved + d.reserved, version = i.version + 1, updated_at = now()
  FROM UNNEST(ARRAY[(:sku)::text], ARRAY[0]::int4[], ARRAY[1]::int4[]) AS d(sku, on_hand, reserved)
 WHERE i.sku = d.sku RETURNING i.sku, i.product_id, i.on_hand, i.reserved, i.version;
INSERT INTO order_items (order_id, line_no, product_id, sku, name, category, quantity, unit_price, line_total)
SELECT :oid, l.* FROM UNNEST(ARRAY[1]::int4[], ARRAY[(:prod)::uuid], ARRAY[(:sku)::text], ARRAY['Bench item']::text[], ARRAY['bench']::text[], ARRAY[1]::int4[], ARRAY[9.99]::numeric[], ARRAY[9.99]::numeric[]) AS l;
INSERT INTO outbox (event_type, aggregate_id, payload, created_at)
SELECT * FROM UNNEST(ARRAY['order.created', 'stock.changed']::text[], ARRAY[(:oid)::uuid, (:prod)::uuid],
  ARRAY['{"total": "9.99", "status": "pending", "currency": "USD", "customer_id": "bench"}', '{"stock": 99, "reserved": 1}']::jsonb[], ARRAY[now(), now()]::timestamptz[]);
COMMIT;
-- saga: reserve_stock succeeded; stock.changed read; authorize_payment started
UPDATE saga_log SET entries = entries || jsonb_build_array(jsonb_build_object('at', now(), 'step', 'reserve_stock', 'detail', NULL, 'outcome', 'succeeded')), state = 'running', updated_at = now() WHERE id = :sid;
SELECT sku, product_id, on_hand, reserved, version FROM inventory WHERE sku = ANY(ARRAY[(:sku)::text]);
UPDATE saga_log SET entries = entries || jsonb_build_array(jsonb_build_object('at', now(), 'step', 'authorize_payment', 'detail', NULL, 'outcome', 'started')), state = 'running', updated_at = now() WHERE id = :sid;
-- the (in-process) gateway approved: record the payment, authorize_payment succeeded
INSERT INTO payments (id, order_id, status, amount, currency, method, gateway_ref, decline_reason, created_at, updated_at)
VALUES (:pay, :oid, 'authorized', 9.99, 'USD', 'card', 'auth_' || :oid, NULL, now(), now())
ON CONFLICT (order_id) DO UPDATE SET status = EXCLUDED.status, amount = EXCLUDED.amount, currency = EXCLUDED.currency, method = EXCLUDED.method, gateway_ref = EXCLUDED.gateway_ref, decline_reason = EXCLUDED.decline_reason, updated_at = EXCLUDED.updated_at
RETURNING id, order_id, status, amount, currency, method, gateway_ref, decline_reason, created_at, updated_at;
UPDATE saga_log SET entries = entries || jsonb_build_array(jsonb_build_object('at', now(), 'step', 'authorize_payment', 'detail', NULL, 'outcome', 'succeeded')), state = 'running', updated_at = now() WHERE id = :sid;
-- ledger transaction 2: confirm (lock the order, sell the reservation, reload the order, outbox)
BEGIN;
SELECT status FROM orders WHERE id = :oid FOR NO KEY UPDATE;
SELECT sku, SUM(quantity)::int4 AS units FROM order_items WHERE order_id = :oid GROUP BY sku ORDER BY sku COLLATE "C";
SELECT sku, product_id, on_hand, reserved, version FROM inventory WHERE sku = ANY(ARRAY[(:sku)::text]) ORDER BY sku COLLATE "C" FOR UPDATE;
UPDATE inventory AS i SET on_hand = i.on_hand + d.on_hand, reserved = i.reserved + d.reserved, version = i.version + 1, updated_at = now()
  FROM UNNEST(ARRAY[(:sku)::text], ARRAY[-1]::int4[], ARRAY[-1]::int4[]) AS d(sku, on_hand, reserved)
 WHERE i.sku = d.sku RETURNING i.sku, i.product_id, i.on_hand, i.reserved, i.version;
UPDATE orders SET status = 'confirmed', updated_at = now() WHERE id = :oid;
SELECT o.id, o.customer_id, o.customer_name, o.status, o.total, o.currency, o.created_at, o.updated_at FROM orders o WHERE o.id = :oid;
SELECT order_id, product_id, sku, name, category, quantity, unit_price, line_total FROM order_items WHERE order_id = ANY(ARRAY[(:oid)::uuid]) ORDER BY order_id, line_no;
SELECT id, order_id, status, amount, currency, method, gateway_ref, decline_reason, created_at, updated_at FROM payments WHERE order_id = ANY(ARRAY[(:oid)::uuid]);
INSERT INTO outbox (event_type, aggregate_id, payload, created_at)
SELECT * FROM UNNEST(ARRAY['order.updated', 'stock.changed']::text[], ARRAY[(:oid)::uuid, (:prod)::uuid],
  ARRAY['{"total": "9.99", "status": "confirmed", "currency": "USD", "customer_id": "bench"}', '{"stock": 99, "reserved": 0}']::jsonb[], ARRAY[now(), now()]::timestamptz[]);
COMMIT;
-- saga: confirm_order succeeded (completed); stock.changed read
UPDATE saga_log SET entries = entries || jsonb_build_array(jsonb_build_object('at', now(), 'step', 'confirm_order', 'detail', NULL, 'outcome', 'succeeded')), state = 'completed', updated_at = now() WHERE id = :sid;
SELECT sku, product_id, on_hand, reserved, version FROM inventory WHERE sku = ANY(ARRAY[(:sku)::text]);
