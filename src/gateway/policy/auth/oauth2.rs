//! `auth = { kind = "oauth2", scopes = [...] }`: gatehouse's own access
//! tokens (JWT or opaque), validated by the shared `token::OwnTokens`
//! (cached), revocation honoured within the staleness bound.

use super::{AuthKind, Check};
use crate::config::TokenLocation;
use crate::error::{AuthError, InvalidToken};
use crate::token::extract::{self, Found};
use crate::token::{OwnTokens, Verified};
use http::header::AUTHORIZATION;
use http::request::Parts;
use http::HeaderName;
use std::borrow::Cow;
use std::sync::Arc;

pub struct OAuth2Auth {
    tokens: Arc<OwnTokens>,
}

static LOCATION: TokenLocation = TokenLocation::Header(AUTHORIZATION);

impl OAuth2Auth {
    pub fn new(tokens: Arc<OwnTokens>) -> Self {
        OAuth2Auth { tokens }
    }
}

fn token(req: &Parts) -> Result<Cow<'_, str>, AuthError> {
    match extract::token(req, &LOCATION) {
        Found::None => Err(AuthError::Missing),
        Found::Unusable => Err(AuthError::Invalid(InvalidToken::Malformed)),
        Found::Token(t) => Ok(t),
    }
}

impl AuthKind for OAuth2Auth {
    fn cached(&self, req: &Parts) -> Option<Result<Arc<Verified>, AuthError>> {
        match token(req) {
            Ok(t) => self.tokens.cached(&t),
            Err(e) => Some(Err(e)),
        }
    }

    fn check<'a>(&'a self, req: &'a Parts) -> Check<'a> {
        Box::pin(async move { self.tokens.validate(&token(req)?).await })
    }

    fn forwarded(&self) -> &[(String, HeaderName)] {
        self.tokens.forwarded()
    }

    fn token<'p>(&self, req: &'p Parts) -> Result<Cow<'p, str>, AuthError> {
        token(req)
    }
}
