//! The routing table: longest path prefix wins, matched on segment
//! boundaries ("/work" matches "/work" and "/work/x", not "/workers").

use super::Route;
use std::sync::Arc;

pub struct RouteTable {
    /// Sorted by prefix length, longest first, so the first match wins.
    routes: Vec<Arc<Route>>,
}

impl RouteTable {
    pub fn new(mut routes: Vec<Arc<Route>>) -> Self {
        routes.sort_by_key(|r| std::cmp::Reverse(r.prefix.len()));
        RouteTable { routes }
    }

    pub fn find(&self, path: &str) -> Option<&Arc<Route>> {
        self.routes.iter().find(|r| prefix_matches(&r.prefix, path))
    }

    pub fn len(&self) -> usize {
        self.routes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.routes.is_empty()
    }
}

pub fn prefix_matches(prefix: &str, path: &str) -> bool {
    if prefix == "/" {
        return path.starts_with('/');
    }
    // `;` ends a segment's name too: `/admin;x/secret` is the `/admin`
    // route, since servlet-style upstreams strip `;params` and would serve
    // `/admin/secret` to whatever route matched instead.
    match path.strip_prefix(prefix) {
        Some(rest) => rest.is_empty() || rest.starts_with('/') || rest.starts_with(';'),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::prefix_matches;

    #[test]
    fn prefix_matches_on_segment_boundaries() {
        assert!(prefix_matches("/work", "/work"));
        assert!(prefix_matches("/work", "/work/a/b"));
        assert!(!prefix_matches("/work", "/workers"));
        assert!(!prefix_matches("/work", "/wor"));
        assert!(prefix_matches("/", "/anything"));
        assert!(
            prefix_matches("/work", "/work;jsessionid=1/x"),
            "parameters do not leave the route"
        );
        assert!(!prefix_matches("/work", "/work-x;y"));
    }
}
