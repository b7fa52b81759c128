//! The routing table: longest path prefix wins, matched on segment
//! boundaries ("/work" matches "/work" and "/work/x", not "/workers"),
//! among the routes whose `hosts` match the request's host. Among routes
//! of one prefix, the most specific host match wins (an exact name over
//! a wildcard, over a route without `hosts`).

use super::Route;
use crate::config::policies::request_host;
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

    /// `authority`: the request's `Host` (or `:authority`), read only when
    /// a candidate route names hosts.
    pub fn find<'h>(&self, path: &str, authority: impl FnOnce() -> Option<&'h str>) -> Option<&Arc<Route>> {
        let mut authority = Some(authority);
        let mut host: Option<Option<String>> = None;
        let mut best: Option<(&Arc<Route>, usize)> = None;
        for r in &self.routes {
            if let Some((b, _)) = best {
                if b.prefix.len() != r.prefix.len() {
                    break;
                }
            }
            if !prefix_matches(&r.prefix, path) {
                continue;
            }
            if r.hosts.is_empty() {
                // The common case (no route names hosts) never reads Host.
                if best.is_none() {
                    best = Some((r, 0));
                }
                continue;
            }
            let h = host.get_or_insert_with(|| authority.take().and_then(|f| f()).and_then(request_host));
            let Some(h) = h.as_deref() else { continue };
            let rank = r.hosts.iter().filter(|p| p.matches(h)).map(|p| p.rank() + 1).max();
            if let Some(rank) = rank {
                if best.is_none_or(|(_, b)| rank > b) {
                    best = Some((r, rank));
                }
            }
        }
        best.map(|(r, _)| r)
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
