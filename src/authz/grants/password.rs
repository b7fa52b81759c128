//! RFC 6749 §4.3: resource owner password credentials, throttled per user
//! and per IP so it cannot be used to guess passwords.

use super::{Grant, Request};
use crate::authz::issuer::{Issue, TokenResponse};
use crate::authz::{scope, secrets, AuthServer};
use crate::error::OAuthError;
use crate::store;
use async_trait::async_trait;

pub struct Password;

impl AuthServer {
    /// Verifies a resource owner's password with throttling; shared by the
    /// password grant and the login page. Argon2 runs off the async workers.
    pub async fn check_user_password(
        &self,
        username: &str,
        password: &str,
        ip: std::net::IpAddr,
    ) -> Result<store::User, OAuthError> {
        if let Some(retry_after) = self.throttle.check(username, ip).await? {
            return Err(OAuthError::Throttled { retry_after });
        }
        let user = self.store.get_user(username).await?;
        let hash = user
            .as_ref()
            .map_or_else(|| secrets::dummy_hash().to_string(), |u| u.password_hash.clone());
        let ok = secrets::verify_password_queued(hash, password.to_string()).await;
        match user {
            Some(u) if ok => {
                self.throttle.success(username, ip).await?;
                Ok(u)
            }
            _ => {
                self.throttle.failure(username, ip).await?;
                Err(OAuthError::InvalidGrant("invalid resource owner credentials".into()))
            }
        }
    }
}

#[async_trait]
impl Grant for Password {
    fn grant_type(&self) -> &'static str {
        "password"
    }

    async fn exchange(&self, server: &AuthServer, req: Request<'_>) -> Result<TokenResponse, OAuthError> {
        let username = req.form.require("username")?;
        let password = req.form.require("password")?;
        let scopes = scope::grant(req.form.get("scope"), &req.client.scopes)?;
        let audience = crate::authz::resource::requested(req.form, req.client)?;
        let user = server.check_user_password(username, password, req.ip).await?;
        server
            .issue(Issue {
                client: req.client,
                subject: Some(user.username),
                scopes,
                family: None,
                refresh: req.client.allows_grant("refresh_token"),
                auth_time: Some(store::now()),
                cnf: req.cnf.clone(),
                audience,
                grant_audience: None,
            })
            .await
    }
}
