//! Grants of the token endpoint: one file each, one line in `registry`.

mod authorization_code;
mod client_credentials;
mod device_code;
pub mod jwt_bearer;
mod password;
mod refresh_token;
#[cfg(feature = "saml")]
pub mod saml_bearer;
pub mod token_exchange;

use super::form::Form;
use super::issuer::TokenResponse;
use super::AuthServer;
use crate::error::OAuthError;
use crate::store::Client;
use async_trait::async_trait;
use std::net::IpAddr;

pub struct Request<'a> {
    pub client: &'a Client,
    pub form: &'a Form,
    pub ip: IpAddr,
    /// What the access token will be bound to: the key of the request's
    /// DPoP proof, the client certificate (decided by the endpoint).
    pub cnf: Option<crate::store::Confirmation>,
}

#[async_trait]
pub trait Grant: Send + Sync {
    /// The `grant_type` value this handles.
    fn grant_type(&self) -> &'static str;
    async fn exchange(&self, server: &AuthServer, req: Request<'_>) -> Result<TokenResponse, OAuthError>;
}

pub type Registry = Vec<Box<dyn Grant>>;

pub fn registry() -> Registry {
    vec![
        Box::new(authorization_code::AuthorizationCode),
        Box::new(client_credentials::ClientCredentials),
        Box::new(device_code::DeviceCode),
        Box::new(jwt_bearer::JwtBearer),
        Box::new(password::Password),
        Box::new(refresh_token::RefreshToken),
        #[cfg(feature = "saml")]
        Box::new(saml_bearer::SamlBearer),
        Box::new(token_exchange::TokenExchange),
    ]
}

impl AuthServer {
    pub fn grant(&self, grant_type: &str) -> Option<&dyn Grant> {
        self.grants
            .iter()
            .find(|g| g.grant_type() == grant_type)
            .map(|g| g.as_ref())
    }
}
