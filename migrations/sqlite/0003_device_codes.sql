-- Device authorization grant (RFC 8628): one row per request, keyed by
-- the SHA-256 of the device code and found by the page through the
-- SHA-256 of the normalised user code. See src/store/device.rs.
CREATE TABLE device_codes (
    device_code_hash TEXT PRIMARY KEY NOT NULL,
    user_code_hash   TEXT NOT NULL UNIQUE,
    client_id        TEXT NOT NULL,
    scope            TEXT NOT NULL,
    status           TEXT NOT NULL CHECK (status IN ('pending', 'approved', 'denied', 'used')),
    subject          TEXT,
    auth_time        INTEGER,
    family_id        TEXT NOT NULL,
    poll_interval    INTEGER NOT NULL,
    last_poll_ms     INTEGER NOT NULL DEFAULT 0,
    expires_at       INTEGER NOT NULL
);
CREATE INDEX device_codes_expires_at ON device_codes (expires_at);
