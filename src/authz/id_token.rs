//! OpenID Connect ID tokens and the user claims shared with userinfo.

use super::AuthServer;
use crate::error::OAuthError;
use crate::keys::SigningAlg;
use crate::store::{self, Client, User};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256, Sha512};

/// `at_hash` / `c_hash` (OIDC Core §3.1.3.6): the left half of the hash
/// the signing algorithm uses, base64url. Ed25519 signs with SHA-512.
pub fn half_hash(alg: SigningAlg, value: &str) -> String {
    let digest: Vec<u8> = match alg {
        SigningAlg::EdDsa => Sha512::digest(value.as_bytes()).to_vec(),
        _ => Sha256::digest(value.as_bytes()).to_vec(),
    };
    URL_SAFE_NO_PAD.encode(&digest[..digest.len() / 2])
}

/// Standard claims released for the granted scopes (OIDC Core §5.4).
pub fn user_claims(user: &User, scopes: &[String]) -> Map<String, Value> {
    let mut m = Map::new();
    let has = |s: &str| scopes.iter().any(|x| x == s);
    if has("profile") {
        m.insert("preferred_username".into(), json!(user.username));
        if let Some(n) = &user.name {
            m.insert("name".into(), json!(n));
        }
    }
    if has("email") {
        if let Some(e) = &user.email {
            m.insert("email".into(), json!(e));
            // gatehouse does not verify addresses; say so rather than guess.
            m.insert("email_verified".into(), json!(false));
        }
    }
    m
}

pub struct IdTokenInput<'a> {
    pub client: &'a Client,
    pub user: &'a User,
    pub scopes: &'a [String],
    pub nonce: Option<&'a str>,
    pub auth_time: i64,
    pub access_token: Option<&'a str>,
    pub code: Option<&'a str>,
    /// The authorization request's `state`, for `s_hash` in ID tokens sent
    /// through the front channel (FAPI 1.0 §5.2.2.1; harmless elsewhere).
    pub state: Option<&'a str>,
    /// The browser session's `sid` (OIDC Back-Channel Logout §2.1), when
    /// the token is issued within one.
    pub sid: Option<&'a str>,
}

impl AuthServer {
    /// The claims of an ID token this server signed (any of its keys,
    /// expired or not: RP-Initiated Logout §2 allows an expired hint), or
    /// None. Access tokens (`typ: at+jwt`) are not ID tokens.
    pub fn verify_own_id_token(&self, token: &str) -> Option<Value> {
        if token.len() > self.cfg.gateway.max_token_bytes {
            return None;
        }
        let header = jsonwebtoken::decode_header(token).ok()?;
        if header.typ.as_deref().is_some_and(|t| t.eq_ignore_ascii_case("at+jwt")) {
            return None;
        }
        let keys = self.keys.load();
        let key = keys
            .public
            .candidates(header.kid.as_deref(), header.alg)
            .find(|k| k.alg == header.alg)?;
        let mut v = jsonwebtoken::Validation::new(key.alg);
        v.validate_exp = false;
        v.validate_aud = false;
        // `iss` must be present (jsonwebtoken checks it only when it is).
        v.set_required_spec_claims(&["iss", "sub"]);
        v.set_issuer(&[&self.cfg.issuer]);
        jsonwebtoken::decode::<Value>(token, &key.key, &v)
            .ok()
            .map(|d| d.claims)
    }

    /// The algorithm of `client`'s ID tokens: its registered
    /// `id_token_signed_response_alg`, else RS256 (OIDC Registration §2).
    pub fn id_token_alg(&self, client: &Client) -> SigningAlg {
        self.signed_response_alg(client.meta.id_token_signed_response_alg.as_deref())
    }

    /// The algorithm of what the server signs for a client that registered
    /// `registered` for it (ID tokens, JWT introspection answers, logout
    /// tokens): that one if there is a key for it, else RS256 (OIDC
    /// Registration §2, RFC 9701 §6).
    pub fn signed_response_alg(&self, registered: Option<&str>) -> SigningAlg {
        let keys = self.keys.load();
        let want = match registered {
            Some(a) => a.parse().unwrap_or(keys.alg),
            None => SigningAlg::Rs256,
        };
        if keys.algs().contains(&want) {
            want
        } else {
            keys.alg
        }
    }

    pub fn id_token(&self, i: IdTokenInput<'_>) -> Result<String, OAuthError> {
        let alg = self.id_token_alg(i.client);
        let now = store::now();
        let mut c = user_claims(i.user, i.scopes);
        c.insert("iss".into(), json!(self.cfg.issuer));
        c.insert("sub".into(), json!(i.user.username));
        c.insert("aud".into(), json!(i.client.id));
        c.insert("azp".into(), json!(i.client.id));
        c.insert("iat".into(), json!(now));
        c.insert("exp".into(), json!(now + self.cfg.tokens.id_token_ttl.as_secs() as i64));
        c.insert("auth_time".into(), json!(i.auth_time));
        c.insert("amr".into(), json!(["pwd"]));
        if let Some(n) = i.nonce {
            c.insert("nonce".into(), json!(n));
        }
        if let Some(sid) = i.sid {
            c.insert("sid".into(), json!(sid));
        }
        if let Some(at) = i.access_token {
            c.insert("at_hash".into(), json!(half_hash(alg, at)));
        }
        if let Some(code) = i.code {
            c.insert("c_hash".into(), json!(half_hash(alg, code)));
        }
        if let Some(state) = i.state {
            c.insert("s_hash".into(), json!(half_hash(alg, state)));
        }
        self.keys.load().sign_as(alg, "JWT", &c).map_err(|e| {
            tracing::error!(error = %e, "cannot sign ID token");
            OAuthError::ServerError
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn at_hash_matches_the_oidc_example() {
        // OIDC Core A.3 example: access token and its at_hash (RS256).
        let at = "jHkWEdUXMU1BwAsC4vtUsZwnNvTIxEl0z9K3vx5KF0Y";
        assert_eq!(half_hash(SigningAlg::Rs256, at), "77QmUPtjPfzWtF2AnpK9RQ");
    }
}
