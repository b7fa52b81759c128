//! Token validation, below both the gateway and the authorization server:
//! where a token is found in a request (`extract`), where verification
//! keys come from (`jwks`), JWT verification with its cache (`jwt`), and
//! gatehouse's own access tokens, JWT or opaque, with revocation honoured
//! (`own`). The gateway's `oauth2` routes and the authorization server's
//! introspection, token info and userinfo share one `OwnTokens`, so the
//! data plane can be built, tested and benchmarked without the
//! authorization server, and no import runs from `gateway/` into `authz/`.

pub mod dpop;
pub mod extract;
pub mod introspect;
pub mod jwks;
pub mod jwt;
pub mod own;

pub use jwt::{now_secs, JwtVerifier, Verified, VerifierRules};
pub use own::OwnTokens;

/// Every required scope is among the granted ones.
pub fn has_scopes(granted: &[String], required: &[String]) -> bool {
    required.iter().all(|r| granted.iter().any(|g| g == r))
}
