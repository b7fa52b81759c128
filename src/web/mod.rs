//! Server-rendered pages (minijinja, autoescaped HTML, no JavaScript).
//! Each page has a typed context; every page is sent with headers that
//! forbid framing and inline scripts.

use axum::body::Body;
use axum::response::Response;
use http::header::{CACHE_CONTROL, CONTENT_TYPE, X_FRAME_OPTIONS};
use http::{HeaderValue, StatusCode};
use minijinja::Environment;
use serde::Serialize;
use std::sync::OnceLock;

fn env() -> &'static Environment<'static> {
    static ENV: OnceLock<Environment<'static>> = OnceLock::new();
    ENV.get_or_init(|| {
        let mut env = Environment::new();
        // Templates are compiled in; a broken one fails the unit tests below.
        for (name, src) in [
            ("base.html", include_str!("templates/base.html")),
            ("login.html", include_str!("templates/login.html")),
            ("consent.html", include_str!("templates/consent.html")),
            ("error.html", include_str!("templates/error.html")),
            ("logout.html", include_str!("templates/logout.html")),
            ("device.html", include_str!("templates/device.html")),
            ("admin/base.html", include_str!("templates/admin/base.html")),
            ("admin/login.html", include_str!("templates/admin/login.html")),
            ("admin/clients.html", include_str!("templates/admin/clients.html")),
            ("admin/client.html", include_str!("templates/admin/client.html")),
            (
                "admin/client_form.html",
                include_str!("templates/admin/client_form.html"),
            ),
            ("admin/secret.html", include_str!("templates/admin/secret.html")),
            ("admin/confirm.html", include_str!("templates/admin/confirm.html")),
            ("admin/tokens.html", include_str!("templates/admin/tokens.html")),
            ("admin/users.html", include_str!("templates/admin/users.html")),
            ("admin/user.html", include_str!("templates/admin/user.html")),
            ("admin/user_form.html", include_str!("templates/admin/user_form.html")),
            ("admin/keys.html", include_str!("templates/admin/keys.html")),
            ("admin/overview.html", include_str!("templates/admin/overview.html")),
        ] {
            if let Err(e) = env.add_template(name, src) {
                tracing::error!(template = name, error = %e, "template does not compile");
            }
        }
        env
    })
}

#[derive(Serialize)]
pub struct Login<'a> {
    pub action: &'a str,
    pub client_name: &'a str,
    pub params: &'a [(String, String)],
    pub csrf: &'a str,
    pub username: &'a str,
    pub error: Option<&'a str>,
}

#[derive(Serialize)]
pub struct Consent<'a> {
    pub action: &'a str,
    pub client_name: &'a str,
    pub scopes: Vec<String>,
    pub params: &'a [(String, String)],
    pub csrf: &'a str,
    pub username: &'a str,
    pub redirect_host: &'a str,
}

#[derive(Serialize)]
pub struct ErrorPage<'a> {
    pub title: &'a str,
    pub message: &'a str,
}

/// RP-initiated logout: the confirmation form, or the signed-out notice.
#[derive(Serialize)]
pub struct Logout<'a> {
    pub action: &'a str,
    pub signed_out: bool,
    pub username: &'a str,
    pub client_name: Option<&'a str>,
    pub params: &'a [(String, String)],
    pub csrf: &'a str,
}

/// The device flow's page (RFC 8628 §3.3): enter the code, approve the
/// device, and the outcome. `step`: "code", "consent", "approved",
/// "denied". Sign-in in between is the login page.
#[derive(Serialize)]
pub struct Device<'a> {
    pub action: &'a str,
    pub step: &'a str,
    pub csrf: &'a str,
    /// As the user sees it (XXXX-XXXX), or what they typed.
    pub user_code: &'a str,
    pub client_name: &'a str,
    pub scopes: Vec<String>,
    pub username: &'a str,
    pub error: Option<&'a str>,
}

/// The page for a store (or other dependency) that does not answer: 503
/// with `Retry-After`, never a 400 that would tell the user their request
/// was wrong.
pub fn unavailable_page() -> Response {
    let mut r = Page::Error(ErrorPage {
        title: "Try again later",
        message: "The server is temporarily unavailable. Try again in a few seconds.",
    })
    .respond(StatusCode::SERVICE_UNAVAILABLE, None);
    r.headers_mut()
        .insert(http::header::RETRY_AFTER, HeaderValue::from_static("5"));
    r
}

pub enum Page<'a> {
    Login(Login<'a>),
    Device(Device<'a>),
    Consent(Consent<'a>),
    Error(ErrorPage<'a>),
    Logout(Logout<'a>),
}

impl Page<'_> {
    fn render_html(&self) -> Result<String, minijinja::Error> {
        let e = env();
        match self {
            Page::Login(c) => e.get_template("login.html")?.render(c),
            Page::Consent(c) => e.get_template("consent.html")?.render(c),
            Page::Error(c) => e.get_template("error.html")?.render(c),
            Page::Logout(c) => e.get_template("logout.html")?.render(c),
            Page::Device(c) => e.get_template("device.html")?.render(c),
        }
    }

    /// The page as a response. `form_target`: a URI the page's form may
    /// end up redirecting to (CSP form-action covers redirects); only its
    /// origin, rebuilt by `csp_source`, reaches the header.
    pub fn respond(&self, status: StatusCode, form_target: Option<&str>) -> Response {
        let html = self.render_html().unwrap_or_else(|e| {
            tracing::error!(error = %e, "template render failed");
            "<!doctype html><title>Error</title><p>Something went wrong.</p>".into()
        });
        let mut r = Response::new(Body::from(html));
        *r.status_mut() = status;
        let target = form_target.and_then(csp_source);
        page_headers(&mut r, target.as_deref(), false);
        r
    }
}

/// A redirect target as a CSP source expression (CSP3 §2.3.1), built
/// from its parsed parts, never copied from the text: `scheme://host[:port]`
/// for http(s), the host being letters, digits, `-` and `.` (a domain
/// after IDNA), an IPv4 address or a bracketed IPv6 one. A WHATWG URL host
/// may hold `;` or `,` (`https://a.example;script-src/cb`), which in a
/// header would end the directive or start a second policy: such a host,
/// and any other scheme, give None (the form may then only stay here).
pub fn csp_source(uri: &str) -> Option<String> {
    let u = url::Url::parse(uri).ok()?;
    let scheme = match u.scheme() {
        "http" => "http",
        "https" => "https",
        _ => return None,
    };
    let host = match u.host()? {
        url::Host::Domain(d)
            if !d.is_empty() && d.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.') =>
        {
            d.to_ascii_lowercase()
        }
        url::Host::Domain(_) => return None,
        url::Host::Ipv4(a) => a.to_string(),
        url::Host::Ipv6(a) => format!("[{a}]"),
    };
    Some(match u.port() {
        Some(p) => format!("{scheme}://{host}:{p}"),
        None => format!("{scheme}://{host}"),
    })
}

/// Security headers of every page: no framing, no sniffing, no referrer,
/// and a CSP that allows only this origin's forms (`form_target`: one more
/// origin a form may redirect to) and scripts (`script`).
fn page_headers(r: &mut Response, form_target: Option<&str>, script: bool) {
    let h = r.headers_mut();
    h.insert(CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8"));
    h.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert("x-content-type-options", HeaderValue::from_static("nosniff"));
    h.insert("referrer-policy", HeaderValue::from_static("no-referrer"));
    let csp = format!(
        "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:;{} form-action 'self'{}; frame-ancestors 'none'; base-uri 'none'",
        if script { " script-src 'self';" } else { "" },
        form_target.map(|t| format!(" {t}")).unwrap_or_default()
    );
    if let Ok(v) = HeaderValue::from_str(&csp) {
        h.insert("content-security-policy", v);
    }
}

/// An admin console page: `admin/{name}.html` rendered with `ctx`.
pub fn admin_page(name: &str, ctx: minijinja::Value, status: StatusCode) -> Response {
    let html = env()
        .get_template(&format!("admin/{name}.html"))
        .and_then(|t| t.render(ctx))
        .unwrap_or_else(|e| {
            tracing::error!(error = %e, template = name, "template render failed");
            "<!doctype html><title>Error</title><p>Something went wrong.</p>".into()
        });
    let mut r = Response::new(Body::from(html));
    *r.status_mut() = status;
    page_headers(&mut r, None, true);
    r
}

/// Plain words for a scope on the consent page.
pub fn describe_scope(scope: &str) -> String {
    match scope {
        "openid" => "Confirm who you are".into(),
        "profile" => "See your name and username".into(),
        "email" => "See your email address".into(),
        "offline_access" => "Keep access while you are away".into(),
        "photos" => "View your photos".into(),
        other => {
            let (resource, access) = other.split_once(['/', '.', ':']).unwrap_or((other, ""));
            match access {
                "readonly" | "read" | "READ" => format!("View your {resource}"),
                "write" | "WRITE" => format!("Change your {resource}"),
                _ => format!("Use your {other}"),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Issue 24 (8): only a rebuilt origin reaches a CSP, never text that
    /// could end a directive (`;`) or start another policy (`,`).
    #[test]
    fn csp_sources_are_rebuilt_origins() {
        let ok = |u: &str, want: &str| assert_eq!(csp_source(u).as_deref(), Some(want), "{u}");
        ok("https://App.Example:8443/cb?x=1", "https://app.example:8443");
        ok("https://app.example:443/cb", "https://app.example");
        ok("http://127.0.0.1:9000/cb", "http://127.0.0.1:9000");
        ok("http://[::1]:9000/cb", "http://[::1]:9000");
        ok("https://bücher.example/cb", "https://xn--bcher-kva.example");
        for bad in [
            "https://a.example;script-src/cb",
            "https://a.example,script-src/cb",
            "https://a.example;/cb",
            "https://a'b.example/cb",
            "com.example.app:/cb",
            "javascript:alert(1)",
            "not a url",
        ] {
            assert_eq!(csp_source(bad), None, "{bad}");
        }
    }

    #[test]
    fn every_page_renders_and_escapes() {
        let params = vec![("state".to_string(), "\"><script>x</script>".to_string())];
        let login = Page::Login(Login {
            action: "/a",
            client_name: "<b>App</b>",
            params: &params,
            csrf: "c",
            username: "",
            error: Some("bad"),
        });
        let html = login.render_html().unwrap();
        assert!(
            html.contains("&lt;b&gt;App&lt;&#x2f;b&gt;") || html.contains("&lt;b&gt;App&lt;/b&gt;"),
            "{html}"
        );
        assert!(!html.contains("<script>x"), "autoescaped");
        assert!(html.contains("id=\"username\"") && html.contains("class=\"error\""));
        let consent = Page::Consent(Consent {
            action: "/a",
            client_name: "Printing App",
            scopes: vec![describe_scope("photos")],
            params: &params,
            csrf: "c",
            username: "alice",
            redirect_host: "127.0.0.1:9000",
        });
        let html = consent.render_html().unwrap();
        assert!(html.contains("Printing App wants to:") && html.contains("View your photos"));
        assert!(html.contains("id=\"allow\"") && html.contains("id=\"deny\""));
        let err = Page::Error(ErrorPage {
            title: "t",
            message: "m",
        })
        .render_html()
        .unwrap();
        assert!(err.contains("id=\"error\""));
        for signed_out in [false, true] {
            let html = Page::Logout(Logout {
                action: "/l",
                signed_out,
                username: "alice",
                client_name: Some("<App>"),
                params: &params,
                csrf: "c",
            })
            .render_html()
            .unwrap();
            assert_eq!(html.contains("id=\"signed-out\""), signed_out);
            assert_eq!(html.contains("id=\"logout\""), !signed_out);
            assert!(!html.contains("<App>") && !html.contains("<script>x"));
        }
    }

    #[test]
    fn device_page_renders_every_step_and_escapes() {
        for step in ["code", "consent", "approved", "denied"] {
            let html = Page::Device(Device {
                action: "/api/oauth/device",
                step,
                csrf: "c",
                user_code: "\"><script>x</script>",
                client_name: "<TV>",
                scopes: vec![describe_scope("photos")],
                username: "alice",
                error: Some("<bad>"),
            })
            .render_html()
            .unwrap();
            assert!(!html.contains("<script>x") && !html.contains("<TV>") && !html.contains("<bad>"));
            assert_eq!(html.contains("id=\"user_code\""), step == "code", "{step}");
            assert_eq!(html.contains("id=\"allow\""), step == "consent", "{step}");
            assert_eq!(html.contains("id=\"done\""), step == "approved", "{step}");
            assert_eq!(html.contains("id=\"denied\""), step == "denied", "{step}");
        }
    }

    #[test]
    fn every_admin_page_renders() {
        use minijinja::context;
        let client = serde_json::json!({"client_id": "c<1>", "client_name": "<App>", "public": false,
            "token_endpoint_auth_method": "client_secret_basic", "redirect_uris": ["https://a/cb"],
            "grant_types": ["authorization_code"], "scope": "photos", "dynamically_registered": false});
        let f = serde_json::json!({"client_id": "c1", "client_name": "App", "client_type": "public",
            "redirect_uris": "https://a/cb", "grant_types": ["refresh_token"], "scope": "",
            "access_token_format": "jwt", "access_token_ttl": "60", "refresh_token_ttl": "", "logo_uri": ""});
        let grants = [
            ("authorization_code", "Authorization code"),
            ("refresh_token", "Refresh token"),
        ];
        let base =
            context! { signed_in => true, section => "clients", csrf => "tok", error => "bad <x>", notice => "ok" };
        let pages: Vec<(&str, minijinja::Value)> = vec![
            (
                "login",
                context! { signed_in => false, csrf => "t", username => "admin", error => "no" },
            ),
            (
                "clients",
                context! { items => vec![client.clone()], next => "c1", search => "a&b", ..base.clone() },
            ),
            (
                "client",
                context! { c => client.clone(), created => "2026", ..base.clone() },
            ),
            (
                "client_form",
                context! { f => f, editing => true, action => "/x", grants => grants, ..base.clone() },
            ),
            (
                "secret",
                context! { client_id => "c1", secret => "s3cr3t", ..base.clone() },
            ),
            (
                "confirm",
                context! { title => "t", message => "m", button => "b", action => "/a", back => "/b", ..base.clone() },
            ),
            (
                "tokens",
                context! { items => vec![serde_json::json!({"id": "h", "kind": "refresh", "client_id": "c", "subject": "u", "scope": "s", "expires": "2026"})], base => "/admin/clients/c1", owner_label => "client c1", ..base.clone() },
            ),
            (
                "users",
                context! { items => vec![serde_json::json!({"username": "alice"})], next => (), search => "", ..base.clone() },
            ),
            (
                "user",
                context! { u => serde_json::json!({"username": "alice", "email": "a@b"}), created => "2026", ..base.clone() },
            ),
            (
                "user_form",
                context! { f => serde_json::json!({"username": "", "name": "", "email": ""}), ..base.clone() },
            ),
            (
                "keys",
                context! { items => vec![serde_json::json!({"kid": "k1", "alg": "ES256", "state": "current", "created": "2026"})], ..base.clone() },
            ),
        ];
        for (name, ctx) in pages {
            let html = env()
                .get_template(&format!("admin/{name}.html"))
                .and_then(|t| t.render(ctx))
                .unwrap_or_else(|e| panic!("admin/{name}.html: {e:#}"));
            assert!(!html.contains("<App>") && !html.contains("bad <x>"), "{name} escapes");
        }
    }

    #[test]
    fn pages_forbid_framing() {
        let r = Page::Error(ErrorPage {
            title: "t",
            message: "m",
        })
        .respond(StatusCode::BAD_REQUEST, None);
        assert_eq!(r.headers()[X_FRAME_OPTIONS], "DENY");
        assert!(r.headers()["content-security-policy"]
            .to_str()
            .unwrap()
            .contains("frame-ancestors 'none'"));
    }

    #[test]
    fn scopes_in_plain_words() {
        assert_eq!(describe_scope("photos"), "View your photos");
        assert_eq!(describe_scope("userinfo/readonly"), "View your userinfo");
    }
}
