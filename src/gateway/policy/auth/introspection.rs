//! `auth = { kind = "introspection", url, client_id, … }`: opaque (or any)
//! tokens of another authorization server, asked about by RFC 7662 through
//! `token::introspect::Introspector` (cached, one call per token at a
//! time; the other server down → 503).

use super::{AuthKind, BuildContext, Check};
use crate::config::{IntrospectionCredential, IntrospectionSpec, TokenLocation};
use crate::error::{AuthError, InvalidToken};
use crate::token::extract::{self, Found};
use crate::token::introspect::{ClientAuth, Introspector, IntrospectorSettings};
use crate::token::Verified;
use http::header::AUTHORIZATION;
use http::request::Parts;
use http::HeaderName;
use std::borrow::Cow;
use std::sync::Arc;

pub struct IntrospectionAuth {
    introspector: Introspector,
}

static LOCATION: TokenLocation = TokenLocation::Header(AUTHORIZATION);

impl IntrospectionAuth {
    pub fn new(spec: &IntrospectionSpec, cx: &BuildContext<'_>) -> Result<Self, String> {
        let auth = match &spec.credential {
            IntrospectionCredential::Secret(secret) => ClientAuth::Secret {
                id: spec.client_id.clone(),
                secret: secret.clone(),
            },
            IntrospectionCredential::PrivateKey { pem, alg } => {
                let key = match alg {
                    jsonwebtoken::Algorithm::RS256 => jsonwebtoken::EncodingKey::from_rsa_pem(pem),
                    _ => jsonwebtoken::EncodingKey::from_ec_pem(pem),
                }
                .map_err(|e| format!("introspection private_key: {e}"))?;
                ClientAuth::PrivateKeyJwt {
                    id: spec.client_id.clone(),
                    key,
                    alg: *alg,
                    audience: spec.assertion_audience.clone(),
                }
            }
        };
        let client = crate::net::client(cx.cfg.gateway.connect_timeout, cx.tls);
        Ok(IntrospectionAuth {
            introspector: Introspector::new(
                IntrospectorSettings {
                    url: spec.url.clone(),
                    auth,
                    cache: spec.cache,
                    timeout: spec.timeout,
                    cache_entries: cx.cfg.gateway.token_cache_entries,
                    max_token_bytes: cx.cfg.gateway.max_token_bytes,
                    forward: spec.forward_claims.clone(),
                },
                client,
            ),
        })
    }
}

fn token(req: &Parts) -> Result<Cow<'_, str>, AuthError> {
    match extract::token(req, &LOCATION) {
        Found::None => Err(AuthError::Missing),
        Found::Unusable => Err(AuthError::Invalid(InvalidToken::Malformed)),
        Found::Token(t) => Ok(t),
    }
}

impl AuthKind for IntrospectionAuth {
    fn cached(&self, req: &Parts) -> Option<Result<Arc<Verified>, AuthError>> {
        match token(req) {
            Ok(t) => self.introspector.cached(&t),
            Err(e) => Some(Err(e)),
        }
    }

    fn check<'a>(&'a self, req: &'a Parts) -> Check<'a> {
        Box::pin(async move { self.introspector.check(&token(req)?).await })
    }

    fn forwarded(&self) -> &[(String, HeaderName)] {
        self.introspector.forwarded()
    }

    fn token<'p>(&self, req: &'p Parts) -> Result<Cow<'p, str>, AuthError> {
        token(req)
    }
}
