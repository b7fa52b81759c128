//! RFC 8628 §3.4–3.5: the device polls the token endpoint with its
//! `device_code` until the user has decided on the verification page.
//! Answers: `authorization_pending`, `slow_down` (the interval grows by
//! 5 s, kept in the store so every instance enforces it), `access_denied`,
//! `expired_token`, and tokens once: the store hands an approved code out
//! to one poll only, across instances; a later poll with the same code is
//! a replay and revokes what it was exchanged for (as for authorization
//! codes, RFC 6749 §4.1.2).

use super::{Grant, Request};
use crate::authz::id_token::IdTokenInput;
use crate::authz::issuer::{Issue, TokenResponse};
use crate::authz::{scope, AuthServer};
use crate::config::DEVICE_CODE_GRANT;
use crate::error::OAuthError;
use crate::store::{self, hash_token, DevicePoll};
use async_trait::async_trait;

pub struct DeviceCode;

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

#[async_trait]
impl Grant for DeviceCode {
    fn grant_type(&self) -> &'static str {
        DEVICE_CODE_GRANT
    }

    async fn exchange(&self, server: &AuthServer, req: Request<'_>) -> Result<TokenResponse, OAuthError> {
        let code = req.form.require("device_code")?;
        // Ours are 43 characters; anything long is not worth hashing.
        if code.len() > 256 {
            return Err(OAuthError::InvalidGrant("the device code is invalid".into()));
        }
        // RFC 8707: checked before the poll, so a bad `resource` spends nothing.
        let audience = crate::authz::resource::requested(req.form, req.client)?;
        let d = match server
            .store
            .poll_device_code(&hash_token(code), &req.client.id, now_ms())
            .await?
        {
            DevicePoll::Approved(d) => d,
            DevicePoll::Pending => return Err(OAuthError::AuthorizationPending),
            DevicePoll::SlowDown(interval) => return Err(OAuthError::SlowDown { interval }),
            DevicePoll::Denied => return Err(OAuthError::AccessDenied("the user denied the request")),
            DevicePoll::Expired => return Err(OAuthError::ExpiredToken),
            DevicePoll::NotFound => return Err(OAuthError::InvalidGrant("the device code is invalid".into())),
            DevicePoll::AlreadyUsed(d) => {
                let until = store::now() + server.cfg.tokens.refresh_ttl.as_secs() as i64;
                let n = server.store.revoke_family(&d.family_id, until).await?;
                tracing::warn!(client = %d.client_id, revoked = n, "device code replay: issued tokens revoked");
                return Err(OAuthError::InvalidGrant("the device code was already used".into()));
            }
        };
        let username = d
            .subject
            .as_deref()
            .ok_or_else(|| OAuthError::InvalidGrant("the device code is invalid".into()))?;
        let user = server
            .store
            .get_user(username)
            .await?
            .ok_or_else(|| OAuthError::InvalidGrant("the user no longer exists".into()))?;
        let scopes = scope::split(&d.scope);
        let mut resp = server
            .issue(Issue {
                client: req.client,
                subject: Some(user.username.clone()),
                scopes: scopes.clone(),
                family: Some(d.family_id.clone()),
                refresh: req.client.allows_grant("refresh_token"),
                auth_time: d.auth_time,
                cnf: req.cnf.clone(),
                audience,
                grant_audience: None,
            })
            .await?;
        if scopes.iter().any(|s| s == "openid") {
            resp.id_token = Some(server.id_token(IdTokenInput {
                client: req.client,
                user: &user,
                scopes: &scopes,
                nonce: None,
                auth_time: d.auth_time.unwrap_or_else(store::now),
                access_token: Some(&resp.access_token),
                code: None,
                state: None,
                sid: None,
            })?);
        }
        Ok(resp)
    }
}
