-- Pushed authorization requests (RFC 9126): the parameters a client pushed,
-- under the SHA-256 of its request_uri, until taken once or expired.
-- See src/store/pushed_requests.rs.
CREATE TABLE pushed_requests (
    uri_hash   TEXT PRIMARY KEY,
    client_id  TEXT NOT NULL,
    params     TEXT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX pushed_requests_expires_at ON pushed_requests (expires_at);
