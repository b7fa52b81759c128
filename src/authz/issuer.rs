//! Issuing tokens: the access token (RFC 9068 JWT, or opaque and stored by
//! hash), the refresh token (always opaque, stored by hash, rotated), and
//! the RFC 6749 §5.1 response.

use super::{scope, secrets, AuthServer};
use crate::config::AccessFormat;
use crate::error::OAuthError;
use crate::store::{self, hash_token, Client, Confirmation, TokenKind, TokenRecord};
use serde::Serialize;

/// What a grant decided; `issue` turns it into tokens.
pub struct Issue<'a> {
    pub client: &'a Client,
    /// The resource owner; None when the client acts for itself.
    pub subject: Option<String>,
    pub scopes: Vec<String>,
    /// Continue an existing grant family (refresh) or start one.
    pub family: Option<String>,
    /// Also issue a refresh token.
    pub refresh: bool,
    pub auth_time: Option<i64>,
    /// The key (DPoP) or certificate (mTLS) the access token is bound to.
    /// A public client's refresh token is bound to the DPoP key too
    /// (RFC 9449 §5: it has no other proof of who presents it).
    pub cnf: Option<Confirmation>,
    /// RFC 8707: the resources the token is for (`aud`); None: the
    /// client's default audience.
    pub audience: Option<Vec<String>>,
    /// The resources of the whole grant, kept with the refresh token so a
    /// later refresh may pick any of them (RFC 8707 §2.2); None: `audience`.
    pub grant_audience: Option<Vec<String>>,
}

#[derive(Debug, Serialize)]
pub struct TokenResponse {
    pub access_token: String,
    pub token_type: &'static str,
    pub expires_in: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
    pub scope: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id_token: Option<String>,
    /// RFC 8693 §2.2.1: what a token exchange issued.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub issued_token_type: Option<&'static str>,
}

#[derive(Serialize)]
struct AccessClaims<'a> {
    iss: &'a str,
    sub: &'a str,
    aud: &'a [String],
    client_id: &'a str,
    scope: &'a str,
    jti: &'a str,
    iat: i64,
    exp: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    auth_time: Option<i64>,
    /// Grant family, so revoking a family also revokes its JWTs.
    #[serde(skip_serializing_if = "Option::is_none")]
    fid: Option<&'a str>,
    /// RFC 7800 confirmation of a sender-constrained token.
    #[serde(skip_serializing_if = "Option::is_none")]
    cnf: Option<&'a Confirmation>,
}

impl AuthServer {
    pub fn audience_for(&self, client: &Client) -> Vec<String> {
        if client.audience.is_empty() {
            vec![self.cfg.issuer.clone()]
        } else {
            client.audience.clone()
        }
    }

    pub async fn issue(&self, mut i: Issue<'_>) -> Result<TokenResponse, OAuthError> {
        let now = store::now();
        let access_ttl = i
            .client
            .access_ttl
            .unwrap_or(self.cfg.tokens.access_ttl.as_secs() as i64);
        let refresh_ttl = i
            .client
            .refresh_ttl
            .unwrap_or(self.cfg.tokens.refresh_ttl.as_secs() as i64);
        let scope = scope::join(&i.scopes);
        let family = match (i.family, i.refresh) {
            (Some(f), _) => Some(f),
            (None, true) => Some(secrets::random_token()),
            (None, false) => None,
        };
        let audience = match i.audience.take() {
            Some(a) => a,
            None => self.audience_for(i.client),
        };
        let grant_audience = i.grant_audience.take().unwrap_or_else(|| audience.clone());
        let sub = i.subject.as_deref().unwrap_or(&i.client.id);

        let format = match i.client.meta.access_token_format.as_deref() {
            Some("jwt") => AccessFormat::Jwt,
            Some("opaque") => AccessFormat::Opaque,
            _ => self.cfg.tokens.access_format,
        };
        let access_token = match format {
            AccessFormat::Jwt => {
                let jti = secrets::random_token();
                let claims = AccessClaims {
                    iss: &self.cfg.issuer,
                    sub,
                    aud: &audience,
                    client_id: &i.client.id,
                    scope: &scope,
                    jti: &jti,
                    iat: now,
                    exp: now + access_ttl,
                    auth_time: i.auth_time,
                    fid: family.as_deref(),
                    cnf: i.cnf.as_ref(),
                };
                self.keys.load().sign("at+jwt", &claims).map_err(|e| {
                    tracing::error!(error = %e, "cannot sign access token");
                    OAuthError::ServerError
                })?
            }
            AccessFormat::Opaque => {
                let token = secrets::stored_token();
                self.store
                    .put_token(&TokenRecord {
                        token_hash: hash_token(&token),
                        kind: TokenKind::Access,
                        client_id: i.client.id.clone(),
                        subject: i.subject.clone(),
                        scope: scope.clone(),
                        audience: audience.clone(),
                        family_id: family.clone().unwrap_or_default(),
                        issued_at: now,
                        expires_at: now + access_ttl,
                        auth_time: i.auth_time,
                        used: false,
                        revoked: false,
                        cnf: i.cnf.clone(),
                    })
                    .await?;
                token
            }
        };

        // Confidential clients authenticate at every refresh, so only a
        // public client's refresh token needs the key binding.
        let refresh_cnf = match i.cnf.as_ref().and_then(|c| c.jkt.as_ref()) {
            Some(jkt) if i.client.is_public() => Some(Confirmation::dpop(jkt.clone())),
            _ => None,
        };
        let refresh_token = match (&family, i.refresh) {
            (Some(fam), true) => {
                let token = secrets::stored_token();
                self.store
                    .put_token(&TokenRecord {
                        token_hash: hash_token(&token),
                        kind: TokenKind::Refresh,
                        client_id: i.client.id.clone(),
                        subject: i.subject.clone(),
                        scope: scope.clone(),
                        audience: grant_audience,
                        family_id: fam.clone(),
                        issued_at: now,
                        expires_at: now + refresh_ttl,
                        auth_time: i.auth_time,
                        used: false,
                        revoked: false,
                        cnf: refresh_cnf,
                    })
                    .await?;
                Some(token)
            }
            _ => None,
        };

        Ok(TokenResponse {
            access_token,
            // RFC 9449 §5.1; certificate-bound tokens stay Bearer (RFC 8705).
            token_type: if i.cnf.as_ref().is_some_and(|c| c.jkt.is_some()) {
                "DPoP"
            } else {
                "Bearer"
            },
            expires_in: access_ttl,
            refresh_token,
            scope,
            id_token: None,
            issued_token_type: None,
        })
    }
}
