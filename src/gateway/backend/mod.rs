//! What a route forwards to once its policies let a request through: a
//! fixed answer, or a pool of upstream targets (the data plane).

pub mod mock;

use super::body::{Body, RequestBody};
use super::exchange::Exchange;
use super::upstream::forward::Hop;
use super::upstream::Pool;
use crate::error::GatewayError;
use http::request::Parts;
use http::Response;
use std::sync::Arc;

pub enum Backend {
    Mock(mock::Mock),
    Pool { pool: Arc<Pool>, strip_prefix: bool },
}

impl Backend {
    pub async fn call(
        &self,
        parts: Parts,
        body: RequestBody,
        cx: &mut Exchange<'_>,
        prefix: &str,
        hop: Hop,
    ) -> Result<Response<Body>, GatewayError> {
        match self {
            Backend::Mock(m) => Ok(m.respond()),
            // Boxed: the data plane's future is large, and everything above
            // it is moved at least once (hyper keeps the request's future).
            Backend::Pool { pool, strip_prefix } => {
                Box::pin(pool.forward(parts, body, cx, prefix, *strip_prefix, hop)).await
            }
        }
    }
}
