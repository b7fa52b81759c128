-- Resource indicators (RFC 8707): the `resource` values of the
-- authorization request, as a JSON array; the code's tokens are for them.
ALTER TABLE auth_codes ADD COLUMN resource TEXT NOT NULL DEFAULT '[]';
