//! `methods = [...]`: other methods get 405 with `Allow`. After CORS in
//! the chain, so a browser's preflight `OPTIONS` is answered first.

use super::{BuildContext, Exchange, Policy, Step, Stop};
use crate::config::ApiSpec;
use crate::error::GatewayError;
use http::request::Parts;
use http::{HeaderValue, Method};
use std::sync::Arc;

pub struct Methods {
    allowed: Vec<Method>,
    allow: HeaderValue,
}

pub fn build(api: &ApiSpec, _: &BuildContext<'_>) -> Result<Option<Arc<dyn Policy>>, String> {
    let Some(m) = &api.methods else { return Ok(None) };
    let allow = m.iter().map(Method::as_str).collect::<Vec<_>>().join(", ");
    Ok(Some(Arc::new(Methods {
        allowed: m.clone(),
        allow: HeaderValue::from_str(&allow).map_err(|e| e.to_string())?,
    })))
}

impl Policy for Methods {
    fn name(&self) -> &'static str {
        "methods"
    }

    fn request<'a>(&'a self, req: &'a mut Parts, _: &'a mut Exchange<'_>) -> Step<'a> {
        if self.allowed.contains(&req.method) {
            Step::Next
        } else {
            Step::Stop(Stop::Refuse(GatewayError::MethodNotAllowed(self.allow.clone())))
        }
    }
}
