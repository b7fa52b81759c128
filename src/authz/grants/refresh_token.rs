//! RFC 6749 §6 with rotation (RFC 9700 §4.14.2): every use returns a new
//! refresh token; presenting a used one revokes the whole grant family.

use super::{Grant, Request};
use crate::authz::issuer::{Issue, TokenResponse};
use crate::authz::{scope, AuthServer};
use crate::error::OAuthError;
use crate::store::{self, hash_token, Consume, TokenKind};
use async_trait::async_trait;

pub struct RefreshToken;

fn invalid() -> OAuthError {
    OAuthError::InvalidGrant("the refresh token is invalid, expired or revoked".into())
}

#[async_trait]
impl Grant for RefreshToken {
    fn grant_type(&self) -> &'static str {
        "refresh_token"
    }

    async fn exchange(&self, server: &AuthServer, req: Request<'_>) -> Result<TokenResponse, OAuthError> {
        let token = req.form.require("refresh_token")?;
        let hash = hash_token(token);
        let rec = server.store.get_token(&hash).await?.ok_or_else(invalid)?;
        // Checks before consuming, so another client cannot burn it.
        if rec.kind != TokenKind::Refresh || rec.client_id != req.client.id {
            return Err(invalid());
        }
        if rec.revoked || rec.expires_at <= store::now() {
            return Err(invalid());
        }
        // RFC 9449 §5: a public client's refresh token is bound to the
        // DPoP key it was issued to; only a proof by that key redeems it.
        if let Some(jkt) = rec.cnf.as_ref().and_then(|c| c.jkt.as_deref()) {
            match req.cnf.as_ref().and_then(|c| c.jkt.as_deref()) {
                Some(presented) if presented == jkt => {}
                Some(_) => {
                    return Err(OAuthError::InvalidDpopProof(
                        "the DPoP proof is signed by another key than the refresh token is bound to".into(),
                    ))
                }
                None => {
                    return Err(OAuthError::InvalidDpopProof(
                        "the refresh token is bound to a DPoP key: send a DPoP proof by that key".into(),
                    ))
                }
            }
        }
        let granted = scope::split(&rec.scope);
        // §6: the new scope may only narrow the original grant.
        let audience =
            crate::authz::resource::narrow(crate::authz::resource::requested(req.form, req.client)?, &rec.audience)?;
        let scopes = match req.form.get("scope") {
            None => granted,
            Some(asked) => scope::grant(Some(asked), &granted)?,
        };
        let rec = match server.store.consume_refresh(&hash).await? {
            Consume::Consumed(r) => r,
            Consume::AlreadyUsed(r) => {
                let until = r
                    .expires_at
                    .max(store::now() + server.cfg.tokens.access_ttl.as_secs() as i64);
                let n = server.store.revoke_family(&r.family_id, until).await?;
                tracing::warn!(client = %r.client_id, revoked = n, "refresh token reuse: grant family revoked");
                return Err(OAuthError::InvalidGrant(
                    "the refresh token was already used; the grant is revoked".into(),
                ));
            }
            Consume::NotFound => return Err(invalid()),
        };
        if let Some(sub) = &rec.subject {
            if server.store.get_user(sub).await?.is_none() {
                return Err(invalid());
            }
        }
        server
            .issue(Issue {
                client: req.client,
                subject: rec.subject.clone(),
                scopes,
                family: Some(rec.family_id.clone()),
                refresh: true,
                auth_time: rec.auth_time,
                cnf: req.cnf.clone(),
                audience: Some(audience),
                grant_audience: Some(rec.audience.clone()),
            })
            .await
    }
}
