//! Every TOML spelling of one config loads identically: inline tables (as
//! people write them), sub-tables `[apis.backend.mock]` (as `toml`,
//! `tomli_w` and most generators write them) and dotted keys
//! (`backend.mock.body = …`).

use super::Config;
use std::path::Path;

/// Uses every table kind and most keys; keys are inline, so no files.
const KITCHEN_SINK: &str = r#"
issuer = "https://id.example.com"
listen = "127.0.0.1:8443"
workers = 2

[server]
header_timeout = "10s"
body_timeout = "20s"
max_connections = 100
max_headers = 50
max_header_bytes = 16384

[store]
url = "memory://"
purge_every = "5m"
revocation_staleness = "2s"
cache = { max_entries = 1000 }

[tokens]
access_format = "opaque"
access_ttl = "10m"
signing_alg = "ES256"

[keys]
dir = "/var/lib/gatehouse/keys"

[gateway]
timeout = "30s"
max_token_bytes = 8192

[log]
format = "json"
level = "debug"

[[clients]]
id = "printer"
secret = "s3cret"
redirect_uris = ["https://app.example.com/cb"]
grant_types = ["authorization_code", "refresh_token"]
scopes = ["openid", "photos"]

[[users]]
username = "alice"
password = "wonderland"

[[trusted_issuers]]
issuer = "https://idp.example.com"
jwks = { keys = [{ kty = "EC", crv = "P-256", kid = "k1", x = "jHKZbUf5ma_XAmB21MpD7CUzmxf4JKCZBZz0YqymmIE", y = "8Jv7cl2Lto9IY8-z2SPiLdZdjLyssCkQsAMIlDbZE9E" }] }

[[apis]]
name = "up"
path = "/up"
methods = ["GET", "POST"]
auth = { kind = "jwt", trusted_issuer = "https://idp.example.com", location = "cookie", name = "id_token", leeway = "5s", forward_claims = { sub = "x-user" } }
backend = { upstream = "http://127.0.0.1:9001/base", timeout = "10s", strip_prefix = true }

[[apis]]
name = "photos"
path = "/photos"
auth = { kind = "oauth2", scopes = ["photos"] }
backend = { mock = { status = 201, headers = { content-type = "application/json" }, body = "{}" } }
"#;

fn load(text: &str) -> String {
    match Config::parse(text, "t.toml", Path::new("/nonexistent"), &[]) {
        Ok(c) => format!("{c:?}"),
        Err(e) => panic!("{e}\n---\n{text}"),
    }
}

/// What `toml` (and so most generators) writes: nested tables as
/// `[a.b.c]` headers.
fn as_sub_tables(text: &str) -> String {
    let v: toml::Value = toml::from_str(text).unwrap();
    toml::to_string(&v).unwrap()
}

/// Every inline table turned into dotted keys of its parent.
fn as_dotted(text: &str) -> String {
    fn dot(table: &mut dyn toml_edit::TableLike) {
        let keys: Vec<String> = table.iter().map(|(k, _)| k.to_string()).collect();
        for k in keys {
            let Some(item) = table.get_mut(&k) else { continue };
            if let Some(inline) = item.as_inline_table_mut() {
                let mut t = std::mem::take(inline).into_table();
                t.set_dotted(true);
                *item = toml_edit::Item::Table(t);
            }
            match item {
                toml_edit::Item::Table(t) => dot(t),
                toml_edit::Item::ArrayOfTables(a) => a.iter_mut().for_each(|t| dot(t)),
                _ => {}
            }
        }
    }
    let mut doc: toml_edit::DocumentMut = text.parse().unwrap();
    dot(doc.as_table_mut());
    doc.to_string()
}

#[test]
fn every_toml_spelling_loads_identically() {
    for (name, text) in [("demo", super::DEMO_TOML), ("kitchen sink", KITCHEN_SINK)] {
        let want = load(text);
        let sub = as_sub_tables(text);
        assert!(
            sub.contains("[apis.backend") || sub.contains("[apis.backend.mock]"),
            "{sub}"
        );
        assert_eq!(load(&sub), want, "{name} as sub-tables:\n{sub}");
        let dotted = as_dotted(text);
        assert!(
            dotted.contains("backend.mock") || dotted.contains("backend.upstream"),
            "{dotted}"
        );
        assert_eq!(load(&dotted), want, "{name} with dotted keys:\n{dotted}");
    }
}
