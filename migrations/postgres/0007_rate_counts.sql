-- Shared rate-limit windows: each instance's count of admitted requests
-- per key (a digest of route and key) and window, replaced by its own
-- periodic batch; the others' rows summed when it reads.
CREATE TABLE rate_counts (
    key TEXT NOT NULL,
    win BIGINT NOT NULL,
    instance TEXT NOT NULL,
    admitted BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    PRIMARY KEY (key, win, instance)
);
CREATE INDEX rate_counts_expires ON rate_counts (expires_at);
