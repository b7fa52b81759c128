-- OIDC Back-Channel Logout: the clients a session issued codes or tokens
-- to (space-separated ids; client ids have no spaces), told when it ends;
-- and the session's `sid` on the codes it issued, for their ID tokens.
ALTER TABLE sessions ADD COLUMN clients TEXT NOT NULL DEFAULT '';
ALTER TABLE auth_codes ADD COLUMN sid TEXT;
