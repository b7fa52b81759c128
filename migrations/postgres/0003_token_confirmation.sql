-- Sender-constrained tokens (RFC 9449 DPoP, RFC 8705 mTLS): the RFC 7800
-- confirmation a stored token is bound to, as JSON ({"jkt": …} or
-- {"x5t#S256": …}); NULL for a bearer token.
ALTER TABLE tokens ADD COLUMN cnf TEXT;
