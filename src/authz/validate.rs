//! Validating gatehouse's own access tokens, for the gateway (`oauth2`
//! policy), introspection, token info and userinfo. JWTs are verified
//! locally (cached) and checked against the revocation list; opaque tokens
//! are looked up in the store. Both answers are cached for at most the
//! configured staleness bound, which bounds how late a revocation is seen.

use super::AuthServer;
use crate::error::{AuthError, InvalidToken};
use crate::gateway::policy::jwt::{now_secs, Verified};
use crate::store::{hash_token, Owner, TokenKind};
use serde_json::{json, Map, Value};
use std::sync::Arc;

pub fn looks_like_jwt(token: &str) -> bool {
    token.bytes().filter(|b| *b == b'.').count() == 2
}

impl AuthServer {
    pub async fn validate_access(&self, token: &str) -> Result<Arc<Verified>, AuthError> {
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
                    Err(e) if self.cfg.store.fail_open => {
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
        claims.insert("iss".into(), json!(self.cfg.issuer));
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
        let v = Arc::new(self.jwt.accept(claims));
        self.opaque.insert(Arc::from(token), v.clone());
        Ok(v)
    }
}
