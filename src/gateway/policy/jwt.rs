//! `auth = { kind = "jwt" }`: a JWT signed by a trusted external issuer,
//! verified by `token::JwtVerifier` (cached), with required scopes.

use super::AuthPolicy;
use crate::config::{JwtSpec, TokenLocation};
use crate::error::{AuthError, InvalidToken};
use crate::token::extract::{self, Found};
use crate::token::jwks::KeyProvider;
use crate::token::{has_scopes, JwtVerifier, Verified, VerifierRules};
use http::request::Parts;
use http::HeaderName;
use std::sync::Arc;

pub struct JwtPolicy {
    verifier: JwtVerifier,
    location: TokenLocation,
    scopes: Vec<String>,
    scope_text: Arc<str>,
}

impl JwtPolicy {
    pub fn new(spec: &JwtSpec, keys: KeyProvider, cache_entries: u64, max_token_bytes: usize) -> Self {
        let verifier = JwtVerifier::new(
            keys,
            VerifierRules {
                issuer: spec.issuer.as_deref(),
                audience: &spec.audience,
                leeway: spec.leeway,
                forward: spec.forward_claims.clone(),
                cache_entries,
                max_token_bytes,
                required_claims: &["exp"],
                typ: None,
            },
        );
        JwtPolicy {
            verifier,
            location: spec.location.clone(),
            scopes: spec.scopes.clone(),
            scope_text: spec.scopes.join(" ").into(),
        }
    }
}

impl AuthPolicy for JwtPolicy {
    async fn authorize(&self, parts: &Parts) -> Result<Option<Arc<Verified>>, AuthError> {
        let token = match extract::token(parts, &self.location) {
            Found::None => return Err(AuthError::Missing),
            Found::Unusable => return Err(AuthError::Invalid(InvalidToken::Malformed)),
            Found::Token(t) => t,
        };
        let v = self.verifier.verify(&token).await?;
        if !has_scopes(&v.scopes, &self.scopes) {
            return Err(AuthError::InsufficientScope(self.scope_text.clone()));
        }
        Ok(Some(v))
    }

    fn forwarded_headers(&self) -> &[(String, HeaderName)] {
        self.verifier.forwarded()
    }
}
