//! RFC 7523 §2.1: a JWT from a `[[trusted_issuers]]` entry is exchanged for
//! an access token. §3 checks: `iss` known; the signature by that issuer's
//! key, with the algorithm the key fixes (never `none`, never HMAC);
//! `aud` names this token endpoint or issuer; `exp` present, not past and
//! not further ahead than `max_assertion_lifetime`; `nbf`/`iat` not in the
//! future beyond a small leeway; `sub` names a user (or a client, when the
//! issuer says so); `jti` used once while the assertion lives, recorded in
//! the store so the rule holds across instances.

use super::{Grant, Request};
use crate::authz::issuer::{Issue, TokenResponse};
use crate::authz::{scope, AuthServer};
use crate::config::AssertionSubject;
use crate::error::OAuthError;
use crate::store;
use async_trait::async_trait;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde_json::Value;

pub const GRANT_TYPE: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";

/// Clock skew allowed on `exp`, `nbf` and `iat`.
const LEEWAY: u64 = 30;

pub struct JwtBearer;

fn bad(why: &str) -> OAuthError {
    OAuthError::InvalidGrant(format!("the assertion {why}"))
}

/// The payload's `iss`, read before any check to pick the keys (nothing
/// else of the unverified payload is used).
fn unverified_issuer(assertion: &str) -> Option<String> {
    let payload = assertion.split('.').nth(1)?;
    let json = URL_SAFE_NO_PAD.decode(payload).ok()?;
    let v: Value = serde_json::from_slice(&json).ok()?;
    v.get("iss")?.as_str().map(str::to_owned)
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
        let iss = unverified_issuer(assertion).ok_or_else(|| bad("is not a JWT with an iss claim"))?;
        let (trusted, keys) = server
            .cfg
            .trusted_issuers
            .iter()
            .zip(&server.assertion_keys)
            .find(|(t, _)| t.issuer == iss)
            .map(|(t, (_, k))| (t, k))
            .ok_or_else(|| bad("comes from an issuer that is not trusted"))?;
        let header = jsonwebtoken::decode_header(assertion).map_err(|_| bad("has a malformed header"))?;

        let mut set = keys.current().await.map_err(|()| OAuthError::TemporarilyUnavailable)?;
        if let Some(kid) = header.kid.as_deref() {
            if !set.has_kid(kid) && keys.refresh_for_unknown_kid(&set).await {
                set = keys.current().await.map_err(|()| OAuthError::TemporarilyUnavailable)?;
            }
        }
        let token_url = server.token_endpoint();
        let mut rules = jsonwebtoken::Validation::new(header.alg);
        rules.leeway = LEEWAY;
        rules.validate_nbf = true;
        rules.set_issuer(&[&iss]);
        rules.set_audience(&[token_url.as_str(), server.cfg.issuer.as_str()]);
        rules.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        let mut claims = None;
        // The key fixes the algorithm: a header naming another one (HS256
        // with an RSA key, `none`) matches no candidate.
        for key in set
            .candidates(header.kid.as_deref(), header.alg)
            .filter(|k| k.alg == header.alg)
        {
            if let Ok(d) = jsonwebtoken::decode::<Value>(assertion, &key.key, &rules) {
                claims = Some(d.claims);
                break;
            }
        }
        let claims =
            claims.ok_or_else(|| bad("is not validly signed by its issuer, or is expired or not for this server"))?;

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
            })
            .await
    }
}
