-- Orders and their lines. Money is NUMERIC(12,2) (the domain's MAX_AMOUNT), never float.
CREATE TABLE orders (
    id             UUID          PRIMARY KEY,
    customer_id    TEXT          NOT NULL,
    customer_name  TEXT,
    status         TEXT          NOT NULL,
    total          NUMERIC(12,2) NOT NULL,
    currency       CHAR(3)       NOT NULL,
    created_at     TIMESTAMPTZ   NOT NULL,
    updated_at     TIMESTAMPTZ   NOT NULL,
    CONSTRAINT orders_status_known CHECK (
        status IN ('pending', 'confirmed', 'shipped', 'delivered', 'cancelled', 'failed')
    ),
    CONSTRAINT orders_total_non_negative CHECK (total >= 0)
);

-- One index per list filter, each ending in the list order (created_at, id) so a filtered
-- page is read in index order without a sort.
CREATE INDEX orders_status_created_at ON orders (status, created_at, id);
CREATE INDEX orders_customer_created_at ON orders (customer_id, created_at, id);
CREATE INDEX orders_created_at ON orders (created_at, id);

-- Lines snapshot the product as it was when the order was placed.
CREATE TABLE order_items (
    order_id    UUID          NOT NULL REFERENCES orders (id) ON DELETE CASCADE,
    line_no     INTEGER       NOT NULL,
    product_id  UUID          NOT NULL,
    sku         TEXT          NOT NULL,
    name        TEXT          NOT NULL,
    category    TEXT          NOT NULL,
    quantity    INTEGER       NOT NULL,
    unit_price  NUMERIC(12,2) NOT NULL,
    line_total  NUMERIC(12,2) NOT NULL,
    PRIMARY KEY (order_id, line_no),
    CONSTRAINT order_items_quantity_positive CHECK (quantity > 0),
    CONSTRAINT order_items_unit_price_non_negative CHECK (unit_price >= 0),
    CONSTRAINT order_items_line_total_non_negative CHECK (line_total >= 0)
);

-- The `product_id` filter of the order list (an EXISTS over the lines).
CREATE INDEX order_items_product_id ON order_items (product_id);
