//! Auth policies: one trait, one file per kind, and an enum that
//! dispatches statically (no boxing on the hot path). Adding a kind is one
//! file, one variant and one match arm in `Policy::build`.

pub mod jwt;
pub mod oauth2;

use crate::error::AuthError;
use crate::token::Verified;
use http::request::Parts;
use http::HeaderName;
use std::future::Future;
use std::sync::Arc;

pub use jwt::JwtPolicy;
pub use oauth2::OAuth2Policy;

pub trait AuthPolicy {
    /// Ok(None): no credentials needed. Ok(Some): who the token speaks for.
    fn authorize(&self, parts: &Parts) -> impl Future<Output = Result<Option<Arc<Verified>>, AuthError>> + Send;

    /// Request headers this policy sets upstream (and so strips from clients).
    fn forwarded_headers(&self) -> &[(String, HeaderName)] {
        &[]
    }
}

pub enum Policy {
    None,
    Jwt(Box<JwtPolicy>),
    OAuth2(Box<OAuth2Policy>),
}

impl Policy {
    pub async fn authorize(&self, parts: &Parts) -> Result<Option<Arc<Verified>>, AuthError> {
        match self {
            Policy::None => Ok(None),
            Policy::Jwt(p) => p.authorize(parts).await,
            Policy::OAuth2(p) => p.authorize(parts).await,
        }
    }

    pub fn forwarded_headers(&self) -> &[(String, HeaderName)] {
        match self {
            Policy::None => &[],
            Policy::Jwt(p) => p.forwarded_headers(),
            Policy::OAuth2(p) => p.forwarded_headers(),
        }
    }
}
