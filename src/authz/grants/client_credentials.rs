//! RFC 6749 §4.4: the client acts for itself.

use super::{Grant, Request};
use crate::authz::issuer::{Issue, TokenResponse};
use crate::authz::{scope, AuthServer};
use crate::error::OAuthError;
use async_trait::async_trait;

pub struct ClientCredentials;

#[async_trait]
impl Grant for ClientCredentials {
    fn grant_type(&self) -> &'static str {
        "client_credentials"
    }

    async fn exchange(&self, server: &AuthServer, req: Request<'_>) -> Result<TokenResponse, OAuthError> {
        // §4.4: only confidential clients can prove who they are.
        if req.client.is_public() {
            return Err(OAuthError::UnauthorizedClient(
                "public clients cannot use client_credentials",
            ));
        }
        let scopes = scope::grant(req.form.get("scope"), &req.client.scopes)?;
        let audience = crate::authz::resource::requested(req.form, req.client)?;
        server
            .issue(Issue {
                client: req.client,
                subject: None,
                scopes,
                family: None,
                refresh: false,
                auth_time: None,
                cnf: req.cnf.clone(),
                audience,
                grant_audience: None,
            })
            .await
    }
}
