//! DPoP at the authorization server (RFC 9449): the token endpoint binds
//! tokens to the key of a request's proof, userinfo accepts DPoP-bound
//! tokens with their proofs. The proof itself is checked by
//! `token::dpop` (shared with the gateway); here are the server's rules
//! around it: nonces when `[tokens] dpop_nonce` is on, one use per `jti`
//! across every instance (recorded in the store), clients that must bind.

use super::AuthServer;
use crate::error::{AuthError, InvalidToken, OAuthError};
use crate::store::{self, Client};
use crate::token::dpop::{self, DpopError, Expect, Proof};
use crate::token::Verified;
use http::HeaderMap;
use std::sync::Arc;

pub use crate::token::dpop::{Refusal, NONCE_PERIOD_SECS};

impl From<Refusal> for OAuthError {
    fn from(r: Refusal) -> Self {
        match r {
            Refusal::Proof(e) => OAuthError::InvalidDpopProof(e.to_string()),
            Refusal::Nonce(nonce) => OAuthError::UseDpopNonce { nonce },
            Refusal::Unavailable => OAuthError::TemporarilyUnavailable,
        }
    }
}

impl AuthServer {
    /// The nonce to hand out now (`DPoP-Nonce`), when nonces are on.
    pub fn dpop_nonce(&self) -> Option<String> {
        self.cfg.tokens.dpop_nonce.then(|| self.tokens.dpop.nonce(store::now()))
    }

    /// Checks the request's `DPoP` header, if any, for `method` and `url`
    /// (and `access_token`'s `ath`): the proof, the nonce, the `jti`'s
    /// single use. None when the request has no proof.
    pub async fn dpop_proof(
        &self,
        headers: &HeaderMap,
        method: &str,
        url: &str,
        access_token: Option<&str>,
    ) -> Result<Option<Proof>, Refusal> {
        let Some(text) = dpop::header(headers).map_err(Refusal::Proof)? else {
            return Ok(None);
        };
        let expect = Expect {
            method,
            url,
            access_token,
            now: store::now(),
        };
        let nonce_required = self.cfg.tokens.dpop_nonce;
        self.tokens.dpop.check(text, &expect, nonce_required).await.map(Some)
    }

    /// The token endpoint's proof: required for clients registered with
    /// `dpop_bound_access_tokens`.
    pub async fn dpop_at_token(&self, headers: &HeaderMap, client: &Client) -> Result<Option<Proof>, OAuthError> {
        let url = self.token_endpoint();
        let proof = self.dpop_proof(headers, "POST", &url, None).await?;
        if proof.is_none() && client.meta.dpop_bound_access_tokens {
            return Err(OAuthError::InvalidDpopProof(
                "this client's access tokens must be DPoP-bound: send a DPoP proof".into(),
            ));
        }
        Ok(proof)
    }

    /// An access token presented to one of the server's own resources
    /// (userinfo) with its scheme: a DPoP-bound token needs the `DPoP`
    /// scheme and a proof by its key, a bearer token the `Bearer` scheme.
    pub async fn validate_presented(
        &self,
        headers: &HeaderMap,
        presented: &Presented,
        method: &str,
        url: &str,
    ) -> Result<Arc<Verified>, AuthError> {
        let v = self.validate_access(&presented.token).await?;
        let bound = v
            .claims
            .get("cnf")
            .and_then(|c| c.get("jkt"))
            .and_then(serde_json::Value::as_str);
        match (presented.dpop, bound) {
            (false, None) => Ok(v),
            (false, Some(_)) => Err(AuthError::Invalid(InvalidToken::DpopBound)),
            (true, bound) => {
                let proof = self
                    .dpop_proof(headers, method, url, Some(&presented.token))
                    .await?
                    .ok_or(AuthError::DpopProof(DpopError::Missing))?;
                match bound {
                    Some(jkt) if jkt == proof.jkt => Ok(v),
                    Some(_) => Err(AuthError::DpopProof(DpopError::WrongKey)),
                    // RFC 9449 §7.1: the DPoP scheme is for bound tokens.
                    None => Err(AuthError::DpopProof(DpopError::WrongKey)),
                }
            }
        }
    }
}

/// An access token as the request presented it.
pub struct Presented {
    pub token: String,
    /// Sent with `Authorization: DPoP` rather than `Bearer`.
    pub dpop: bool,
}
