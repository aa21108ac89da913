-- The durable history of every saga, read by recovery after a crash. `kind` and `state`
-- hold the domain's serde names; they are not constrained here so that a new saga kind
-- needs no migration.
CREATE TABLE saga_log (
    id          UUID        PRIMARY KEY,
    kind        TEXT        NOT NULL,
    subject     UUID        NOT NULL,
    state       TEXT        NOT NULL,
    payload     JSONB       NOT NULL,
    entries     JSONB       NOT NULL DEFAULT '[]'::jsonb,
    started_at  TIMESTAMPTZ NOT NULL,
    updated_at  TIMESTAMPTZ NOT NULL,
    CONSTRAINT saga_log_entries_array CHECK (jsonb_typeof(entries) = 'array')
);

-- Recovery asks for the sagas in a state, oldest first.
CREATE INDEX saga_log_state_started_at ON saga_log (state, started_at, id);
