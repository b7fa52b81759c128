//! A fixed answer (the Tencent "mock" backend): status, headers, body.

use crate::config::MockSpec;
use crate::gateway::body::Body;
use http::Response;

pub struct Mock {
    spec: MockSpec,
}

impl Mock {
    pub fn new(spec: MockSpec) -> Self {
        Mock { spec }
    }

    pub fn respond(&self) -> Response<Body> {
        // Bytes and HeaderMap clones share their buffers: no copy of the body.
        let mut r = Response::new(Body::from(self.spec.body.clone()));
        *r.status_mut() = self.spec.status;
        *r.headers_mut() = self.spec.headers.clone();
        r
    }
}
