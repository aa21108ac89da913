-- Idempotency keys keep the domain outcome of a keyed request (`KeyedOutcome`: the order
-- placed, or why it was refused), not an HTTP status and body: how an outcome is answered
-- is decided in one place, by the HTTP layer, for first answers and replays alike.
ALTER TABLE idempotency_keys ADD COLUMN outcome JSONB;

-- Placements stored by earlier versions: the order they created.
UPDATE idempotency_keys
SET outcome = jsonb_build_object('outcome', 'placed', 'order_id', response_body ->> 'id')
WHERE response_status = 201 AND response_body ? 'id';

-- Stored refusals are released instead: a retry continues the same order id, and the order
-- service answers from that order's final state (a decline stays a decline), or runs the
-- request again when it never created an order (stock may have come back).
UPDATE idempotency_keys SET claimed_at = NULL
WHERE response_status IS NOT NULL AND outcome IS NULL;

ALTER TABLE idempotency_keys
    DROP CONSTRAINT idempotency_keys_response_complete,
    DROP COLUMN response_status,
    DROP COLUMN response_body;
