//! `request_headers` / `response_headers = { set, append, remove }`:
//! header transforms after auth, so values may name the accepted token's
//! claims (`${claim.sub}`), its client (`${client_id}`) or the route
//! (`${route}`). Hop-by-hop fields, framing and the gateway's own headers
//! cannot be named (config refuses them), so a transform can neither
//! break the connection nor forge an identity header.
//!
//! A placeholder with nothing to fill (no token on the route, no such
//! claim) leaves that header out rather than sending a half-made value.

use super::{BuildContext, Exchange, Policy, Step};
use crate::config::policies::{HeaderTransform, Piece, Template};
use crate::config::ApiSpec;
use http::request::Parts;
use http::{HeaderMap, HeaderValue};
use std::sync::Arc;

pub struct Headers {
    request: HeaderTransform,
    response: HeaderTransform,
}

pub fn build(api: &ApiSpec, _: &BuildContext<'_>) -> Result<Option<Arc<dyn Policy>>, String> {
    if api.request_headers.is_empty() && api.response_headers.is_empty() {
        return Ok(None);
    }
    Ok(Some(Arc::new(Headers {
        request: api.request_headers.clone(),
        response: api.response_headers.clone(),
    })))
}

/// The template's value for this exchange, or None if a placeholder has
/// nothing to fill or the result cannot be a header value.
pub fn render(t: &Template, cx: &Exchange<'_>) -> Option<HeaderValue> {
    if let Some(v) = t.literal() {
        return Some(v);
    }
    let mut out = String::new();
    for p in &t.pieces {
        match p {
            Piece::Text(s) => out.push_str(s),
            Piece::Claim(c) => out.push_str(&cx.claim(c)?),
            Piece::ClientId => out.push_str(cx.client_id()?),
            Piece::Route => out.push_str(cx.route),
        }
    }
    // A claim may hold a newline or a non-visible character: refused by
    // HeaderValue, so no header injection through a token.
    HeaderValue::from_str(&out).ok()
}

fn apply(t: &HeaderTransform, h: &mut HeaderMap, cx: &Exchange<'_>) {
    for name in &t.remove {
        h.remove(name);
    }
    for (name, tpl) in &t.set {
        match render(tpl, cx) {
            Some(v) => {
                h.insert(name.clone(), v);
            }
            None => {
                h.remove(name);
            }
        }
    }
    for (name, tpl) in &t.append {
        if let Some(v) = render(tpl, cx) {
            h.append(name.clone(), v);
        }
    }
}

impl Policy for Headers {
    fn name(&self) -> &'static str {
        "headers"
    }

    fn request<'a>(&'a self, req: &'a mut Parts, cx: &'a mut Exchange<'_>) -> Step<'a> {
        apply(&self.request, &mut req.headers, cx);
        Step::Next
    }

    fn response(&self, resp: &mut http::response::Parts, cx: &Exchange<'_>) {
        apply(&self.response, &mut resp.headers, cx);
    }
}
