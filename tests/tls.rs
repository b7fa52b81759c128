//! HTTPS with rustls, checked with clients this project did not write
//! (curl, openssl s_client): TLS 1.2 and 1.3, ALPN h2 and http/1.1, h2c,
//! certificate reload on file change and SIGHUP, a bad pair refused at
//! `check` and at start, and the plain-HTTP redirect listener.

mod common;

use common::{serve, Gatehouse};
use std::path::Path;
use std::process::Command;
use std::time::Duration;

fn sh(cmd: &str) -> std::process::Output {
    Command::new("bash").arg("-c").arg(cmd).output().unwrap()
}

/// A CA and a leaf for 127.0.0.1 signed by it, named `name` (CN).
fn make_cert(dir: &Path, name: &str) {
    let d = dir.display();
    if !dir.join("ca.pem").exists() {
        let o = sh(&format!(
            "cd {d} && openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout ca.key -out ca.pem -days 2 -subj /CN=test-ca 2>&1"
        ));
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stdout));
    }
    let o = sh(&format!(
        "cd {d} && openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout new.key -out new.csr -subj /CN={name} 2>&1 && \
         printf 'subjectAltName=IP:127.0.0.1,DNS:localhost' > san.ext && \
         openssl x509 -req -in new.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out new.pem -days 2 -extfile san.ext 2>&1 && \
         mv new.key key.pem && mv new.pem cert.pem"
    ));
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stdout));
}

/// curl over HTTPS trusting the test CA: (status, http version, body).
fn curl(dir: &Path, args: &str, url: &str) -> (String, String, String) {
    let o = sh(&format!(
        "curl -sS --max-time 10 --cacert {}/ca.pem {args} -w '\\n%{{http_code}} %{{http_version}}' '{url}'",
        dir.display()
    ));
    let out = String::from_utf8_lossy(&o.stdout).to_string();
    assert!(
        o.status.success(),
        "curl {args} {url}: {out} {}",
        String::from_utf8_lossy(&o.stderr)
    );
    let (body, tail) = out.rsplit_once('\n').unwrap();
    let (code, version) = tail.split_once(' ').unwrap();
    (code.to_string(), version.to_string(), body.to_string())
}

/// The CN of the certificate the server presents now.
fn served_cn(addr: std::net::SocketAddr) -> String {
    let o = sh(&format!(
        "openssl s_client -connect {addr} -servername localhost </dev/null 2>/dev/null | openssl x509 -noout -subject"
    ));
    String::from_utf8_lossy(&o.stdout).trim().to_string()
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_h2_http1_reload_and_redirect() {
    // An upstream that says which protocol the client used.
    async fn echo(headers: axum::http::HeaderMap) -> String {
        let get = |k: &str| headers.get(k).and_then(|v| v.to_str().ok()).unwrap_or("-").to_string();
        format!("proto={} host={}", get("x-forwarded-proto"), get("x-forwarded-host"))
    }
    let up = serve(axum::Router::new().fallback(echo)).await;

    let dir = tempfile::tempdir().unwrap();
    let tls = dir.path().join("tls");
    std::fs::create_dir(&tls).unwrap();
    make_cert(&tls, "first");
    let redirect_port = free_port();
    let gh = Gatehouse::start_in(
        dir,
        &format!(
            r#"listen = "127.0.0.1:0"

[store]
url = "memory://"

[tls]
cert = "tls/cert.pem"
key = "tls/key.pem"
redirect_listen = "127.0.0.1:{redirect_port}"

[[apis]]
path = "/hello"
backend = {{ mock = {{ body = "hello world" }} }}

[[apis]]
path = "/up"
backend = {{ upstream = "http://{up}" }}
"#
        ),
    );
    let tls = gh.dir.path().join("tls");
    let base = format!("https://127.0.0.1:{}", gh.addr.port());

    // ALPN: curl offers h2 and gets it; HTTP/1.1 when asked; TLS 1.2 too.
    assert_eq!(
        curl(&tls, "", &format!("{base}/hello")),
        ("200".into(), "2".into(), "hello world".into())
    );
    assert_eq!(curl(&tls, "--http1.1", &format!("{base}/hello")).1, "1.1");
    assert_eq!(curl(&tls, "--tlsv1.2 --tls-max 1.2", &format!("{base}/hello")).0, "200");
    assert_eq!(curl(&tls, "--tlsv1.3", &format!("{base}/hello")).0, "200");
    // Proxied over h2: the upstream hears https and the client's host.
    let (code, _, body) = curl(&tls, "", &format!("{base}/up/x"));
    assert_eq!(code, "200");
    assert_eq!(body, format!("proto=https host=127.0.0.1:{}", gh.addr.port()));
    // Discovery says https.
    let (_, _, disco) = curl(&tls, "", &format!("{base}/.well-known/openid-configuration"));
    assert!(disco.contains(&format!("\"issuer\":\"{base}\"")), "{disco}");

    // Plain HTTP on the redirect listener: 308 to the same path on https.
    let o = sh(&format!(
        "curl -s -o /dev/null -w '%{{http_code}} %{{redirect_url}}' 'http://127.0.0.1:{redirect_port}/hello?x=1'"
    ));
    assert_eq!(
        String::from_utf8_lossy(&o.stdout),
        format!("308 https://127.0.0.1:{}/hello?x=1", gh.addr.port())
    );

    // A new pair on disk is picked up without a restart.
    assert!(served_cn(gh.addr).contains("CN = first"), "{}", served_cn(gh.addr));
    make_cert(&tls, "second");
    let mut cn = String::new();
    for _ in 0..50 {
        cn = served_cn(gh.addr);
        if cn.contains("second") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(cn.contains("CN = second"), "not reloaded: {cn}");

    // A broken pair is refused and the old one keeps serving; SIGHUP
    // reloads at once once the files are good again.
    std::fs::write(tls.join("cert.pem"), "not a certificate").unwrap();
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert!(served_cn(gh.addr).contains("CN = second"));
    assert!(gh.log().contains("TLS certificate not reloaded"), "{}", gh.log());
    assert_eq!(curl(&tls, "", &format!("{base}/hello")).0, "200");
    make_cert(&tls, "third");
    gh.signal("HUP");
    let mut cn = String::new();
    for _ in 0..20 {
        cn = served_cn(gh.addr);
        if cn.contains("third") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(cn.contains("CN = third"), "{cn}");
    let metrics = curl(&tls, "", &format!("{base}/metrics")).2;
    assert!(
        metrics.contains("gatehouse_tls_reloads_total{result=\"failed\"}"),
        "{metrics}"
    );
}

#[test]
fn a_mismatched_pair_is_refused_at_check_and_at_start() {
    let dir = tempfile::tempdir().unwrap();
    make_cert(dir.path(), "one");
    std::fs::rename(dir.path().join("key.pem"), dir.path().join("key-one.pem")).unwrap();
    make_cert(dir.path(), "two"); // cert.pem now belongs to key.pem, not key-one.pem
    let cfg = dir.path().join("g.toml");
    std::fs::write(
        &cfg,
        "listen = \"127.0.0.1:0\"\n[store]\nurl = \"memory://\"\n[tls]\ncert = \"cert.pem\"\nkey = \"key-one.pem\"\n",
    )
    .unwrap();
    let o = common::run(&["check", "--config", cfg.to_str().unwrap()]);
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("[tls]") && err.contains("key-one.pem"), "{err}");
    let o = Command::new(common::BIN)
        .args(["serve", "--config", cfg.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(!o.status.success());
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("[tls]"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    // Not PEM at all.
    std::fs::write(dir.path().join("key-one.pem"), "garbage").unwrap();
    let o = common::run(&["check", "--config", cfg.to_str().unwrap()]);
    assert!(!o.status.success());
}

#[test]
fn h2c_with_prior_knowledge_on_a_plain_listener() {
    let gh = Gatehouse::start(
        "[server]\nh2c = true\n\n[[apis]]\npath = \"/hello\"\nbackend = { mock = { body = \"hi\" } }\n",
    );
    let o = sh(&format!(
        "curl -s --http2-prior-knowledge -w ' %{{http_version}}' http://{}/hello",
        gh.addr
    ));
    assert_eq!(String::from_utf8_lossy(&o.stdout), "hi 2");
    let o = sh(&format!("curl -s -w ' %{{http_version}}' http://{}/hello", gh.addr));
    assert_eq!(String::from_utf8_lossy(&o.stdout), "hi 1.1");
}

/// Issue 13 (2): an https upstream (nginx with its own CA) is trusted
/// through `[gateway] ca_file`, and spoken to in HTTP/2 because it offers
/// h2 by ALPN; without the CA it is refused (502), never trusted blindly.
#[test]
fn https_upstream_with_a_ca_file_over_http2() {
    let certs = tempfile::tempdir().unwrap();
    make_cert(certs.path(), "upstream");
    let c = certs.path().to_path_buf();
    let ng = common::nginx::Nginx::start_with(
        r#"location / { return 200 "proto=$server_protocol tls=$ssl_protocol"; }"#,
        "ssl http2",
        &format!(
            "ssl_certificate {}/cert.pem; ssl_certificate_key {}/key.pem;",
            c.display(),
            c.display()
        ),
        |_| {},
    );
    let route = format!(
        "[[apis]]\npath = \"/up\"\nbackend = {{ upstream = \"https://127.0.0.1:{}\" }}\n",
        ng.addr.port()
    );
    let trusted = Gatehouse::start(&format!("[gateway]\nca_file = \"{}/ca.pem\"\n\n{route}", c.display()));
    let o = sh(&format!("curl -s -w ' %{{http_code}}' http://{}/up/x", trusted.addr));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        out.starts_with("proto=HTTP/2.0 tls=TLSv1.") && out.ends_with(" 200"),
        "{out}\n{}",
        std::fs::read_to_string(ng.dir.path().join("error.log")).unwrap_or_default()
    );

    let untrusted = Gatehouse::start(&route);
    let o = sh(&format!(
        "curl -s -o /dev/null -w '%{{http_code}}' http://{}/up/x",
        untrusted.addr
    ));
    assert_eq!(String::from_utf8_lossy(&o.stdout), "502");
}

/// A rustls client (tokio-rustls, the library gatehouse's server uses)
/// negotiates TLS 1.3 and h2, TLS 1.2 when it only offers 1.2, and
/// http/1.1 when it offers only that.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rustls_client_handshakes() {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, ServerName};
    let dir = tempfile::tempdir().unwrap();
    make_cert(dir.path(), "rustls");
    let tls = dir.path().display();
    let gh = Gatehouse::start(&format!(
        "[tls]\ncert = \"{tls}/cert.pem\"\nkey = \"{tls}/key.pem\"\n\n[[apis]]\npath = \"/hello\"\nbackend = {{ mock = {{ body = \"hi\" }} }}\n"
    ));
    let mut roots = rustls::RootCertStore::empty();
    for c in CertificateDer::pem_file_iter(dir.path().join("ca.pem")).unwrap() {
        roots.add(c.unwrap()).unwrap();
    }
    let provider = std::sync::Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    for (versions, alpn, want_version, want_alpn) in [
        (
            &[&rustls::version::TLS13, &rustls::version::TLS12][..],
            vec![b"h2".to_vec(), b"http/1.1".to_vec()],
            rustls::ProtocolVersion::TLSv1_3,
            &b"h2"[..],
        ),
        (
            &[&rustls::version::TLS12][..],
            vec![b"h2".to_vec()],
            rustls::ProtocolVersion::TLSv1_2,
            &b"h2"[..],
        ),
        (
            &[&rustls::version::TLS13][..],
            vec![b"http/1.1".to_vec()],
            rustls::ProtocolVersion::TLSv1_3,
            &b"http/1.1"[..],
        ),
    ] {
        let mut cfg = rustls::ClientConfig::builder_with_provider(provider.clone())
            .with_protocol_versions(versions)
            .unwrap()
            .with_root_certificates(roots.clone())
            .with_no_client_auth();
        cfg.alpn_protocols = alpn;
        let connector = tokio_rustls::TlsConnector::from(std::sync::Arc::new(cfg));
        let tcp = tokio::net::TcpStream::connect(gh.addr).await.unwrap();
        let stream = connector
            .connect(ServerName::try_from("127.0.0.1").unwrap(), tcp)
            .await
            .unwrap();
        let (_, conn) = stream.get_ref();
        assert_eq!(conn.protocol_version(), Some(want_version));
        assert_eq!(conn.alpn_protocol(), Some(want_alpn));
    }
}

/// Issue 13: HTTP/2 (over TLS) through every route kind — mock, `jwt`,
/// `oauth2` and an upstream that receives a streamed 50 MiB body.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http2_through_every_route_kind_with_a_50_mib_body() {
    use futures_util::StreamExt;
    async fn count(req: axum::extract::Request) -> String {
        let mut body = req.into_body().into_data_stream();
        let mut n = 0usize;
        while let Some(chunk) = body.next().await {
            n += chunk.unwrap().len();
        }
        format!("got {n}")
    }
    let up = serve(axum::Router::new().fallback(count)).await;
    let dir = tempfile::tempdir().unwrap();
    make_cert(dir.path(), "h2");
    common::keygen("RS256", &dir.path().join("jwtkey"));
    let d = dir.path().display();
    let gh = Gatehouse::start(&format!(
        r#"[tls]
cert = "{d}/cert.pem"
key = "{d}/key.pem"

[[clients]]
id = "svc"
secret = "svc-secret"
grant_types = ["client_credentials"]
scopes = ["api"]

[[apis]]
path = "/mock"
backend = {{ mock = {{ body = "mocked" }} }}

[[apis]]
path = "/jwt"
auth = {{ kind = "jwt", jwk = "{d}/jwtkey/public.jwk.json" }}
backend = {{ mock = {{ body = "jwt ok" }} }}

[[apis]]
path = "/oauth2"
auth = {{ kind = "oauth2", scopes = ["api"] }}
backend = {{ mock = {{ body = "oauth2 ok" }} }}

[[apis]]
path = "/up"
backend = {{ upstream = "http://{up}" }}
"#
    ));
    let base = format!("https://127.0.0.1:{}", gh.addr.port());
    let h2 = "--http2";
    assert_eq!(
        curl(dir.path(), h2, &format!("{base}/mock")),
        ("200".into(), "2".into(), "mocked".into())
    );
    // jwt: a token signed with the route's key (openssl, outside gatehouse).
    let o = sh(&format!(
        "cd {d}/jwtkey && h=$(printf '{{\"alg\":\"RS256\",\"typ\":\"JWT\"}}' | openssl base64 -A | tr '+/' '-_' | tr -d '=') && \
         p=$(printf '{{\"sub\":\"a\",\"exp\":4102444800}}' | openssl base64 -A | tr '+/' '-_' | tr -d '=') && \
         s=$(printf '%s.%s' $h $p | openssl dgst -sha256 -sign private.pem -binary | openssl base64 -A | tr '+/' '-_' | tr -d '=') && echo $h.$p.$s"
    ));
    let jwt = String::from_utf8_lossy(&o.stdout).trim().to_string();
    let (code, version, body) = curl(
        dir.path(),
        &format!("{h2} -H 'Authorization: Bearer {jwt}'"),
        &format!("{base}/jwt"),
    );
    assert_eq!((code.as_str(), version.as_str(), body.as_str()), ("200", "2", "jwt ok"));
    assert_eq!(curl(dir.path(), h2, &format!("{base}/jwt")).0, "401");
    // oauth2: a token from gatehouse's own token endpoint, over h2 too.
    let (_, _, tok) = curl(
        dir.path(),
        "--http2 -u svc:svc-secret -d grant_type=client_credentials -d scope=api",
        &format!("{base}/api/oauth/token"),
    );
    let at = serde_json::from_str::<serde_json::Value>(&tok).unwrap()["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    let (code, version, body) = curl(
        dir.path(),
        &format!("{h2} -H 'Authorization: Bearer {at}'"),
        &format!("{base}/oauth2"),
    );
    assert_eq!(
        (code.as_str(), version.as_str(), body.as_str()),
        ("200", "2", "oauth2 ok")
    );
    // 50 MiB streamed up over h2 to the upstream.
    let big = dir.path().join("big.bin");
    let f = std::fs::File::create(&big).unwrap();
    f.set_len(50 * 1024 * 1024).unwrap();
    let (code, version, body) = curl(
        dir.path(),
        &format!(
            "{h2} -H 'Content-Type: application/octet-stream' --data-binary @{}",
            big.display()
        ),
        &format!("{base}/up/count"),
    );
    assert_eq!((code.as_str(), version.as_str()), ("200", "2"));
    assert_eq!(body, format!("got {}", 50 * 1024 * 1024));
}

/// Issue 24 (also noted): `[tls] hsts` goes on every answer over TLS (a
/// route's, the authorization server's, an error), never on the plain
/// redirect listener (RFC 6797 §7.2); `[tls] ocsp` is stapled to the
/// handshake, as `openssl s_client -status` shows, with a response
/// `openssl ocsp` signed for the leaf.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hsts_on_https_answers_and_a_stapled_ocsp_response() {
    let dir = tempfile::tempdir().unwrap();
    let tls = dir.path().join("tls");
    std::fs::create_dir(&tls).unwrap();
    make_cert(&tls, "stapled");
    let o = sh(&format!(
        "cd {} && serial=$(openssl x509 -in cert.pem -noout -serial | cut -d= -f2) && \
         printf 'V\\t301231235959Z\\t\\t%s\\tunknown\\t/CN=stapled\\n' \"$serial\" > index.txt && \
         openssl ocsp -issuer ca.pem -cert cert.pem -no_nonce -reqout req.der 2>&1 && \
         openssl ocsp -index index.txt -rsigner ca.pem -rkey ca.key -CA ca.pem -reqin req.der -respout ocsp.der -ndays 1 2>&1",
        tls.display()
    ));
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stdout));
    let redirect_port = free_port();
    let gh = Gatehouse::start_in(
        dir,
        &format!(
            r#"listen = "127.0.0.1:0"

[store]
url = "memory://"

[tls]
cert = "tls/cert.pem"
key = "tls/key.pem"
redirect_listen = "127.0.0.1:{redirect_port}"
hsts = "max-age=31536000; includeSubDomains"
ocsp = "tls/ocsp.der"

[[apis]]
path = "/hello"
backend = {{ mock = {{ body = "hello world" }} }}
"#
        ),
    );
    let tls = gh.dir.path().join("tls");
    let base = format!("https://127.0.0.1:{}", gh.addr.port());
    let head = |args: &str, url: &str| {
        let o = sh(&format!(
            "curl -sS --max-time 10 --cacert {}/ca.pem {args} -D - -o /dev/null '{url}'",
            tls.display()
        ));
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        String::from_utf8_lossy(&o.stdout).to_lowercase()
    };
    for path in ["/hello", "/.well-known/openid-configuration", "/nowhere"] {
        for proto in ["--http2", "--http1.1"] {
            let h = head(proto, &format!("{base}{path}"));
            assert!(
                h.contains("strict-transport-security: max-age=31536000; includesubdomains"),
                "{path} {proto}: {h}"
            );
        }
    }
    let plain = head("", &format!("http://127.0.0.1:{redirect_port}/hello"));
    assert!(plain.starts_with("http/1.1 308"), "{plain}");
    assert!(!plain.contains("strict-transport-security"), "{plain}");

    let o = sh(&format!(
        "openssl s_client -connect {} -servername localhost -status </dev/null 2>&1",
        gh.addr
    ));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.contains("OCSP Response Status: successful"), "{out}");
    assert!(out.contains("Cert Status: good"), "{out}");
}

#[test]
fn bad_hsts_values_and_ocsp_files_are_refused_at_check() {
    let dir = tempfile::tempdir().unwrap();
    make_cert(dir.path(), "one");
    std::fs::write(dir.path().join("bad.der"), "not DER").unwrap();
    for (extra, want) in [
        ("hsts = \"max-age=abc\"", "tls.hsts"),
        ("hsts = \"includeSubDomains\"", "max-age"),
        ("hsts = \"max-age=1\\r\\nx: y\"", "tls.hsts"),
        ("ocsp = \"bad.der\"", "not a DER OCSP response"),
        ("ocsp = \"missing.der\"", "missing.der"),
    ] {
        let cfg = dir.path().join("g.toml");
        std::fs::write(
            &cfg,
            format!("listen = \"127.0.0.1:0\"\n[store]\nurl = \"memory://\"\n[tls]\ncert = \"cert.pem\"\nkey = \"key.pem\"\n{extra}\n"),
        )
        .unwrap();
        let o = common::run(&["check", "--config", cfg.to_str().unwrap()]);
        assert!(!o.status.success(), "{extra}");
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(err.contains(want), "{extra}: {err}");
    }
}
