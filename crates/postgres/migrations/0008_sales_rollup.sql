-- Sales reports (ADR 0012): what each order line was when it was placed, when each order
-- was confirmed and delivered, and a rollup of sales per day and per month that reports
-- read instead of scanning every line.

-- A line keeps its supplier as it was at placement, as it keeps its category.
ALTER TABLE order_items ADD COLUMN supplier_id UUID;

-- Milestones of the order's life, for delivery times. Orders confirmed before this
-- migration get their placement time (placement confirms within seconds), delivered ones
-- their last update.
ALTER TABLE orders
    ADD COLUMN confirmed_at TIMESTAMPTZ,
    ADD COLUMN delivered_at TIMESTAMPTZ;
UPDATE orders SET confirmed_at = created_at
 WHERE status IN ('confirmed', 'shipped', 'delivered');
UPDATE orders SET delivered_at = updated_at WHERE status = 'delivered';

-- What the rollup has counted of the order: its lines as a sale, and its delivery. An
-- order whose status says otherwise is waiting to be folded in (the partial index finds
-- those; it holds only orders whose status changed since the last fold).
ALTER TABLE orders
    ADD COLUMN rolled_sale      BOOLEAN NOT NULL DEFAULT false,
    ADD COLUMN rolled_delivered BOOLEAN NOT NULL DEFAULT false;
CREATE INDEX orders_unrolled ON orders (id)
 WHERE rolled_sale <> (status IN ('confirmed', 'shipped', 'delivered'))
    OR rolled_delivered <> (status = 'delivered');

-- Units and revenue of sales per bucket (a UTC day or month of the orders' `created_at`)
-- and per everything a report groups by, as the lines had it.
CREATE TABLE sales_rollup (
    grain       TEXT          NOT NULL,
    bucket      DATE          NOT NULL,
    product_id  UUID          NOT NULL,
    sku         TEXT          NOT NULL,
    category    TEXT          NOT NULL,
    supplier_id UUID,
    currency    CHAR(3)       NOT NULL,
    units       BIGINT        NOT NULL,
    revenue     NUMERIC(16,2) NOT NULL,
    CONSTRAINT sales_rollup_key UNIQUE NULLS NOT DISTINCT
        (grain, bucket, product_id, sku, category, supplier_id, currency)
) PARTITION BY LIST (grain);
-- One partition per grain: a report reads the months of one and the days of the other, and
-- each is stored (and scanned) apart instead of interleaved.
CREATE TABLE sales_rollup_day PARTITION OF sales_rollup FOR VALUES IN ('day');
CREATE TABLE sales_rollup_month PARTITION OF sales_rollup FOR VALUES IN ('month');

-- Orders and deliveries per supplier and bucket: an order counts once for each supplier
-- of its lines, however many lines it has of them.
CREATE TABLE supplier_rollup (
    grain            TEXT    NOT NULL,
    bucket           DATE    NOT NULL,
    supplier_id      UUID    NOT NULL,
    orders           BIGINT  NOT NULL,
    delivered_orders BIGINT  NOT NULL,
    delivery_seconds NUMERIC NOT NULL,
    PRIMARY KEY (grain, bucket, supplier_id)
) PARTITION BY LIST (grain);
CREATE TABLE supplier_rollup_day PARTITION OF supplier_rollup FOR VALUES IN ('day');
CREATE TABLE supplier_rollup_month PARTITION OF supplier_rollup FOR VALUES IN ('month');

-- Low stock, lowest available first.
CREATE INDEX inventory_available ON inventory ((on_hand - reserved), sku COLLATE "C");
