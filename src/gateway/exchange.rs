//! One request's passage through the gateway: what its policies learn
//! (who the token speaks for), what the data plane did (which target, how
//! many attempts), and the connection it came on. Policies read and write
//! it in the request phase and read it in the response phase; the access
//! log and traces read it at the end.

use crate::net::ConnInfo;
use crate::token::Verified;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Instant;

pub struct Exchange<'c> {
    pub conn: &'c ConnInfo,
    pub route: &'c str,
    pub started: Instant,
    /// The client's address: the peer, or what `[gateway] trusted_proxies`
    /// let `X-Forwarded-For` say.
    pub client_ip: IpAddr,
    /// Set by the auth policy when a token was accepted.
    pub principal: Option<Arc<Verified>>,
    /// The request is gRPC (`content-type: application/grpc…`): refusals
    /// carry `grpc-status`.
    pub grpc: bool,
    /// The upstream target that answered (or was tried last).
    pub target: Option<Arc<str>>,
    /// Upstream attempts made (retries + 1); 0 for mock backends.
    pub attempts: u32,
    /// Headers policies decided in the request phase for whatever answer
    /// goes back (CORS, `RateLimit`): added to the backend's answer and to
    /// the gateway's own refusals alike. `Vary` is appended, the rest set.
    pub answer_headers: Vec<(http::HeaderName, http::HeaderValue)>,
    /// The request's server span when traces are on (else disabled): the
    /// upstream call is its child and names it to the target.
    pub span: tracing::Span,
}

impl<'c> Exchange<'c> {
    pub fn new(conn: &'c ConnInfo, route: &'c str, started: Instant) -> Self {
        Exchange {
            conn,
            route,
            started,
            client_ip: conn.peer.ip(),
            principal: None,
            grpc: false,
            target: None,
            attempts: 0,
            answer_headers: Vec::new(),
            span: tracing::Span::none(),
        }
    }

    /// The accepted token's client (`client_id`, else `azp`).
    pub fn client_id(&self) -> Option<&str> {
        let v = self.principal.as_ref()?;
        v.claim_str("client_id").or_else(|| v.claim_str("azp"))
    }

    /// A claim of the accepted token, as text (strings as they are, other
    /// JSON values serialised).
    pub fn claim(&self, name: &str) -> Option<std::borrow::Cow<'_, str>> {
        let v = self.principal.as_ref()?.claims.get(name)?;
        Some(match v {
            serde_json::Value::String(s) => std::borrow::Cow::Borrowed(s.as_str()),
            other => std::borrow::Cow::Owned(other.to_string()),
        })
    }
}
