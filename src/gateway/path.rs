//! Request-path canonicalisation, done once before routing. A route is
//! chosen on the path, so the upstream must receive exactly the path the
//! route was chosen on: otherwise `/public/../admin/x` is matched to the
//! open `/public` route and the upstream resolves it to the protected one.
//!
//! The policy (docs/path-normalisation.md):
//! - percent-encoded unreserved characters (RFC 3986 §2.3) are decoded,
//!   other escapes are kept with upper-case hex digits (§6.2.2.1);
//! - dot-segments are removed (§5.2.4), encoded ones (`%2e`) included;
//!   `..` at the root stays at the root;
//! - empty segments are merged (`//` becomes `/`);
//! - refused with 400: `%2F` and `%5C` (upstreams disagree on whether they
//!   separate segments), a raw `\`, control characters and `%00`,
//!   malformed escapes, escapes that do not decode to UTF-8 (overlong
//!   encodings such as `%C0%AE`), and dot-segments carrying `;` parameters
//!   (`/..;/`, which servlet containers resolve as `..`).

use std::borrow::Cow;

/// Why a path was refused; the text goes to the client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BadPath(pub &'static str);

/// Longest path accepted (bytes); longer ones are refused rather than
/// processed, bounding the work per request.
pub const MAX_PATH: usize = 8 * 1024;

/// The canonical form of `path`, borrowed when it already is canonical
/// (the common case, which then costs one scan and no allocation).
pub fn canonical(path: &str) -> Result<Cow<'_, str>, BadPath> {
    let b = path.as_bytes();
    if b.first() != Some(&b'/') {
        return Err(BadPath("the request path must start with /"));
    }
    if b.len() > MAX_PATH {
        return Err(BadPath("the request path is too long"));
    }
    if is_plain(b) {
        return Ok(Cow::Borrowed(path));
    }
    normalise(b).map(Cow::Owned)
}

/// True when no byte needs a second look: no escapes, backslashes,
/// controls or parameters, and no segment that is empty or starts with a
/// dot (a conservative test; `/.well-known` takes the slow path and comes
/// out unchanged).
fn is_plain(b: &[u8]) -> bool {
    let mut prev_slash = false;
    for &c in b {
        match c {
            b'%' | b'\\' | b';' | 0..=0x1f | 0x7f => return false,
            b'/' | b'.' if prev_slash => return false,
            _ => {}
        }
        prev_slash = c == b'/';
    }
    true
}

fn hex(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

fn unreserved(c: u8) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, b'-' | b'.' | b'_' | b'~')
}

fn normalise(b: &[u8]) -> Result<String, BadPath> {
    // Pass 1: escapes. `text` is the path with unreserved escapes decoded;
    // `bytes` is what every escape decodes to, checked for UTF-8 so an
    // overlong or broken sequence cannot smuggle a dot or slash past us.
    let mut text = Vec::with_capacity(b.len());
    let mut bytes = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        match c {
            b'%' => {
                let (Some(hi), Some(lo)) = (b.get(i + 1).and_then(|&h| hex(h)), b.get(i + 2).and_then(|&l| hex(l)))
                else {
                    return Err(BadPath("the request path has a malformed percent-escape"));
                };
                let v = hi << 4 | lo;
                match v {
                    0..=0x1f | 0x7f => return Err(BadPath("the request path has an encoded control character")),
                    b'/' | b'\\' => return Err(BadPath("the request path has an encoded slash or backslash")),
                    _ if unreserved(v) => text.push(v),
                    _ => {
                        const HEX: &[u8; 16] = b"0123456789ABCDEF";
                        text.extend_from_slice(&[b'%', HEX[usize::from(hi)], HEX[usize::from(lo)]]);
                    }
                }
                bytes.push(v);
                i += 3;
            }
            b'\\' => return Err(BadPath("the request path has a backslash")),
            0..=0x1f | 0x7f => return Err(BadPath("the request path has a control character")),
            _ => {
                text.push(c);
                bytes.push(c);
                i += 1;
            }
        }
    }
    if std::str::from_utf8(&bytes).is_err() {
        return Err(BadPath("the request path does not decode to UTF-8"));
    }
    let text = String::from_utf8(text).map_err(|_| BadPath("the request path does not decode to UTF-8"))?;

    // Pass 2: segments (the leading '/' gives an empty first item). Dot-
    // segments go as in RFC 3986 §5.2.4, where an empty segment is a
    // segment that `..` removes (`/a//../b` is `/a/b`); empty segments are
    // merged only afterwards, so routing agrees with an RFC 3986 resolver.
    let mut out: Vec<&str> = Vec::new();
    let mut dir = false; // whether the result ends with '/'
    for seg in text.split('/').skip(1) {
        let bare = seg.split(';').next().unwrap_or(seg);
        if bare != seg && (bare == "." || bare == "..") {
            return Err(BadPath("the request path has a dot-segment with parameters"));
        }
        match seg {
            "." => dir = true,
            ".." => {
                out.pop();
                dir = true;
            }
            s => {
                out.push(s);
                dir = s.is_empty();
            }
        }
    }
    let mut path = String::with_capacity(text.len());
    for s in out.iter().filter(|s| !s.is_empty()) {
        path.push('/');
        path.push_str(s);
    }
    if dir || path.is_empty() {
        path.push('/');
    }
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::{canonical, BadPath};
    use std::borrow::Cow;

    fn ok(p: &str) -> String {
        canonical(p).unwrap_or_else(|e| panic!("{p}: {e:?}")).into_owned()
    }

    #[test]
    fn plain_paths_are_borrowed_unchanged() {
        for p in ["/", "/a", "/a/b/", "/a.b/c..d/e.", "/v1/items?x"] {
            assert!(matches!(canonical(p), Ok(Cow::Borrowed(q)) if q == p), "{p}");
        }
    }

    #[test]
    fn dot_segments_are_removed() {
        assert_eq!(ok("/public/../admin-api/secret"), "/admin-api/secret");
        assert_eq!(ok("/public/%2e%2e/admin-api/secret"), "/admin-api/secret");
        assert_eq!(ok("/public/%2E./admin-api"), "/admin-api");
        assert_eq!(ok("/a/./b/."), "/a/b/");
        assert_eq!(ok("/a/b/.."), "/a/");
        assert_eq!(ok("/../../x"), "/x");
        assert_eq!(ok("/.."), "/");
        assert_eq!(ok("/.well-known/x"), "/.well-known/x");
        assert_eq!(ok("/a/.b/..c"), "/a/.b/..c");
    }

    #[test]
    fn slashes_merge_and_unreserved_escapes_decode() {
        assert_eq!(ok("//a///b//"), "/a/b/");
        assert_eq!(ok("/%61dmin/%7e%5f"), "/admin/~_");
        assert_eq!(ok("/a%20b/%c3%a9"), "/a%20b/%C3%A9");
        assert_eq!(ok("/a;v=1/b"), "/a;v=1/b");
        assert_eq!(ok("/a/%25"), "/a/%25");
    }

    /// Found by fuzz/fuzz_targets/path_canonical.rs: `..` removed the
    /// segment before an empty one, so `/admin-api//../public/x` became
    /// `/public/x` (an open route) where an RFC 3986 §5.2.4 resolver gets
    /// `/admin-api/public/x`. Empty segments count for `..`, and are merged
    /// only after dot-segment removal.
    #[test]
    fn empty_segments_count_for_dot_segments_as_in_rfc3986() {
        assert_eq!(ok("/admin-api//../public/x"), "/admin-api/public/x");
        assert_eq!(ok("/public//../admin-api/x"), "/public/admin-api/x");
        assert_eq!(ok("/a//../b"), "/a/b");
        assert_eq!(ok("/a/b//.."), "/a/b/");
        assert_eq!(ok("/a/..//b"), "/b");
        assert_eq!(ok("//.."), "/");
        assert_eq!(ok("/a//."), "/a/");
    }

    #[test]
    fn confusing_paths_are_refused() {
        for p in [
            "/public/..%2fadmin-api/secret",
            "/public/..%2Fadmin-api",
            "/public/..%5cadmin-api",
            "/public\\..\\admin-api",
            "/public/..;/admin-api",
            "/public/.;x/admin-api",
            "/a%00b",
            "/a%0ab",
            "/a%zz",
            "/a%2",
            "/%c0%ae%c0%ae/admin",
            "/a%ff",
            "relative",
            "",
        ] {
            assert!(matches!(canonical(p), Err(BadPath(_))), "{p} must be refused");
        }
        assert!(canonical(&format!("/{}", "a".repeat(super::MAX_PATH))).is_err());
    }

    #[test]
    fn canonical_is_idempotent() {
        for p in ["/public/../x/./y//z/", "/%2e/a%20/..", "/a/b/../../..", "/~%41"] {
            let once = ok(p);
            assert_eq!(ok(&once), once, "{p}");
            assert!(matches!(canonical(&once), Ok(Cow::Borrowed(_))) || once.contains('%') || once.contains("/."));
        }
    }
}
