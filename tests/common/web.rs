//! A cookie-keeping HTTP client that plays the browser on the login and
//! consent pages (the real browser run is tests/browser.rs).

use super::Gatehouse;
use reqwest::StatusCode;
use std::collections::HashMap;

/// A cookie-keeping client that never follows redirects.
pub struct Browser<'a> {
    pub gh: &'a Gatehouse,
    pub http: reqwest::Client,
}

pub fn unescape(s: &str) -> String {
    s.replace("&#x2f;", "/")
        .replace("&#x27;", "'")
        .replace("&#39;", "'")
        .replace("&quot;", "\"")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

/// Hidden and named inputs of the page's form.
pub fn hidden_fields(html: &str) -> Vec<(String, String)> {
    html.split("<input type=\"hidden\" ")
        .skip(1)
        .filter_map(|chunk| {
            let name = chunk.split("name=\"").nth(1)?.split('"').next()?;
            let value = chunk.split("value=\"").nth(1)?.split('"').next()?;
            Some((name.to_string(), unescape(value)))
        })
        .collect()
}

pub struct Page {
    pub status: StatusCode,
    pub location: Option<String>,
    pub headers: reqwest::header::HeaderMap,
    pub html: String,
}

impl Page {
    pub fn redirect_params(&self) -> HashMap<String, String> {
        let loc = self
            .location
            .as_deref()
            .unwrap_or_else(|| panic!("no redirect ({}): {}", self.status, self.html));
        let url = url::Url::parse(loc).unwrap();
        let pairs = match url.fragment() {
            Some(f) => url::form_urlencoded::parse(f.as_bytes()).into_owned().collect(),
            None => url.query_pairs().into_owned().collect(),
        };
        pairs
    }
    /// `name=value` of a cookie this response sets (for replaying it).
    pub fn set_cookie(&self, name: &str) -> Option<String> {
        self.headers
            .get_all("set-cookie")
            .iter()
            .filter_map(|v| v.to_str().ok()?.split(';').next().map(str::to_string))
            .find(|c| c.strip_prefix(name).is_some_and(|r| r.starts_with('=')))
    }

    pub fn is_login(&self) -> bool {
        self.html.contains("id=\"password\"")
    }
    pub fn is_consent(&self) -> bool {
        self.html.contains("id=\"allow\"")
    }
}

impl<'a> Browser<'a> {
    pub fn new(gh: &'a Gatehouse) -> Self {
        let http = reqwest::Client::builder()
            .cookie_store(true)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        Browser { gh, http }
    }

    /// A browser whose connections come from `ip` (any 127.x.y.z works on
    /// Linux's loopback), to play people at different addresses.
    pub fn from_address(gh: &'a Gatehouse, ip: std::net::IpAddr) -> Self {
        let http = reqwest::Client::builder()
            .cookie_store(true)
            .redirect(reqwest::redirect::Policy::none())
            .local_address(ip)
            .build()
            .unwrap();
        Browser { gh, http }
    }

    pub async fn page(resp: reqwest::Response) -> Page {
        let status = resp.status();
        let headers = resp.headers().clone();
        let location = headers.get("location").map(|v| v.to_str().unwrap().to_string());
        Page {
            status,
            location,
            headers,
            html: resp.text().await.unwrap(),
        }
    }

    pub async fn authorize(&self, params: &[(&str, &str)]) -> Page {
        let url = reqwest::Url::parse_with_params(&self.gh.url("/api/oauth/authorize"), params).unwrap();
        Self::page(self.http.get(url).send().await.unwrap()).await
    }

    pub async fn submit(&self, page: &Page, extra: &[(&str, &str)], drop: &[&str]) -> Page {
        let mut form: Vec<(String, String)> = hidden_fields(&page.html)
            .into_iter()
            .filter(|(k, _)| !drop.contains(&k.as_str()))
            .collect();
        form.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        Self::page(
            self.http
                .post(self.gh.url("/api/oauth/authorize"))
                .form(&form)
                .send()
                .await
                .unwrap(),
        )
        .await
    }

    pub async fn login(&self, page: &Page, user: &str, password: &str) -> Page {
        assert!(page.is_login(), "expected the login page: {}", page.html);
        self.submit(
            page,
            &[("username", user), ("password", password), ("action", "login")],
            &[],
        )
        .await
    }

    pub async fn allow(&self, page: &Page) -> Page {
        assert!(
            page.is_consent(),
            "expected the consent page ({}): {}",
            page.status,
            page.html
        );
        self.submit(page, &[("decision", "allow")], &[]).await
    }
}
