//! Pushed authorization requests (RFC 9126): the parameters a client
//! pushed to `/api/oauth/par`, kept under the hash of the `request_uri`
//! handed back until the authorization endpoint takes them, once, or they
//! expire. In the store, so any instance can take what another was pushed.

use super::StoreError;
use async_trait::async_trait;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PushedRequest {
    /// `hash_token` of the random part of the `request_uri`.
    pub uri_hash: String,
    /// The client that pushed it: only it may use the URI.
    pub client_id: String,
    /// The authorization request's parameters, validated when pushed.
    pub params: Vec<(String, String)>,
    pub expires_at: i64,
}

#[async_trait]
pub trait PushedRequestStore: Send + Sync {
    /// Stores a pushed request; a hash already stored is a Conflict.
    async fn put_pushed_request(&self, r: &PushedRequest) -> Result<(), StoreError>;

    /// Takes the request out of the store (single use, RFC 9126 §4): Some
    /// once, while it is live and only for `client_id`; None for anything
    /// else (unknown, expired, already taken, another client's — which
    /// stays for its own client).
    async fn take_pushed_request(
        &self,
        uri_hash: &str,
        client_id: &str,
        now: i64,
    ) -> Result<Option<PushedRequest>, StoreError>;
}
