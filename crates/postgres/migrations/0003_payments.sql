-- One payment per order; recording it again replaces it (upsert on order_id).
CREATE TABLE payments (
    id              UUID          PRIMARY KEY,
    order_id        UUID          NOT NULL UNIQUE REFERENCES orders (id) ON DELETE CASCADE,
    status          TEXT          NOT NULL,
    amount          NUMERIC(12,2) NOT NULL,
    currency        CHAR(3)       NOT NULL,
    method          TEXT          NOT NULL,
    gateway_ref     TEXT,
    decline_reason  TEXT,
    created_at      TIMESTAMPTZ   NOT NULL,
    updated_at      TIMESTAMPTZ   NOT NULL,
    CONSTRAINT payments_status_known CHECK (
        status IN ('authorized', 'declined', 'voided', 'refunded')
    ),
    CONSTRAINT payments_amount_non_negative CHECK (amount >= 0)
);
