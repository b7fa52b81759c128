//! `cors = { origins, methods, headers, expose_headers, credentials,
//! max_age }` (the Fetch standard's CORS protocol). Preflights are answered
//! here, first in the chain: they never reach the upstream and need no
//! token (a browser sends none). Other requests from an allowed origin get
//! the headers that let the page read the answer — the backend's, or the
//! gateway's own 401/403/429. A disallowed origin gets no CORS header, so
//! the browser keeps the answer from the page.

use super::{BuildContext, Exchange, Policy, Step, Stop};
use crate::config::policies::CorsSpec;
use crate::config::ApiSpec;
use crate::error::GatewayError;
use http::header::{
    ACCESS_CONTROL_ALLOW_CREDENTIALS, ACCESS_CONTROL_ALLOW_HEADERS, ACCESS_CONTROL_ALLOW_METHODS,
    ACCESS_CONTROL_ALLOW_ORIGIN, ACCESS_CONTROL_EXPOSE_HEADERS, ACCESS_CONTROL_MAX_AGE, ACCESS_CONTROL_REQUEST_HEADERS,
    ACCESS_CONTROL_REQUEST_METHOD, ORIGIN, VARY,
};
use http::request::Parts;
use http::{HeaderValue, Method, Response, StatusCode};
use std::sync::Arc;

pub struct Cors {
    spec: CorsSpec,
    allow_methods: HeaderValue,
    allow_headers: Option<HeaderValue>,
    expose: Option<HeaderValue>,
    max_age: HeaderValue,
}

pub fn build(api: &ApiSpec, _: &BuildContext<'_>) -> Result<Option<Arc<dyn Policy>>, String> {
    let Some(spec) = &api.cors else { return Ok(None) };
    let join = |v: Vec<&str>| HeaderValue::from_str(&v.join(", ")).map_err(|e| e.to_string());
    let allow_methods = join(spec.methods.iter().map(Method::as_str).collect())?;
    let allow_headers = match spec.headers.is_empty() {
        true => None,
        false => Some(join(spec.headers.iter().map(|h| h.as_str()).collect())?),
    };
    let expose = match spec.expose_headers.is_empty() {
        true => None,
        false => Some(join(spec.expose_headers.iter().map(|h| h.as_str()).collect())?),
    };
    Ok(Some(Arc::new(Cors {
        max_age: HeaderValue::from(spec.max_age.as_secs()),
        spec: spec.clone(),
        allow_methods,
        allow_headers,
        expose,
    })))
}

/// Request headers a page may send without asking (Fetch's CORS-safelisted
/// request headers, by name).
const SAFELISTED: &[&str] = &["accept", "accept-language", "content-language", "content-type", "range"];

impl Cors {
    /// The value of `Access-Control-Allow-Origin` for this origin, if allowed.
    fn allow_origin(&self, origin: &HeaderValue) -> Option<HeaderValue> {
        let echoed = self.spec.allows(origin.as_bytes())?;
        // Any origin and no credentials: `*` is exact and caches for all.
        Some(match self.spec.origins {
            None if !self.spec.credentials => HeaderValue::from_static("*"),
            _ => echoed,
        })
    }

    /// A preflight's answer: 204, its headers noted in `out` (applied
    /// after the response phase, which clears the upstream's).
    fn preflight(
        &self,
        req: &Parts,
        origin: &HeaderValue,
        method: &HeaderValue,
        out: &mut Vec<(http::HeaderName, HeaderValue)>,
    ) -> Result<Response<super::Body>, Stop> {
        let refuse = |why| Stop::Refuse(GatewayError::CorsRefused(why));
        let allow = self
            .allow_origin(origin)
            .ok_or_else(|| refuse("this origin may not call this API from a browser"))?;
        let method_ok = Method::from_bytes(method.as_bytes()).is_ok_and(|m| self.spec.methods.contains(&m));
        if !method_ok {
            return Err(refuse("this method is not allowed from a browser on this API"));
        }
        for value in req.headers.get_all(ACCESS_CONTROL_REQUEST_HEADERS) {
            let list = value
                .to_str()
                .map_err(|_| refuse("Access-Control-Request-Headers is malformed"))?;
            for name in list.split(',').map(str::trim).filter(|n| !n.is_empty()) {
                let ok = SAFELISTED.iter().any(|s| s.eq_ignore_ascii_case(name))
                    || self.spec.headers.iter().any(|h| h.as_str().eq_ignore_ascii_case(name));
                if !ok {
                    return Err(refuse(
                        "a request header the page wants to send is not allowed on this API",
                    ));
                }
            }
        }
        let mut r = Response::new(super::Body::empty());
        *r.status_mut() = StatusCode::NO_CONTENT;
        out.push((ACCESS_CONTROL_ALLOW_ORIGIN, allow));
        out.push((ACCESS_CONTROL_ALLOW_METHODS, self.allow_methods.clone()));
        if let Some(v) = &self.allow_headers {
            out.push((ACCESS_CONTROL_ALLOW_HEADERS, v.clone()));
        }
        if self.spec.credentials {
            out.push((ACCESS_CONTROL_ALLOW_CREDENTIALS, HeaderValue::from_static("true")));
        }
        out.push((ACCESS_CONTROL_MAX_AGE, self.max_age.clone()));
        out.push((
            VARY,
            HeaderValue::from_static("origin, access-control-request-method, access-control-request-headers"),
        ));
        Ok(r)
    }
}

impl Policy for Cors {
    fn name(&self) -> &'static str {
        "cors"
    }

    fn request<'a>(&'a self, req: &'a mut Parts, cx: &'a mut Exchange<'_>) -> Step<'a> {
        // The answer depends on Origin whenever origins are listed.
        if self.spec.origins.is_some() || self.spec.credentials {
            cx.answer_headers.push((VARY, HeaderValue::from_static("origin")));
        }
        let Some(origin) = req.headers.get(ORIGIN) else {
            return Step::Next;
        };
        if req.method == Method::OPTIONS {
            if let Some(method) = req.headers.get(ACCESS_CONTROL_REQUEST_METHOD) {
                cx.answer_headers.clear(); // the preflight's answer has its own Vary
                return match self.preflight(req, origin, method, &mut cx.answer_headers) {
                    Ok(r) => Step::Stop(Stop::Answer(Box::new(r))),
                    Err(s) => Step::Stop(s),
                };
            }
        }
        if let Some(allow) = self.allow_origin(origin) {
            cx.answer_headers.push((ACCESS_CONTROL_ALLOW_ORIGIN, allow));
            if self.spec.credentials {
                cx.answer_headers
                    .push((ACCESS_CONTROL_ALLOW_CREDENTIALS, HeaderValue::from_static("true")));
            }
            if let Some(v) = &self.expose {
                cx.answer_headers.push((ACCESS_CONTROL_EXPOSE_HEADERS, v.clone()));
            }
        }
        Step::Next
    }

    /// The route's `cors` is the only word on CORS: an upstream's own
    /// `Access-Control-*` answer headers (say `Allow-Origin: *`) would
    /// let origins the route refuses read its answers.
    fn response(&self, resp: &mut http::response::Parts, _: &Exchange<'_>) {
        for h in [
            ACCESS_CONTROL_ALLOW_ORIGIN,
            ACCESS_CONTROL_ALLOW_CREDENTIALS,
            ACCESS_CONTROL_EXPOSE_HEADERS,
            ACCESS_CONTROL_ALLOW_METHODS,
            ACCESS_CONTROL_ALLOW_HEADERS,
            ACCESS_CONTROL_MAX_AGE,
        ] {
            resp.headers.remove(h);
        }
    }
}
