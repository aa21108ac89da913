-- Transactional outbox: every ledger transaction that changes an order or a stock record
-- also writes the events announcing it, so an event is never lost nor sent for a change
-- that rolled back. A relay publishes the rows and sets `published_at`.
CREATE TABLE outbox (
    id            BIGSERIAL   PRIMARY KEY,
    event_type    TEXT        NOT NULL,
    aggregate_id  UUID        NOT NULL,
    payload       JSONB       NOT NULL,
    created_at    TIMESTAMPTZ NOT NULL DEFAULT now(),
    published_at  TIMESTAMPTZ
);

-- The relay reads only what is left to publish, in insertion order.
CREATE INDEX outbox_unpublished ON outbox (id) WHERE published_at IS NULL;
