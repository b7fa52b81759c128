-- gatehouse storage schema (SQLite). Lists are JSON text; times are unix
-- seconds; booleans are 0/1. Tokens and codes are keyed by their SHA-256 hex,
-- never by the value itself. Tables keep their rowid so purges can delete in
-- small batches by rowid.

CREATE TABLE clients (
    id            TEXT PRIMARY KEY NOT NULL,
    name          TEXT NOT NULL,
    secret_hash   TEXT,
    redirect_uris TEXT NOT NULL DEFAULT '[]',
    grant_types   TEXT NOT NULL DEFAULT '[]',
    scopes        TEXT NOT NULL DEFAULT '[]',
    audience      TEXT NOT NULL DEFAULT '[]',
    access_ttl    INTEGER,
    refresh_ttl   INTEGER,
    created_at    INTEGER NOT NULL
);

CREATE TABLE users (
    username      TEXT PRIMARY KEY NOT NULL,
    password_hash TEXT NOT NULL,
    name          TEXT,
    email         TEXT,
    created_at    INTEGER NOT NULL
);

CREATE TABLE auth_codes (
    code_hash             TEXT PRIMARY KEY NOT NULL,
    client_id             TEXT NOT NULL,
    username              TEXT NOT NULL,
    redirect_uri          TEXT NOT NULL,
    scope                 TEXT NOT NULL,
    code_challenge        TEXT,
    code_challenge_method TEXT,
    nonce                 TEXT,
    auth_time             INTEGER NOT NULL,
    family_id             TEXT NOT NULL,
    expires_at            INTEGER NOT NULL,
    used                  INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX auth_codes_expires_at ON auth_codes (expires_at);

CREATE TABLE tokens (
    token_hash TEXT PRIMARY KEY NOT NULL,
    kind       TEXT NOT NULL CHECK (kind IN ('access', 'refresh')),
    client_id  TEXT NOT NULL,
    subject    TEXT,
    scope      TEXT NOT NULL,
    audience   TEXT NOT NULL DEFAULT '[]',
    family_id  TEXT NOT NULL,
    issued_at  INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    auth_time  INTEGER,
    used       INTEGER NOT NULL DEFAULT 0,
    revoked    INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX tokens_expires_at ON tokens (expires_at);
CREATE INDEX tokens_family_id ON tokens (family_id);

-- Revoked JWT ids and grant families; a row can go once `expires_at` is past
-- (every token it covers has expired by then).
CREATE TABLE revocations (
    id         TEXT PRIMARY KEY NOT NULL,
    expires_at INTEGER NOT NULL
);
CREATE INDEX revocations_expires_at ON revocations (expires_at);

CREATE TABLE consents (
    username   TEXT NOT NULL,
    client_id  TEXT NOT NULL,
    scopes     TEXT NOT NULL DEFAULT '[]',
    granted_at INTEGER NOT NULL,
    PRIMARY KEY (username, client_id)
);
