-- Device authorization grant (RFC 8628): one row per request, keyed by
-- the SHA-256 of the device code and found by the page through the
-- SHA-256 of the normalised user code. See src/store/device.rs.
CREATE TABLE device_codes (
    device_code_hash TEXT PRIMARY KEY,
    user_code_hash   TEXT NOT NULL UNIQUE,
    client_id        TEXT NOT NULL,
    scope            TEXT NOT NULL,
    status           TEXT NOT NULL CHECK (status IN ('pending', 'approved', 'denied', 'used')),
    subject          TEXT,
    auth_time        BIGINT,
    family_id        TEXT NOT NULL,
    poll_interval    BIGINT NOT NULL,
    last_poll_ms     BIGINT NOT NULL DEFAULT 0,
    expires_at       BIGINT NOT NULL
);
CREATE INDEX device_codes_expires_at ON device_codes (expires_at);
