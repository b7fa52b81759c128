//! Validating gatehouse's own access tokens, for the gateway (`oauth2`
//! routes), introspection, token info and userinfo. JWTs are verified
//! locally (cached) and checked against the revocation list; opaque tokens
//! are looked up in the store. Both answers are cached for at most the
//! configured staleness bound, which bounds how late a revocation is seen.

use super::jwks::KeyProvider;
use super::jwt::{now_secs, JwtVerifier, Verified, VerifierRules};
use crate::config::Config;
use crate::error::{AuthError, InvalidToken};
use crate::keys::ring::KeyRing;
use crate::store::{hash_token, Change, DynStore, Owner, TokenKind};
use http::HeaderName;
use moka::sync::Cache;
use serde_json::{json, Map, Value};
use std::sync::Arc;
use std::time::Duration;

/// Claims of gatehouse's own access tokens that the gateway passes
/// upstream (defined with the config, which must know them too).
pub use crate::config::OWN_FORWARDED as FORWARDED;

pub fn looks_like_jwt(token: &str) -> bool {
    token.bytes().filter(|b| *b == b'.').count() == 2
}

/// gatehouse's own access tokens as the gateway and the authorization
/// server see them: one instance per process, shared.
pub struct OwnTokens {
    issuer: String,
    store: DynStore,
    /// Signature good but the store cannot be asked about revocation:
    /// accept (`[store] fail_open`) or answer 503.
    fail_open: bool,
    /// Our own JWT access tokens, verified and cached until expiry.
    jwt: JwtVerifier,
    /// jti → revoked?, for at most the staleness bound.
    revoked: Cache<Arc<str>, bool>,
    /// Opaque access token → what it grants, for at most the staleness bound.
    opaque: Cache<Arc<str>, Arc<Verified>>,
    /// DPoP proofs' nonces and single use, for userinfo and the gateway.
    pub dpop: super::dpop::Guard,
}

impl OwnTokens {
    /// The store these tokens live in (also what shared rate limits use).
    pub fn store(&self) -> &DynStore {
        &self.store
    }

    pub fn new(cfg: &Config, store: DynStore, keys: Arc<KeyRing>, nonces: super::dpop::Nonces) -> Self {
        let stale = cfg.store.revocation_staleness;
        let entries = cfg.store.cache_entries;
        let forward = FORWARDED
            .iter()
            .map(|(c, h)| (c.to_string(), HeaderName::from_static(h)))
            .collect();
        let jwt = JwtVerifier::new(
            KeyProvider::Own(keys),
            VerifierRules {
                issuer: Some(&cfg.issuer),
                audience: &[],
                leeway: Duration::from_secs(0),
                forward,
                cache_entries: entries,
                max_token_bytes: cfg.gateway.max_token_bytes,
                required_claims: &["exp", "iss", "jti"],
                typ: Some("at+jwt"),
            },
        );
        OwnTokens {
            issuer: cfg.issuer.clone(),
            dpop: super::dpop::Guard::new(store.clone(), nonces),
            store,
            fail_open: cfg.store.fail_open,
            jwt,
            revoked: Cache::builder().max_capacity(entries).time_to_live(stale).build(),
            opaque: Cache::builder().max_capacity(entries).time_to_live(stale).build(),
        }
    }

    /// The headers the gateway sets from these tokens' claims.
    pub fn forwarded(&self) -> &[(String, HeaderName)] {
        self.jwt.forwarded()
    }

    /// Drops cached verdicts another instance's change made stale.
    pub fn apply_change(&self, change: &Change) {
        match change {
            Change::Client(_) => {}
            // Cached opaque tokens are keyed by the token, not its hash, and
            // a family or owner revocation covers unknown jtis: revocations
            // are rare, so drop every cached verdict.
            Change::Token(_) | Change::Revoked(_) | Change::Everything => self.forget_all(),
        }
    }

    /// Forget every cached token verdict (after a bulk revocation).
    pub fn forget_all(&self) {
        self.opaque.invalidate_all();
        self.revoked.invalidate_all();
    }

    /// Forget cached answers about a token at once (this instance); other
    /// instances see the store within the staleness bound.
    pub fn forget(&self, token: &str, jti: Option<&str>) {
        self.opaque.invalidate(token);
        if let Some(j) = jti {
            self.revoked.invalidate(j);
        }
    }

    /// The verdict when every answer it needs is cached (signature,
    /// revocation; or the opaque token's record): the gateway's hot path.
    pub fn cached(&self, token: &str) -> Option<Result<Arc<Verified>, AuthError>> {
        if token.len() > self.jwt.max_token_bytes {
            return Some(Err(AuthError::Invalid(InvalidToken::TooLarge)));
        }
        if looks_like_jwt(token) {
            let v = match self.jwt.cached(token)? {
                Ok(v) => v,
                Err(e) => return Some(Err(e)),
            };
            let jti = v.claim_str("jti")?;
            return Some(match self.revoked.get(jti)? {
                true => Err(AuthError::Invalid(InvalidToken::Revoked)),
                false => Ok(v),
            });
        }
        let v = self.opaque.get(token)?;
        Some(if v.exp > now_secs() {
            Ok(v)
        } else {
            Err(AuthError::Invalid(InvalidToken::Expired))
        })
    }

    pub async fn validate(&self, token: &str) -> Result<Arc<Verified>, AuthError> {
        if token.len() > self.jwt.max_token_bytes {
            return Err(AuthError::Invalid(InvalidToken::TooLarge));
        }
        if looks_like_jwt(token) {
            let v = self.jwt.verify(token).await?;
            self.check_not_revoked(&v).await?;
            Ok(v)
        } else {
            self.opaque_access(token).await
        }
    }

    async fn check_not_revoked(&self, v: &Verified) -> Result<(), AuthError> {
        let Some(jti) = v.claim_str("jti") else {
            return Err(AuthError::Invalid(InvalidToken::MissingClaim));
        };
        let revoked = match self.revoked.get(jti) {
            Some(r) => r,
            None => {
                // The token, its grant family, and any "everything issued to
                // this client / for this user until now" cutoff.
                let owners: Vec<String> = [
                    v.claim_str("client_id").map(Owner::Client),
                    v.claim_str("sub").map(Owner::Subject),
                ]
                .into_iter()
                .flatten()
                .map(|o| o.revocation_id())
                .collect();
                let mut ids: Vec<&str> = vec![jti];
                ids.extend(v.claim_str("fid"));
                ids.extend(owners.iter().map(String::as_str));
                let iat = v.claims.get("iat").and_then(Value::as_i64).unwrap_or(0);
                let r = match self.store.is_revoked(&ids, iat).await {
                    Ok(r) => r,
                    // The signature is good and the store cannot be asked:
                    // `fail_open` keeps the API up (the verdict is cached
                    // only for the staleness bound, like any other).
                    Err(e) if self.fail_open => {
                        tracing::debug!(error = %e, "revocation check unavailable; accepting a valid JWT");
                        crate::ops::metrics::revocation_check_skipped();
                        false
                    }
                    Err(e) => {
                        tracing::error!(error = %e, "revocation check failed");
                        return Err(AuthError::Unavailable);
                    }
                };
                self.revoked.insert(Arc::from(jti), r);
                r
            }
        };
        if revoked {
            Err(AuthError::Invalid(InvalidToken::Revoked))
        } else {
            Ok(())
        }
    }

    async fn opaque_access(&self, token: &str) -> Result<Arc<Verified>, AuthError> {
        if let Some(v) = self.opaque.get(token) {
            return if v.exp > now_secs() {
                Ok(v)
            } else {
                Err(AuthError::Invalid(InvalidToken::Expired))
            };
        }
        let rec = self
            .store
            .get_token(&hash_token(token))
            .await
            .map_err(|e| {
                tracing::error!(error = %e, "token lookup failed");
                AuthError::Unavailable
            })?
            .filter(|r| r.kind == TokenKind::Access)
            .ok_or(AuthError::Invalid(InvalidToken::Unknown))?;
        if rec.revoked {
            return Err(AuthError::Invalid(InvalidToken::Revoked));
        }
        if rec.expires_at <= now_secs() as i64 {
            return Err(AuthError::Invalid(InvalidToken::Expired));
        }
        let mut claims = Map::new();
        claims.insert("iss".into(), json!(self.issuer));
        claims.insert("sub".into(), json!(rec.subject.as_deref().unwrap_or(&rec.client_id)));
        claims.insert("client_id".into(), json!(rec.client_id));
        claims.insert("scope".into(), json!(rec.scope));
        claims.insert("aud".into(), json!(rec.audience));
        claims.insert("iat".into(), json!(rec.issued_at));
        claims.insert("exp".into(), json!(rec.expires_at));
        if let Some(t) = rec.auth_time {
            claims.insert("auth_time".into(), json!(t));
        }
        if rec.subject.is_some() {
            claims.insert("username".into(), Value::from(rec.subject.clone()));
        }
        if let Some(cnf) = &rec.cnf {
            claims.insert("cnf".into(), json!(cnf));
        }
        let v = Arc::new(self.jwt.accept(claims));
        self.opaque.insert(Arc::from(token), v.clone());
        Ok(v)
    }
}
