//! RFC 7523 §2.1: a JWT from a `[[trusted_issuers]]` entry is exchanged for
//! an access token. §3 checks: `iss` known; the signature by that issuer's
//! key, with the algorithm the key fixes (never `none`, never HMAC);
//! `aud` names this token endpoint or issuer; `exp` present, not past and
//! not further ahead than `max_assertion_lifetime`; `nbf`/`iat` not in the
//! future beyond a small leeway; `sub` names a user (or a client, when the
//! issuer says so); `jti` used once while the assertion lives, recorded in
//! the store so the rule holds across instances.

use super::{Grant, Request};
use crate::authz::assertion::{self, LEEWAY};
use crate::authz::issuer::{Issue, TokenResponse};
use crate::authz::{scope, AuthServer};
use crate::config::AssertionSubject;
use crate::error::OAuthError;
use crate::store;
use async_trait::async_trait;

pub const GRANT_TYPE: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";

pub struct JwtBearer;

fn bad(why: &str) -> OAuthError {
    OAuthError::InvalidGrant(format!("the assertion {why}"))
}

#[async_trait]
impl Grant for JwtBearer {
    fn grant_type(&self) -> &'static str {
        GRANT_TYPE
    }

    async fn exchange(&self, server: &AuthServer, req: Request<'_>) -> Result<TokenResponse, OAuthError> {
        let assertion = req.form.require("assertion")?;
        if assertion.len() > server.cfg.gateway.max_token_bytes {
            return Err(bad("is too large"));
        }
        let iss = assertion::unverified_claim(assertion, "iss").ok_or_else(|| bad("is not a JWT with an iss claim"))?;
        let (trusted, keys) = server
            .cfg
            .trusted_issuers
            .iter()
            .zip(&server.assertion_keys)
            .find(|(t, _)| t.issuer == iss)
            .map(|(t, (_, k))| (t, k))
            .ok_or_else(|| bad("comes from an issuer that is not trusted"))?;
        let token_url = server.token_endpoint();
        let claims = assertion::verify(keys, assertion, &iss, None, &[&token_url, &server.cfg.issuer])
            .await
            .map_err(|f| match f {
                assertion::Failure::Unavailable => OAuthError::TemporarilyUnavailable,
                assertion::Failure::Malformed => bad("has a malformed header"),
                assertion::Failure::Invalid => {
                    bad("is not validly signed by its issuer, or is expired or not for this server")
                }
            })?;

        let now = store::now();
        let exp = claims["exp"].as_i64().ok_or_else(|| bad("has no numeric exp"))?;
        let max = i64::try_from(trusted.max_assertion_lifetime.as_secs()).unwrap_or(i64::MAX);
        if exp > now.saturating_add(max).saturating_add(LEEWAY as i64) {
            return Err(bad("expires too far in the future (max_assertion_lifetime)"));
        }
        if claims["iat"].as_i64().is_some_and(|iat| iat > now + LEEWAY as i64) {
            return Err(bad("was issued in the future"));
        }
        let sub = claims["sub"]
            .as_str()
            .filter(|s| !s.is_empty())
            .ok_or_else(|| bad("has no sub"))?;
        let jti = claims["jti"]
            .as_str()
            .filter(|s| !s.is_empty())
            .ok_or_else(|| bad("has no jti"))?;

        // The subject must exist before the jti is spent.
        match trusted.subject {
            AssertionSubject::User => {
                server
                    .store
                    .get_user(sub)
                    .await?
                    .ok_or_else(|| bad("names an unknown user"))?;
            }
            AssertionSubject::Client => {
                server
                    .client(sub)
                    .await?
                    .ok_or_else(|| bad("names an unknown client"))?;
            }
        }
        let scopes = scope::grant(req.form.get("scope"), &req.client.scopes)?;
        let audience = crate::authz::resource::requested(req.form, req.client)?;
        // Single use while the assertion could still be presented.
        let once = format!("jwt-bearer:{iss}:{jti}");
        if !server.store.use_once(&once, exp + LEEWAY as i64, now).await? {
            return Err(bad("was already used (jti replay)"));
        }
        server
            .issue(Issue {
                client: req.client,
                subject: Some(sub.to_string()),
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
