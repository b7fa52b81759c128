//! `auth = { kind = "oauth2", scopes = [...] }`: gatehouse's own access
//! tokens (JWT or opaque), validated by the authorization server's cached
//! validator, revocation honoured within the staleness bound.

use super::extract::{self, Found};
use super::{has_scopes, AuthPolicy, Verified};
use crate::authz::{AuthServer, FORWARDED};
use crate::config::TokenLocation;
use crate::error::{AuthError, InvalidToken};
use http::header::AUTHORIZATION;
use http::request::Parts;
use http::HeaderName;
use std::sync::{Arc, OnceLock};

pub struct OAuth2Policy {
    server: Arc<AuthServer>,
    scopes: Vec<String>,
    scope_text: Arc<str>,
}

static LOCATION: TokenLocation = TokenLocation::Header(AUTHORIZATION);

fn forwarded() -> &'static [(String, HeaderName)] {
    static F: OnceLock<Vec<(String, HeaderName)>> = OnceLock::new();
    F.get_or_init(|| {
        FORWARDED
            .iter()
            .map(|(c, h)| (c.to_string(), HeaderName::from_static(h)))
            .collect()
    })
}

impl OAuth2Policy {
    pub fn new(server: Arc<AuthServer>, scopes: Vec<String>) -> Self {
        let scope_text = scopes.join(" ").into();
        OAuth2Policy {
            server,
            scopes,
            scope_text,
        }
    }
}

impl AuthPolicy for OAuth2Policy {
    async fn authorize(&self, parts: &Parts) -> Result<Option<Arc<Verified>>, AuthError> {
        let token = match extract::token(parts, &LOCATION) {
            Found::None => return Err(AuthError::Missing),
            Found::Unusable => return Err(AuthError::Invalid(InvalidToken::Malformed)),
            Found::Token(t) => t,
        };
        let v = self.server.validate_access(&token).await?;
        if !has_scopes(&v.scopes, &self.scopes) {
            return Err(AuthError::InsufficientScope(self.scope_text.clone()));
        }
        Ok(Some(v))
    }

    fn forwarded_headers(&self) -> &[(String, HeaderName)] {
        forwarded()
    }
}
