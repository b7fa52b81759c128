//! `auth = { kind = "jwt" }`: a JWT signed by a trusted external issuer,
//! verified by `token::JwtVerifier` (cached until the token expires).

use super::{AuthKind, BuildContext, Check};
use crate::config::{JwtSpec, KeySource, TokenLocation};
use crate::error::{AuthError, InvalidToken};
use crate::token::extract::{self, Found};
use crate::token::jwks::KeyProvider;
use crate::token::{JwtVerifier, Verified, VerifierRules};
use http::request::Parts;
use http::HeaderName;
use std::borrow::Cow;
use std::sync::Arc;

pub struct JwtAuth {
    verifier: JwtVerifier,
    location: TokenLocation,
}

impl JwtAuth {
    pub fn new(spec: &JwtSpec, cx: &BuildContext<'_>) -> Self {
        let keys = match &spec.keys {
            KeySource::Static(set) => KeyProvider::Static(set.clone()),
            KeySource::Remote { uri } => KeyProvider::Remote(cx.remote_jwks(uri, spec.jwks_min_refresh)),
        };
        Self::with_keys(
            spec,
            keys,
            cx.cfg.gateway.token_cache_entries,
            cx.cfg.gateway.max_token_bytes,
        )
    }

    pub fn with_keys(spec: &JwtSpec, keys: KeyProvider, cache_entries: u64, max_token_bytes: usize) -> Self {
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
        JwtAuth {
            verifier,
            location: spec.location.clone(),
        }
    }

    /// The full check on its own (fuzzing, tests).
    pub async fn verify(&self, req: &Parts) -> Result<Arc<Verified>, AuthError> {
        let t = self.token(req)?;
        self.verifier.verify(&t).await
    }
}

impl AuthKind for JwtAuth {
    fn cached(&self, req: &Parts) -> Option<Result<Arc<Verified>, AuthError>> {
        match self.token(req) {
            Ok(t) => self.verifier.cached(&t),
            Err(e) => Some(Err(e)),
        }
    }

    fn check<'a>(&'a self, req: &'a Parts) -> Check<'a> {
        Box::pin(self.verify(req))
    }

    fn forwarded(&self) -> &[(String, HeaderName)] {
        self.verifier.forwarded()
    }

    fn token<'p>(&self, req: &'p Parts) -> Result<Cow<'p, str>, AuthError> {
        match extract::token(req, &self.location) {
            Found::None => Err(AuthError::Missing),
            Found::Unusable => Err(AuthError::Invalid(InvalidToken::Malformed)),
            Found::Token(t) => Ok(t),
        }
    }
}
