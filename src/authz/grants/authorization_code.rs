//! RFC 6749 §4.1.3 with PKCE (RFC 7636): single-use codes bound to client,
//! redirect URI and challenge; a replayed code revokes everything issued
//! from it (§4.1.2); an `openid` scope adds an ID token.

use super::{Grant, Request};
use crate::authz::id_token::IdTokenInput;
use crate::authz::issuer::{Issue, TokenResponse};
use crate::authz::{scope, AuthServer};
use crate::error::OAuthError;
use crate::store::{self, hash_token, Consume};
use async_trait::async_trait;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

pub struct AuthorizationCode;

fn invalid(why: &str) -> OAuthError {
    OAuthError::InvalidGrant(why.to_string())
}

/// S256: BASE64URL(SHA256(verifier)) == challenge, in constant time.
pub fn pkce_s256_matches(verifier: &str, challenge: &str) -> bool {
    let computed = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
    computed.as_bytes().ct_eq(challenge.as_bytes()).into()
}

#[async_trait]
impl Grant for AuthorizationCode {
    fn grant_type(&self) -> &'static str {
        "authorization_code"
    }

    async fn exchange(&self, server: &AuthServer, req: Request<'_>) -> Result<TokenResponse, OAuthError> {
        let code = req.form.require("code")?;
        let verifier = req.form.get("code_verifier");
        // Checked before the code is used up: a verifier of 3 characters
        // matched its challenge before, PKCE reduced to a guessable secret.
        if verifier.is_some_and(|v| !crate::authz::authorize::is_pkce_value(v)) {
            return Err(OAuthError::InvalidRequest(
                "code_verifier must be 43 to 128 characters of A-Z a-z 0-9 - . _ ~ (RFC 7636 §4.1)".into(),
            ));
        }
        let c = match server.store.consume_code(&hash_token(code)).await? {
            Consume::Consumed(c) => c,
            Consume::AlreadyUsed(c) => {
                let until = store::now() + server.cfg.tokens.refresh_ttl.as_secs() as i64;
                let n = server.store.revoke_family(&c.family_id, until).await?;
                tracing::warn!(client = %c.client_id, revoked = n, "authorization code replay: issued tokens revoked");
                return Err(invalid("the authorization code was already used"));
            }
            Consume::NotFound => return Err(invalid("the authorization code is invalid")),
        };
        if c.client_id != req.client.id {
            return Err(invalid("the authorization code was issued to another client"));
        }
        if c.expires_at <= store::now() {
            return Err(invalid("the authorization code expired"));
        }
        match req.form.get("redirect_uri") {
            Some(r) if r != c.redirect_uri => {
                return Err(invalid("redirect_uri does not match the authorization request"))
            }
            None if req.client.redirect_uris.len() != 1 => {
                return Err(OAuthError::InvalidRequest("missing parameter \"redirect_uri\"".into()))
            }
            _ => {}
        }
        match (&c.code_challenge, verifier) {
            (Some(ch), Some(v)) if pkce_s256_matches(v, ch) => {}
            (Some(_), Some(_)) => return Err(invalid("code_verifier does not match the code_challenge")),
            (Some(_), None) => return Err(invalid("code_verifier is required")),
            (None, Some(_)) => return Err(invalid("no code_challenge was sent for this code")),
            (None, None) => {}
        }
        let user = server
            .store
            .get_user(&c.username)
            .await?
            .ok_or_else(|| invalid("the user no longer exists"))?;
        let scopes = scope::split(&c.scope);
        // RFC 8707 §2.2: the token request may narrow the code's resources.
        let granted = if c.resource.is_empty() {
            server.audience_for(req.client)
        } else {
            c.resource.clone()
        };
        let audience =
            crate::authz::resource::narrow(crate::authz::resource::requested(req.form, req.client)?, &granted)?;
        let mut resp = server
            .issue(Issue {
                client: req.client,
                subject: Some(user.username.clone()),
                scopes: scopes.clone(),
                family: Some(c.family_id.clone()),
                refresh: req.client.allows_grant("refresh_token"),
                auth_time: Some(c.auth_time),
                cnf: req.cnf.clone(),
                audience: Some(audience),
                grant_audience: Some(granted),
            })
            .await?;
        if scopes.iter().any(|s| s == "openid") {
            resp.id_token = Some(server.id_token(IdTokenInput {
                client: req.client,
                user: &user,
                scopes: &scopes,
                nonce: c.nonce.as_deref(),
                auth_time: c.auth_time,
                access_token: Some(&resp.access_token),
                code: None,
                state: None,
                sid: c.sid.as_deref(),
            })?);
        }
        Ok(resp)
    }
}

#[cfg(test)]
mod tests {
    use super::pkce_s256_matches;

    #[test]
    fn s256_matches_an_independent_computation() {
        // Challenge computed with Python's hashlib + base64.urlsafe_b64encode.
        let challenge = "UDzg7DBxMzKI63QhKTK2K7AeZbTozPdz8x7zZx-FgkI";
        assert!(pkce_s256_matches(
            "dBjftJeZ4CVP-mJ92IZVOxRxwmf2bQ9nMlUWtJw64_s",
            challenge
        ));
        assert!(!pkce_s256_matches(
            "dBjftJeZ4CVP-mJ92IZVOxRxwmf2bQ9nMlUWtJw64_t",
            challenge
        ));
    }
}
