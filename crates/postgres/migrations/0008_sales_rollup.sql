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

-- The rollup: units and revenue of sales per bucket, one table per report, each keyed by
-- what its report groups by, as the lines had it. A bucket is a UTC day or month of the
-- orders' `created_at` (grains `day` and `month`), or all time (grain `all`, bucket
-- 1970-01-01), so any window reads whole months, whole days and the lines of its partial
-- days, and an open window reads one row per group.
CREATE TABLE product_sales (
    grain      TEXT          NOT NULL,
    bucket     DATE          NOT NULL,
    product_id UUID          NOT NULL,
    sku        TEXT          NOT NULL,
    currency   CHAR(3)       NOT NULL,
    units      BIGINT        NOT NULL,
    revenue    NUMERIC(16,2) NOT NULL,
    PRIMARY KEY (grain, bucket, product_id, sku, currency)
) PARTITION BY LIST (grain);
-- One partition per grain, so each is stored (and scanned) apart instead of interleaved.
CREATE TABLE product_sales_day PARTITION OF product_sales FOR VALUES IN ('day');
CREATE TABLE product_sales_month PARTITION OF product_sales FOR VALUES IN ('month');
CREATE TABLE product_sales_all PARTITION OF product_sales FOR VALUES IN ('all');

CREATE TABLE category_sales (
    grain    TEXT          NOT NULL,
    bucket   DATE          NOT NULL,
    category TEXT          NOT NULL,
    currency CHAR(3)       NOT NULL,
    units    BIGINT        NOT NULL,
    revenue  NUMERIC(16,2) NOT NULL,
    CONSTRAINT category_sales_grain_known CHECK (grain IN ('day', 'month', 'all')),
    PRIMARY KEY (grain, bucket, category, currency)
);

-- Per supplier: the units and revenue of its lines, and its orders (an order counts once
-- for each supplier of its lines), deliveries and confirmation-to-delivery seconds.
CREATE TABLE supplier_sales (
    grain            TEXT          NOT NULL,
    bucket           DATE          NOT NULL,
    supplier_id      UUID          NOT NULL,
    currency         CHAR(3)       NOT NULL,
    units            BIGINT        NOT NULL,
    revenue          NUMERIC(16,2) NOT NULL,
    orders           BIGINT        NOT NULL,
    delivered_orders BIGINT        NOT NULL,
    delivery_seconds NUMERIC       NOT NULL,
    CONSTRAINT supplier_sales_grain_known CHECK (grain IN ('day', 'month', 'all')),
    PRIMARY KEY (grain, bucket, supplier_id, currency)
);

-- Low stock, lowest available first.
CREATE INDEX inventory_available ON inventory ((on_hand - reserved), sku COLLATE "C");
