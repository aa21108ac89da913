-- The event feed: the databases are the one source of events (ADR 0013).
--
-- Triggers write every order and stock change into the outbox, in the transaction that
-- makes the change, whoever makes it: the app, a migration or an `UPDATE` typed in psql.
-- Catalog changes arrive from MongoDB's change stream and are written here too, with the
-- stream's resume token. A relay gives each outbox row its place in the feed, `seq`, in
-- the order it publishes them; one `seq` names a point in the whole feed.

-- Assigned by the relay, which runs under an advisory lock, so `seq` grows in the order
-- rows become part of the feed: a reader that has seen `seq = n` has seen all below it.
ALTER TABLE outbox ADD COLUMN seq BIGINT;
CREATE SEQUENCE feed_seq AS BIGINT;
CREATE UNIQUE INDEX outbox_seq ON outbox (seq) WHERE seq IS NOT NULL;
DROP INDEX outbox_unpublished;
CREATE INDEX outbox_unpublished ON outbox (id) WHERE seq IS NULL;

-- Where each external source (MongoDB's change stream) is up to. Written in the same
-- transaction as the events it covers, so a restart resumes exactly after them.
CREATE TABLE feed_cursor (
    source       TEXT        PRIMARY KEY,
    resume_token BYTEA       NOT NULL,
    updated_at   TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- The replay window: everything with `seq <= pruned_through` has been deleted.
CREATE TABLE feed_window (
    only_row       BOOLEAN PRIMARY KEY DEFAULT TRUE CHECK (only_row),
    pruned_through BIGINT  NOT NULL DEFAULT 0
);
INSERT INTO feed_window DEFAULT VALUES;

-- Wakes the relay (LISTEN emporium_outbox) once per writing statement; NOTIFY is
-- delivered at commit and folded per transaction, so a placement sends one.
CREATE FUNCTION outbox_wake() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('emporium_outbox', '');
    RETURN NULL;
END $$;
CREATE TRIGGER outbox_wake AFTER INSERT ON outbox
    FOR EACH STATEMENT EXECUTE FUNCTION outbox_wake();

CREATE FUNCTION outbox_stock_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO outbox (event_type, aggregate_id, payload)
    VALUES ('stock.changed', NEW.product_id,
            jsonb_build_object('stock', NEW.on_hand - NEW.reserved, 'reserved', NEW.reserved));
    RETURN NULL;
END $$;
CREATE TRIGGER inventory_created AFTER INSERT ON inventory
    FOR EACH ROW EXECUTE FUNCTION outbox_stock_changed();
CREATE TRIGGER inventory_changed AFTER UPDATE ON inventory
    FOR EACH ROW
    WHEN (OLD.on_hand IS DISTINCT FROM NEW.on_hand OR OLD.reserved IS DISTINCT FROM NEW.reserved)
    EXECUTE FUNCTION outbox_stock_changed();

CREATE FUNCTION outbox_order_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO outbox (event_type, aggregate_id, payload)
    VALUES (CASE TG_OP WHEN 'INSERT' THEN 'order.created' ELSE 'order.updated' END, NEW.id,
            jsonb_build_object('status', NEW.status, 'customer_id', NEW.customer_id,
                               'total', NEW.total::text, 'currency', NEW.currency));
    RETURN NULL;
END $$;
CREATE TRIGGER orders_created AFTER INSERT ON orders
    FOR EACH ROW EXECUTE FUNCTION outbox_order_changed();
CREATE TRIGGER orders_changed AFTER UPDATE ON orders
    FOR EACH ROW WHEN (OLD.status IS DISTINCT FROM NEW.status)
    EXECUTE FUNCTION outbox_order_changed();
