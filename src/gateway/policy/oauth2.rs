//! `auth = { kind = "oauth2", scopes = [...] }`: gatehouse's own access
//! tokens (JWT or opaque), validated by the shared `token::OwnTokens`
//! (cached), revocation honoured within the staleness bound.

use super::AuthPolicy;
use crate::config::TokenLocation;
use crate::error::{AuthError, InvalidToken};
use crate::token::extract::{self, Found};
use crate::token::{has_scopes, OwnTokens, Verified};
use http::header::AUTHORIZATION;
use http::request::Parts;
use http::HeaderName;
use std::sync::Arc;

pub struct OAuth2Policy {
    tokens: Arc<OwnTokens>,
    scopes: Vec<String>,
    scope_text: Arc<str>,
}

static LOCATION: TokenLocation = TokenLocation::Header(AUTHORIZATION);

impl OAuth2Policy {
    pub fn new(tokens: Arc<OwnTokens>, scopes: Vec<String>) -> Self {
        let scope_text = scopes.join(" ").into();
        OAuth2Policy {
            tokens,
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
        let v = self.tokens.validate(&token).await?;
        if !has_scopes(&v.scopes, &self.scopes) {
            return Err(AuthError::InsufficientScope(self.scope_text.clone()));
        }
        Ok(Some(v))
    }

    fn forwarded_headers(&self) -> &[(String, HeaderName)] {
        self.tokens.forwarded()
    }
}
