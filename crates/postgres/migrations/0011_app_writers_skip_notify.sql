-- A server's own connections (startup setting `emporium.writer = app`) wake their relay in
-- process, so their transactions skip NOTIFY: PostgreSQL serialises the commits of
-- notifying transactions (flush included), which cost every order its share of group
-- commit. Every other writer (psql, tools) still notifies.
CREATE OR REPLACE FUNCTION outbox_wake() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF current_setting('emporium.writer', true) IS DISTINCT FROM 'app' THEN
        PERFORM pg_notify('emporium_outbox', '');
    END IF;
    RETURN NULL;
END $$;
