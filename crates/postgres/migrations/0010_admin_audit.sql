-- Every call to an admin route: who (the token's name, never the token), what, when, and
-- the answer. Appended to only.
CREATE TABLE admin_audit (
    id     UUID PRIMARY KEY,
    at     TIMESTAMPTZ NOT NULL,
    actor  TEXT,
    method TEXT NOT NULL,
    path   TEXT NOT NULL,
    status SMALLINT NOT NULL CHECK (status BETWEEN 100 AND 599)
);

CREATE INDEX admin_audit_newest ON admin_audit (at DESC, id DESC);
