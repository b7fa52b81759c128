//! OpenID Connect Back-Channel Logout 1.0. Every end-user session records
//! the clients it issued a code or tokens to (`store::SessionRecord::clients`,
//! written at the authorization endpoint); when the session ends — the
//! user signs out (RP-Initiated Logout), or the admin resets the user's
//! password or deletes the user — each of those clients that registered a
//! `backchannel_logout_uri` is sent a logout token there (§2.5: a POST of
//! `logout_token=<JWT>`), in the background: the page that ended the
//! session does not wait. Each delivery goes through the outbound guard
//! (SSRF), never follows a redirect, gets `ATTEMPT_TIMEOUT` per attempt and
//! is retried with backoff on network errors and 5xx answers; the outcome
//! is logged (never the token) and counted in
//! `gatehouse_backchannel_logout_total{outcome}`.
//!
//! Sessions that just expire are not announced: nothing observes their
//! end (Cassandra drops them by TTL, the SQL purge deletes them in
//! batches), as with Keycloak and Hydra.

use super::session::USER;
use super::{secrets, AuthServer};
use crate::outbound::{FetchError, Guard};
use crate::store::{self, Client, SessionRecord};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde_json::json;
use std::sync::Arc;
use std::time::Duration;

/// §2.4: the `events` member that makes a JWT a logout token.
pub const EVENT: &str = "http://schemas.openid.net/event/backchannel-logout";
/// §2.4 (and RFC 8725 §3.11): the logout token's `typ`.
pub const TYP: &str = "logout+jwt";
/// A logout token is good for this long (§2.4 asks for a short `exp`).
const TOKEN_TTL: i64 = 120;
/// One delivery attempt (connect, send, answer).
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(5);
/// Attempts per delivery; the waits between them double from `FIRST_WAIT`.
const ATTEMPTS: u32 = 4;
const FIRST_WAIT: Duration = Duration::from_secs(1);

/// One logout token on its way to one client.
struct Delivery {
    client_id: String,
    uri: String,
    token: String,
}

impl AuthServer {
    /// The `sid` of an end-user session (ID tokens, logout tokens):
    /// derived from the hash the store keys it on under the session key,
    /// so it is stable and names the session without being a way to find
    /// or use it (neither the cookie nor the store key can be had from it).
    pub fn session_sid(&self, id_hash: &str) -> String {
        let mac = self
            .session_key
            .sign(format!("gatehouse oidc sid\0{id_hash}").as_bytes());
        URL_SAFE_NO_PAD.encode(&mac[..18])
    }

    /// Tells the clients of these ended sessions (end-user sessions only;
    /// admin console sessions have no clients). Returns once the logout
    /// tokens are made; they are delivered in the background.
    pub async fn sessions_ended(&self, ended: &[SessionRecord]) {
        let mut deliveries = Vec::new();
        for s in ended.iter().filter(|s| s.kind == USER.kind) {
            let sid = self.session_sid(&s.id_hash);
            for id in &s.clients {
                let client = match self.client(id).await {
                    Ok(Some(c)) => c,
                    Ok(None) => continue,
                    Err(e) => {
                        tracing::warn!(client = %id, error = e.description(), "back-channel logout skipped: the client could not be read");
                        continue;
                    }
                };
                let Some(uri) = client.meta.backchannel_logout_uri.clone() else {
                    continue;
                };
                match self.logout_token(&client, &s.subject, &sid) {
                    Ok(token) => deliveries.push(Delivery {
                        client_id: client.id.clone(),
                        uri,
                        token,
                    }),
                    Err(e) => tracing::error!(client = %client.id, error = %e, "cannot sign a logout token"),
                }
            }
        }
        if deliveries.is_empty() {
            return;
        }
        let guard = self.outbound.clone();
        tokio::spawn(async move {
            futures_util::future::join_all(deliveries.into_iter().map(|d| deliver(&guard, d))).await;
        });
    }

    /// §2.4: `iss`, `aud`, `iat`, `exp`, `jti`, `events`, `sub` and `sid`
    /// (both, so a client that keys on either finds the session), never a
    /// `nonce`; signed like the client's ID tokens.
    fn logout_token(&self, client: &Client, sub: &str, sid: &str) -> Result<String, crate::keys::signer::SignError> {
        let now = store::now();
        let claims = json!({
            "iss": self.cfg.issuer,
            "aud": client.id,
            "iat": now,
            "exp": now + TOKEN_TTL,
            "jti": secrets::random_token(),
            "events": { EVENT: {} },
            "sub": sub,
            "sid": sid,
        });
        self.keys.load().sign_as(self.id_token_alg(client), TYP, &claims)
    }
}

/// What one attempt came to.
enum Outcome {
    Delivered,
    /// Worth another attempt: no answer, or a 5xx.
    Retry(String),
    /// Final: the client refused it (4xx), answered a redirect, or the
    /// outbound guard refused the address.
    Refused(&'static str, String),
}

async fn attempt(guard: &Guard, d: &Delivery) -> Outcome {
    match guard
        .post_form(&d.uri, &[("logout_token", d.token.as_str())], ATTEMPT_TIMEOUT)
        .await
    {
        Ok(s) if s.is_success() => Outcome::Delivered,
        Ok(s) if s.is_server_error() => Outcome::Retry(format!("status {s}")),
        Ok(s) if s.is_redirection() => Outcome::Refused("rejected", format!("status {s} (redirects are not followed)")),
        Ok(s) => Outcome::Refused("rejected", format!("status {s}")),
        Err(FetchError::Refused(why)) => Outcome::Refused("refused", why),
        Err(FetchError::Failed(why)) => Outcome::Retry(why),
    }
}

async fn deliver(guard: &Arc<Guard>, d: Delivery) {
    let mut wait = FIRST_WAIT;
    for n in 1..=ATTEMPTS {
        let why = match attempt(guard, &d).await {
            Outcome::Delivered => {
                tracing::info!(client = %d.client_id, uri = %d.uri, attempt = n, "back-channel logout delivered");
                count("delivered");
                return;
            }
            Outcome::Refused(outcome, why) => {
                tracing::warn!(client = %d.client_id, uri = %d.uri, attempt = n, reason = %why, "back-channel logout not accepted");
                count(outcome);
                return;
            }
            Outcome::Retry(why) => why,
        };
        if n == ATTEMPTS {
            tracing::warn!(client = %d.client_id, uri = %d.uri, attempts = n, reason = %why, "back-channel logout failed; giving up");
            count("failed");
            return;
        }
        tracing::info!(client = %d.client_id, uri = %d.uri, attempt = n, reason = %why, retry_in = ?wait, "back-channel logout attempt failed");
        tokio::time::sleep(wait).await;
        wait *= 2;
    }
}

fn count(outcome: &'static str) {
    crate::ops::metrics::backchannel_logout(outcome);
}
