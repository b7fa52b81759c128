-- gatehouse storage schema (PostgreSQL): the same tables as SQLite's, so
-- both backends share every query (src/store/sql.rs). Lists and client
-- metadata are JSON text; times are unix seconds (BIGINT). Tokens, codes
-- and sessions are keyed by their SHA-256 hex, never by the value itself.

CREATE TABLE clients (
    id            TEXT PRIMARY KEY,
    name          TEXT NOT NULL,
    secret_hash   TEXT,
    redirect_uris TEXT NOT NULL DEFAULT '[]',
    grant_types   TEXT NOT NULL DEFAULT '[]',
    scopes        TEXT NOT NULL DEFAULT '[]',
    audience      TEXT NOT NULL DEFAULT '[]',
    access_ttl    BIGINT,
    refresh_ttl   BIGINT,
    created_at    BIGINT NOT NULL,
    metadata      TEXT NOT NULL DEFAULT '{}'
);

CREATE TABLE users (
    username      TEXT PRIMARY KEY,
    password_hash TEXT NOT NULL,
    name          TEXT,
    email         TEXT,
    created_at    BIGINT NOT NULL
);

CREATE TABLE auth_codes (
    code_hash             TEXT PRIMARY KEY,
    client_id             TEXT NOT NULL,
    username              TEXT NOT NULL,
    redirect_uri          TEXT NOT NULL,
    scope                 TEXT NOT NULL,
    code_challenge        TEXT,
    code_challenge_method TEXT,
    nonce                 TEXT,
    auth_time             BIGINT NOT NULL,
    family_id             TEXT NOT NULL,
    expires_at            BIGINT NOT NULL,
    used                  BOOLEAN NOT NULL DEFAULT FALSE
);
CREATE INDEX auth_codes_expires_at ON auth_codes (expires_at);

CREATE TABLE tokens (
    token_hash TEXT PRIMARY KEY,
    kind       TEXT NOT NULL CHECK (kind IN ('access', 'refresh')),
    client_id  TEXT NOT NULL,
    subject    TEXT,
    scope      TEXT NOT NULL,
    audience   TEXT NOT NULL DEFAULT '[]',
    family_id  TEXT NOT NULL,
    issued_at  BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    auth_time  BIGINT,
    used       BOOLEAN NOT NULL DEFAULT FALSE,
    revoked    BOOLEAN NOT NULL DEFAULT FALSE
);
CREATE INDEX tokens_expires_at ON tokens (expires_at);
CREATE INDEX tokens_family_id ON tokens (family_id);
CREATE INDEX tokens_client_id ON tokens (client_id);
CREATE INDEX tokens_subject ON tokens (subject);

-- Revoked JWT ids, grant families and owner cutoffs ("everything issued to
-- this client up to `cutoff`"; NULL: everything). A row can go once
-- `expires_at` is past (every token it covers has expired by then).
CREATE TABLE revocations (
    id         TEXT PRIMARY KEY,
    expires_at BIGINT NOT NULL,
    cutoff     BIGINT
);
CREATE INDEX revocations_expires_at ON revocations (expires_at);

CREATE TABLE consents (
    username   TEXT NOT NULL,
    client_id  TEXT NOT NULL,
    scopes     TEXT NOT NULL DEFAULT '[]',
    granted_at BIGINT NOT NULL,
    PRIMARY KEY (username, client_id)
);

-- Single-use identifiers: assertion `jti`s, SAML assertion IDs.
CREATE TABLE used_ids (
    id         TEXT PRIMARY KEY,
    expires_at BIGINT NOT NULL
);
CREATE INDEX used_ids_expires_at ON used_ids (expires_at);

-- Browser sessions (login pages, admin console), keyed by the id's hash.
CREATE TABLE sessions (
    id_hash    TEXT PRIMARY KEY,
    kind       TEXT NOT NULL,
    subject    TEXT NOT NULL,
    auth_time  BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX sessions_subject ON sessions (subject);
CREATE INDEX sessions_expires_at ON sessions (expires_at);

-- Failed-attempt counters for login throttling, shared by every instance.
CREATE TABLE failures (
    key        TEXT PRIMARY KEY,
    attempts   BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX failures_expires_at ON failures (expires_at);
