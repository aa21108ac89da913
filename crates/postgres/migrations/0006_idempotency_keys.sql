-- Requests remembered per `Idempotency-Key` header (POST /api/orders).
--
-- A row is a claim while `claimed_at` is set and no response is stored; `resource_id` is
-- the order the claimed request works on, so a retry after a crash continues that order.
CREATE TABLE idempotency_keys (
    key              TEXT        PRIMARY KEY,
    request_hash     TEXT        NOT NULL,
    resource_id      UUID        NOT NULL,
    claimed_at       TIMESTAMPTZ,
    response_status  SMALLINT,
    response_body    JSONB,
    created_at       TIMESTAMPTZ NOT NULL DEFAULT now(),
    CONSTRAINT idempotency_keys_response_complete
        CHECK ((response_status IS NULL) = (response_body IS NULL))
);

-- Expiry sweeps delete the oldest keys.
CREATE INDEX idempotency_keys_created_at ON idempotency_keys (created_at);
