//! Backends a route forwards to.

pub mod mock;
pub mod upstream;

use crate::config::BackendSpec;
use crate::error::GatewayError;
use axum::body::Body;
use axum::response::Response;
use http::request::Parts;
use std::net::SocketAddr;

pub enum Backend {
    Mock(mock::Mock),
    Upstream(Box<upstream::Upstream>),
}

impl Backend {
    pub fn build(spec: &BackendSpec, tls: &std::sync::Arc<rustls::ClientConfig>) -> Result<Self, String> {
        Ok(match spec {
            BackendSpec::Mock(m) => Backend::Mock(mock::Mock::new(m.clone())),
            BackendSpec::Upstream(u) => Backend::Upstream(Box::new(upstream::Upstream::new(u, tls.clone())?)),
        })
    }

    pub async fn call(
        &self,
        parts: Parts,
        body: Body,
        peer: SocketAddr,
        prefix: &str,
    ) -> Result<Response, GatewayError> {
        match self {
            Backend::Mock(m) => Ok(m.respond()),
            Backend::Upstream(u) => u.forward(parts, body, peer, prefix).await,
        }
    }
}
