-- Stock records, one per SKU. The CHECK constraints restate the domain invariant
-- `0 <= reserved <= on_hand`, so a bug in any writer is refused by the database itself.
CREATE TABLE inventory (
    sku         TEXT        PRIMARY KEY,
    product_id  UUID        NOT NULL UNIQUE,
    on_hand     INTEGER     NOT NULL,
    reserved    INTEGER     NOT NULL DEFAULT 0,
    -- Bumped by every write; the optimistic locking strategy compares it.
    version     BIGINT      NOT NULL DEFAULT 0,
    updated_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    CONSTRAINT inventory_on_hand_non_negative CHECK (on_hand >= 0),
    CONSTRAINT inventory_reserved_non_negative CHECK (reserved >= 0),
    CONSTRAINT inventory_reserved_within_on_hand CHECK (reserved <= on_hand)
);
