-- Reference only: the two ledger transactions of one placement (create_pending, then
-- confirm) as in order_one_line.sql, without the saga-log writes, the payment record and the
-- stock.changed reads the server also makes per order. 2 commits per order instead of 9:
-- shows what the per-order saga log costs. Not the ceiling Emporium is compared with.
\set i random(1, :skus)
SELECT gen_random_uuid() AS oid, gen_random_uuid() AS sid, gen_random_uuid() AS pay,
       'SKU-' || lpad((:i)::text, 5, '0') AS sku,
       md5('SKU-' || lpad((:i)::text, 5, '0'))::uuid AS prod \gset
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
