-- Client metadata beyond the core columns (RFC 7591 and the like) as one
-- JSON document, so new client settings need no migration.
ALTER TABLE clients ADD COLUMN metadata TEXT NOT NULL DEFAULT '{}';

-- A revocation may cover only what was issued at or before `cutoff`
-- ("everything issued to this client so far"); NULL covers everything.
ALTER TABLE revocations ADD COLUMN cutoff INTEGER;

CREATE INDEX tokens_client_id ON tokens (client_id);
CREATE INDEX tokens_subject ON tokens (subject);

-- Single-use identifiers: assertion `jti`s, SAML assertion IDs.
CREATE TABLE used_ids (
    id         TEXT PRIMARY KEY NOT NULL,
    expires_at INTEGER NOT NULL
);
CREATE INDEX used_ids_expires_at ON used_ids (expires_at);

-- Browser sessions (login pages, admin console), keyed by the id's hash.
CREATE TABLE sessions (
    id_hash    TEXT PRIMARY KEY NOT NULL,
    kind       TEXT NOT NULL,
    subject    TEXT NOT NULL,
    auth_time  INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
);
CREATE INDEX sessions_subject ON sessions (subject);
CREATE INDEX sessions_expires_at ON sessions (expires_at);

-- Failed-attempt counters for login throttling.
CREATE TABLE failures (
    key        TEXT PRIMARY KEY NOT NULL,
    attempts   INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
);
CREATE INDEX failures_expires_at ON failures (expires_at);
