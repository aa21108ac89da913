-- Stock per warehouse (ADR 0022). `inventory` stays the per-SKU total that reservations
-- lock and check (one hot row per SKU, as before); `warehouse_stock` holds the same units
-- broken down by location, and `order_allocations` says which warehouse serves which
-- part of each order. Every writer locks the SKU's `inventory` row first and keeps
-- the sums equal to the totals in the same transaction; the CHECKs hold the invariant
-- `0 <= reserved <= on_hand` in every warehouse.
CREATE TABLE warehouses (
    id          UUID        PRIMARY KEY,
    code        TEXT        NOT NULL UNIQUE,
    name        TEXT        NOT NULL,
    region      TEXT        NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- The built-in warehouse: the stock given when a product is created, or set with
-- PUT /api/products/{id}, is its stock here.
INSERT INTO warehouses (id, code, name, region, created_at)
VALUES ('00000000-0000-7000-8000-000000000001', 'default', 'Default warehouse', 'default',
        '2026-01-01T00:00:00Z');

CREATE TABLE warehouse_stock (
    sku           TEXT    NOT NULL REFERENCES inventory (sku) ON DELETE CASCADE,
    warehouse_id  UUID    NOT NULL REFERENCES warehouses (id),
    on_hand       INTEGER NOT NULL,
    reserved      INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (sku, warehouse_id),
    CONSTRAINT warehouse_stock_on_hand_non_negative CHECK (on_hand >= 0),
    CONSTRAINT warehouse_stock_reserved_non_negative CHECK (reserved >= 0),
    CONSTRAINT warehouse_stock_reserved_within_on_hand CHECK (reserved <= on_hand)
);
CREATE INDEX warehouse_stock_warehouse ON warehouse_stock (warehouse_id, sku);

CREATE TABLE order_allocations (
    order_id      UUID    NOT NULL REFERENCES orders (id) ON DELETE CASCADE,
    sku           TEXT    NOT NULL,
    warehouse_id  UUID    NOT NULL REFERENCES warehouses (id),
    quantity      INTEGER NOT NULL CHECK (quantity > 0),
    PRIMARY KEY (order_id, sku, warehouse_id)
);
CREATE INDEX order_allocations_sku_warehouse ON order_allocations (sku, warehouse_id);

-- What exists today is in the default warehouse: its units, its reservations, and the
-- orders that hold or sold them.
INSERT INTO warehouse_stock (sku, warehouse_id, on_hand, reserved)
SELECT sku, '00000000-0000-7000-8000-000000000001', on_hand, reserved FROM inventory;

INSERT INTO order_allocations (order_id, sku, warehouse_id, quantity)
SELECT i.order_id, i.sku, '00000000-0000-7000-8000-000000000001', sum(i.quantity)
  FROM order_items i JOIN orders o ON o.id = i.order_id
 WHERE o.status IN ('pending', 'confirmed', 'shipped', 'delivered')
 GROUP BY i.order_id, i.sku;

-- A new stock record starts in the default warehouse, whoever inserts it (the app, a
-- bulk load, a restore script), so the sums always start equal to the totals.
CREATE FUNCTION inventory_default_warehouse() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO warehouse_stock (sku, warehouse_id, on_hand, reserved)
    VALUES (NEW.sku, '00000000-0000-7000-8000-000000000001', NEW.on_hand, NEW.reserved)
    ON CONFLICT (sku, warehouse_id) DO NOTHING;
    RETURN NULL;
END $$;

CREATE TRIGGER inventory_default_warehouse AFTER INSERT ON inventory
    FOR EACH ROW EXECUTE FUNCTION inventory_default_warehouse();
