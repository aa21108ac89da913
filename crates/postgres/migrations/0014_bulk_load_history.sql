-- Bulk loads of past orders (`emporium seed`, ADR 0023) set `emporium.load = 'history'`
-- for their transaction: those orders publish no `order.created` (history is not news,
-- and a million of them would hold the relay for minutes). Every other writer is
-- unchanged. Stock records loaded in bulk still publish `stock.changed`, so a running
-- search index learns their stock.
CREATE OR REPLACE FUNCTION outbox_order_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF current_setting('emporium.load', true) = 'history' THEN
        RETURN NULL;
    END IF;
    INSERT INTO outbox (event_type, aggregate_id, payload)
    VALUES (CASE TG_OP WHEN 'INSERT' THEN 'order.created' ELSE 'order.updated' END, NEW.id,
            jsonb_build_object('status', NEW.status, 'customer_id', NEW.customer_id,
                               'total', NEW.total::text, 'currency', NEW.currency));
    RETURN NULL;
END $$;
