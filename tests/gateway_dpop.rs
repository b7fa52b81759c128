//! DPoP-bound tokens enforced at the gateway (SPEC §7, RFC 9449), against
//! the real binary: panva's openid-client and oauth4webapi get DPoP-bound
//! tokens (JWT and opaque) from gatehouse and call an `oauth2` route with
//! their own proofs, the gateway's nonce retry included
//! (tests/interop/panva/dpop.mjs); proofs made by jwcrypto
//! (tests/interop/dpop_proof.py) for every refusal, each answered with a
//! precise 401 and a `WWW-Authenticate: DPoP` challenge; a `jwt` route with
//! another issuer's DPoP-bound token.

mod common;

use common::jwcrypto::Jwcrypto;
use common::Gatehouse;
use serde_json::{json, Value};
use std::process::Command;

fn config(jwt_route_key: &Value) -> String {
    let k = jwt_route_key;
    format!(
        r#"
# The test client plays a TLS-terminating balancer too (see htu below).
[gateway]
trusted_proxies = ["127.0.0.1"]

[tokens]
access_format = "jwt"
signing_alg = "ES256"

[[clients]]
id = "svc"
secret = "svc-secret"
grant_types = ["client_credentials", "password", "refresh_token"]
scopes = ["photos", "openid", "profile"]

[[users]]
username = "alice"
password = "wonderland"

[[apis]]
name = "photos"
path = "/photos"
auth = {{ kind = "oauth2", scopes = ["photos"], dpop_nonce = true }}
backend = {{ mock = {{ body = "photos!" }} }}

[[apis]]
name = "plain"
path = "/plain"
auth = {{ kind = "oauth2", scopes = ["photos"] }}
backend = {{ mock = {{ body = "plain!" }} }}

[[apis]]
name = "ext"
path = "/ext"
auth = {{ kind = "jwt", issuer = "https://other.example", jwk = {{ kty = "EC", crv = "P-256", x = "{x}", y = "{y}" }} }}
backend = {{ mock = {{ body = "ext!" }} }}
"#,
        x = k["x"].as_str().unwrap(),
        y = k["y"].as_str().unwrap(),
    )
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

struct Answer {
    status: u16,
    headers: reqwest::header::HeaderMap,
    body: String,
}

impl Answer {
    fn challenge(&self) -> &str {
        self.headers.get("www-authenticate").map_or("", |v| v.to_str().unwrap())
    }
    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or(Value::Null)
    }
    /// A 401 `invalid_dpop_proof` whose description names `what`, with a
    /// DPoP challenge listing the proof algorithms.
    fn assert_bad_proof(&self, what: &str) {
        assert_eq!(self.status, 401, "{what}: {}", self.body);
        assert_eq!(self.json()["error"], "invalid_dpop_proof", "{what}: {}", self.body);
        assert!(
            self.json()["error_description"].as_str().unwrap().contains(what),
            "{what}: {}",
            self.body
        );
        let c = self.challenge();
        assert!(
            c.starts_with("DPoP ")
                && c.contains("algs=\"ES256 ES384 EdDSA PS256")
                && c.contains("error=\"invalid_dpop_proof\""),
            "{what}: {c}"
        );
    }
}

async fn call(c: &reqwest::Client, method: &str, url: &str, authorization: &str, proof: Option<&str>) -> Answer {
    let mut r = c
        .request(method.parse().unwrap(), url)
        .header("authorization", authorization);
    if let Some(p) = proof {
        r = r.header("DPoP", p);
    }
    let resp = r.send().await.unwrap();
    Answer {
        status: resp.status().as_u16(),
        headers: resp.headers().clone(),
        body: resp.text().await.unwrap(),
    }
}

/// A DPoP-bound client_credentials token from gatehouse's token endpoint
/// (with the token endpoint's nonce dance), and that nonce.
async fn bound_token(c: &reqwest::Client, gh: &Gatehouse, jw: &mut Jwcrypto, key: &Value) -> (String, String) {
    let token_url = gh.url("/api/oauth/token");
    let form = [("grant_type", "client_credentials"), ("scope", "photos")];
    let send = |proof: String| {
        c.post(&token_url)
            .basic_auth("svc", Some("svc-secret"))
            .header("DPoP", proof)
            .form(&form)
            .send()
    };
    let r = send(jw.proof(key, "POST", &token_url, json!({}))).await.unwrap();
    assert_eq!(r.status(), 400);
    let nonce = r.headers()["dpop-nonce"].to_str().unwrap().to_string();
    let r = send(jw.proof(key, "POST", &token_url, json!({"nonce": nonce})))
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["token_type"], "DPoP", "{body}");
    (body["access_token"].as_str().unwrap().to_string(), nonce)
}

#[tokio::test(flavor = "multi_thread")]
async fn the_gateway_refuses_every_bad_proof_precisely() {
    let mut jw = Jwcrypto::dpop();
    let (issuer_key, _) = jw.key("EC");
    let gh = Gatehouse::start(&config(&issuer_key));
    let c = common::client();
    let (key, jkt) = jw.key("EC");
    let (other, _) = jw.key("EC");
    let (at, nonce) = bound_token(&c, &gh, &mut jw, &key).await;
    let dpop_at = format!("DPoP {at}");
    let plain = gh.url("/plain/albums");

    // The right key, method, URL and ath: accepted, and the upstream sees
    // the token's client.
    let good = jw.proof(&key, "GET", &plain, json!({"ath_of": at}));
    let a = call(&c, "GET", &plain, &dpop_at, Some(&good)).await;
    assert_eq!((a.status, a.body.as_str()), (200, "plain!"), "{}", gh.log());

    // The same proof again: a replay (the jti was recorded in the store).
    call(&c, "GET", &plain, &dpop_at, Some(&good))
        .await
        .assert_bad_proof("used before");

    // Another URL, another method, another key, no ath, an old iat, an
    // ath of another token: each refused with its reason.
    let cases = [
        (
            jw.proof(&key, "GET", &gh.url("/plain/other"), json!({"ath_of": at})),
            "htu",
        ),
        (jw.proof(&key, "POST", &plain, json!({"ath_of": at})), "htm"),
        (jw.proof(&other, "GET", &plain, json!({"ath_of": at})), "another key"),
        (jw.proof(&key, "GET", &plain, json!({})), "ath"),
        (
            jw.proof(&key, "GET", &plain, json!({"ath_of": at, "iat": now() - 3600})),
            "iat",
        ),
        (jw.proof(&key, "GET", &plain, json!({"ath_of": "another token"})), "ath"),
        (
            jw.proof(&key, "GET", &plain, json!({"ath_of": at, "typ": "JWT"})),
            "typ",
        ),
    ];
    for (p, what) in &cases {
        call(&c, "GET", &plain, &dpop_at, Some(p)).await.assert_bad_proof(what);
    }
    // The DPoP scheme without a proof.
    call(&c, "GET", &plain, &dpop_at, None)
        .await
        .assert_bad_proof("without a DPoP proof");

    // The bound token as a bearer token: invalid_token, DPoP challenge.
    let a = call(&c, "GET", &plain, &format!("Bearer {at}"), None).await;
    assert_eq!(
        (a.status, a.json()["error"].as_str()),
        (401, Some("invalid_token")),
        "{}",
        a.body
    );
    assert!(
        a.challenge().starts_with("DPoP ") && a.challenge().contains("error=\"invalid_token\""),
        "{}",
        a.challenge()
    );
    // Even with a good proof beside it.
    let p = jw.proof(&key, "GET", &plain, json!({"ath_of": at}));
    let a = call(&c, "GET", &plain, &format!("Bearer {at}"), Some(&p)).await;
    assert_eq!(
        (a.status, a.json()["error"].as_str()),
        (401, Some("invalid_token")),
        "{}",
        a.body
    );

    // htu normalisation (RFC 9449 §4.3): the query is not part of it, the
    // host's case and the default port do not matter.
    let loud = plain.replace("http://127.0.0.1", "HTTP://127.0.0.1");
    let p = jw.proof(&key, "GET", &loud, json!({"ath_of": at}));
    let a = call(&c, "GET", &format!("{plain}?page=2"), &dpop_at, Some(&p)).await;
    assert_eq!(a.status, 200, "{}", a.body);
    let p = jw.proof(&key, "POST", &plain, json!({"ath_of": at}));
    let a = call(&c, "POST", &plain, &dpop_at, Some(&p)).await;
    assert_eq!(a.status, 200, "{}", a.body);

    // Behind a trusted balancer the client addressed the balancer: its
    // X-Forwarded-Proto and -Host name the URL the proof must carry.
    let public = "https://api.example.com/plain/albums";
    let via_lb = |proof: String| {
        c.get(&plain)
            .header("authorization", &dpop_at)
            .header("DPoP", proof)
            .header("x-forwarded-proto", "https")
            .header("x-forwarded-host", "api.example.com")
            .send()
    };
    let r = via_lb(jw.proof(&key, "GET", public, json!({"ath_of": at})))
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    let r = via_lb(jw.proof(&key, "GET", &plain, json!({"ath_of": at})))
        .await
        .unwrap();
    assert_eq!(r.status(), 401, "a proof for the inner URL behind the balancer");
    // Without the balancer's headers the public URL is not this request's.
    let p = jw.proof(&key, "GET", public, json!({"ath_of": at}));
    call(&c, "GET", &plain, &dpop_at, Some(&p))
        .await
        .assert_bad_proof("htu");

    // A bearer token is still a bearer token; with the DPoP scheme it is
    // refused (the scheme is for bound tokens).
    let r: Value = c
        .post(gh.url("/api/oauth/token"))
        .basic_auth("svc", Some("svc-secret"))
        .form(&[("grant_type", "client_credentials"), ("scope", "photos")])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let bearer = r["access_token"].as_str().unwrap().to_string();
    let a = call(&c, "GET", &plain, &format!("Bearer {bearer}"), None).await;
    assert_eq!(a.status, 200, "{}", a.body);
    let a = call(&c, "GET", &plain, "Bearer", None).await;
    assert_eq!(a.status, 401);
    assert!(a.challenge().starts_with("Bearer "), "{}", a.challenge());
    let p = jw.proof(&key, "GET", &plain, json!({"ath_of": bearer}));
    call(&c, "GET", &plain, &format!("DPoP {bearer}"), Some(&p))
        .await
        .assert_bad_proof("another key");

    // ---- a route with dpop_nonce: use_dpop_nonce and a DPoP-Nonce first
    let photos = gh.url("/photos/1");
    let p = jw.proof(&key, "GET", &photos, json!({"ath_of": at}));
    let a = call(&c, "GET", &photos, &dpop_at, Some(&p)).await;
    assert_eq!(
        (a.status, a.json()["error"].as_str()),
        (401, Some("use_dpop_nonce")),
        "{}",
        a.body
    );
    assert!(a.challenge().starts_with("DPoP ") && a.challenge().contains("use_dpop_nonce"));
    let gw_nonce = a.headers["dpop-nonce"].to_str().unwrap().to_string();
    let p = jw.proof(&key, "GET", &photos, json!({"ath_of": at, "nonce": "bm90LWEtbm9uY2U"}));
    let a = call(&c, "GET", &photos, &dpop_at, Some(&p)).await;
    assert_eq!(a.json()["error"], "use_dpop_nonce", "{}", a.body);
    let p = jw.proof(&key, "GET", &photos, json!({"ath_of": at, "nonce": gw_nonce}));
    let a = call(&c, "GET", &photos, &dpop_at, Some(&p)).await;
    assert_eq!((a.status, a.body.as_str()), (200, "photos!"));
    assert!(a.headers.get("dpop-nonce").is_some(), "answers carry the current nonce");
    // The token endpoint's nonce is the server's too (one origin).
    let p = jw.proof(&key, "GET", &photos, json!({"ath_of": at, "nonce": nonce}));
    assert_eq!(call(&c, "GET", &photos, &dpop_at, Some(&p)).await.status, 200);

    // ---- a jwt route: another issuer's DPoP-bound token
    let ext = gh.url("/ext/x");
    let t = jw.ask(json!({"key": issuer_key, "sign_jwt": {
        "iss": "https://other.example", "sub": "bob", "exp": now() + 300,
        "cnf": {"jkt": jkt},
    }}))["jwt"]
        .as_str()
        .unwrap()
        .to_string();
    let a = call(&c, "GET", &ext, &format!("Bearer {t}"), None).await;
    assert_eq!(
        (a.status, a.json()["error"].as_str()),
        (401, Some("invalid_token")),
        "{}",
        a.body
    );
    let p = jw.proof(&key, "GET", &ext, json!({"ath_of": t}));
    let a = call(&c, "GET", &ext, &format!("DPoP {t}"), Some(&p)).await;
    assert_eq!((a.status, a.body.as_str()), (200, "ext!"), "{}", gh.log());
    let p = jw.proof(&other, "GET", &ext, json!({"ath_of": t}));
    call(&c, "GET", &ext, &format!("DPoP {t}"), Some(&p))
        .await
        .assert_bad_proof("another key");
}

#[test]
fn openid_client_and_oauth4webapi_call_the_gateway_with_proofs() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/interop/panva");
    assert!(
        std::path::Path::new(dir).join("node_modules/oauth4webapi").exists(),
        "run ./test.sh (it installs openid-client and oauth4webapi from npm)"
    );
    let (unused, _) = Jwcrypto::dpop().key("EC");
    for format in ["jwt", "opaque"] {
        let gh = Gatehouse::start(
            &config(&unused).replace("access_format = \"jwt\"", &format!("access_format = \"{format}\"")),
        );
        let issuer = format!("http://{}", gh.addr);
        let out = Command::new("node")
            .arg("dpop.mjs")
            .current_dir(dir)
            .env("ISSUER", &issuer)
            .env("API", format!("{issuer}/photos/albums"))
            .env("FORMAT", format)
            .env("CLIENT", "svc")
            .env("SECRET", "svc-secret")
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            out.status.success() && stdout.contains("ALL OK") && stdout.contains("the gateway asks for its nonce"),
            "{format}:\n{stdout}\n{stderr}\n--- gatehouse log ---\n{}",
            gh.log()
        );
    }
}
