//! RFC 7522 SAML 2.0 bearer grant against the real binary. Every assertion
//! is signed by the `xmlsec1` command (Debian's xmlsec1, the reference
//! implementation of XML signature) with keys and certificates made by
//! `openssl`; gatehouse never signs its own test input. Covered: a good
//! assertion (its token works on an `oauth2` route and introspects with the
//! mapped user), then each rejection, all answered with 400 `invalid_grant`
//! and a description while the process keeps serving; the replay also on a
//! second instance sharing the SQLite file. ./test.sh installs xmlsec1.

mod common;

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use common::{client, Gatehouse};
use serde_json::Value;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

const GRANT: &str = "urn:ietf:params:oauth:grant-type:saml2-bearer";
const ISSUER: &str = "https://as.example";
const TOKEN_URL: &str = "https://as.example/api/oauth/token";
const IDP: &str = "https://idp.example/saml";

fn now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs()
}

/// xs:dateTime (UTC) `delta` seconds from now.
fn at(delta: i64) -> String {
    let t = UNIX_EPOCH + Duration::from_secs(now().checked_add_signed(delta).unwrap());
    humantime::format_rfc3339_seconds(t).to_string()
}

fn sh(cmd: &mut Command) {
    let o = cmd
        .output()
        .expect("tool runs (./test.sh installs openssl and xmlsec1)");
    assert!(o.status.success(), "{cmd:?}: {}", String::from_utf8_lossy(&o.stderr));
}

/// An IdP key and self-signed certificate, by openssl.
fn idp_keys(dir: &Path, name: &str) {
    sh(Command::new("openssl").current_dir(dir).args([
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-days",
        "2",
        "-subj",
        &format!("/CN={name}"),
        "-keyout",
        &format!("{name}.key"),
        "-out",
        &format!("{name}.pem"),
    ]));
}

/// The parts of an assertion a test varies.
#[derive(Clone)]
struct A {
    id: String,
    issuer: String,
    name_id: String,
    audience: String,
    recipient: String,
    not_before: i64,
    not_after: i64,
    confirm_not_after: i64,
}

fn assertion(id: &str) -> A {
    A {
        id: id.to_string(),
        issuer: IDP.into(),
        name_id: "alice".into(),
        audience: TOKEN_URL.into(),
        recipient: TOKEN_URL.into(),
        not_before: -60,
        not_after: 300,
        confirm_not_after: 300,
    }
}

const SIGNATURE_TEMPLATE: &str = r##"<ds:Signature xmlns:ds="http://www.w3.org/2000/09/xmldsig#"><ds:SignedInfo><ds:CanonicalizationMethod Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#"/><ds:SignatureMethod Algorithm="http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"/><ds:Reference URI="#ID"><ds:Transforms><ds:Transform Algorithm="http://www.w3.org/2000/09/xmldsig#enveloped-signature"/><ds:Transform Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#"/></ds:Transforms><ds:DigestMethod Algorithm="http://www.w3.org/2001/04/xmlenc#sha256"/><ds:DigestValue/></ds:Reference></ds:SignedInfo><ds:SignatureValue/><ds:KeyInfo><ds:X509Data/></ds:KeyInfo></ds:Signature>"##;

/// The assertion XML; `signature` adds the template xmlsec1 fills in, and
/// `advice` goes into a `<saml:Advice>`.
fn xml(a: &A, signature: bool, advice: &str) -> String {
    let sig = if signature {
        SIGNATURE_TEMPLATE.replace("#ID", &format!("#{}", a.id))
    } else {
        String::new()
    };
    let advice = if advice.is_empty() {
        String::new()
    } else {
        format!("<saml:Advice>{advice}</saml:Advice>")
    };
    format!(
        r#"<saml:Assertion xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="{id}" Version="2.0" IssueInstant="{now}"><saml:Issuer>{issuer}</saml:Issuer>{sig}<saml:Subject><saml:NameID Format="urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified">{name}</saml:NameID><saml:SubjectConfirmation Method="urn:oasis:names:tc:SAML:2.0:cm:bearer"><saml:SubjectConfirmationData NotOnOrAfter="{cna}" Recipient="{recipient}"/></saml:SubjectConfirmation></saml:Subject><saml:Conditions NotBefore="{nb}" NotOnOrAfter="{na}"><saml:AudienceRestriction><saml:Audience>{aud}</saml:Audience></saml:AudienceRestriction></saml:Conditions>{advice}<saml:AuthnStatement AuthnInstant="{now}"><saml:AuthnContext><saml:AuthnContextClassRef>urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport</saml:AuthnContextClassRef></saml:AuthnContext></saml:AuthnStatement></saml:Assertion>"#,
        id = a.id,
        now = at(0),
        issuer = a.issuer,
        name = a.name_id,
        cna = at(a.confirm_not_after),
        recipient = a.recipient,
        nb = at(a.not_before),
        na = at(a.not_after),
        aud = a.audience,
    )
}

/// `xmlsec1 --sign` over the template in `unsigned`, with `key`.
fn xmlsec_sign(dir: &Path, key: &str, unsigned: &str) -> String {
    let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let (input, output) = (dir.join(format!("in-{n}.xml")), dir.join(format!("out-{n}.xml")));
    std::fs::write(&input, unsigned).unwrap();
    sh(Command::new("xmlsec1").current_dir(dir).args([
        "--sign",
        "--privkey-pem",
        &format!("{key}.key,{key}.pem"),
        "--id-attr:ID",
        "urn:oasis:names:tc:SAML:2.0:assertion:Assertion",
        "--output",
        output.to_str().unwrap(),
        input.to_str().unwrap(),
    ]));
    std::fs::read_to_string(output).unwrap()
}

static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// The signed assertion without its `<?xml …?>` line (to embed it).
fn body_of(signed: &str) -> &str {
    match signed.strip_prefix("<?xml") {
        Some(rest) => rest.split_once("?>").unwrap().1.trim_start(),
        None => signed,
    }
}

async fn exchange(gh: &Gatehouse, assertion: &str) -> (u16, Value) {
    let r = client()
        .post(gh.url("/api/oauth/token"))
        .basic_auth("app", Some("app-secret"))
        .form(&[("grant_type", GRANT), ("assertion", assertion), ("scope", "photos")])
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    let text = r.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
}

fn b64(xml: &str) -> String {
    URL_SAFE_NO_PAD.encode(xml)
}

fn config(store: &str) -> String {
    format!(
        r#"listen = "127.0.0.1:0"
issuer = "{ISSUER}"

[store]
url = "{store}"

[[saml_idps]]
entity_id = "{IDP}"
certificate = "idp.pem"

[[clients]]
id = "app"
secret = "app-secret"
grant_types = ["{GRANT}"]
scopes = ["photos"]

[[clients]]
id = "other"
secret = "other-secret"
grant_types = ["client_credentials"]
scopes = ["photos"]

[[users]]
username = "alice"
password = "wonderland"

[[apis]]
name = "photos"
path = "/photos"
auth = {{ kind = "oauth2", scopes = ["photos"] }}
backend = {{ mock = {{ body = "photos of alice" }} }}
"#
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn saml2_bearer_grant_follows_rfc7522() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_path_buf();
    idp_keys(&d, "idp");
    idp_keys(&d, "evil");
    let db = format!("sqlite://{}", d.join("shared.db").display());
    let gh = Gatehouse::start_in(dir, &config(&db));

    // A good assertion: a token for alice that works on an oauth2 route.
    let good = xmlsec_sign(&d, "idp", &xml(&assertion("_good1"), true, ""));
    assert!(good.contains("<ds:SignatureValue>"), "xmlsec1 signed: {good}");
    let (s, t) = exchange(&gh, &b64(&good)).await;
    assert_eq!(s, 200, "{t}\n{}", gh.log());
    let at = t["access_token"].as_str().unwrap().to_string();
    assert_eq!(t["scope"], "photos");
    assert!(t.get("refresh_token").is_none());
    let r = client().get(gh.url("/photos")).bearer_auth(&at).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.text().await.unwrap(), "photos of alice");
    let i: Value = client()
        .post(gh.url("/api/oauth/introspect"))
        .basic_auth("other", Some("other-secret"))
        .form(&[("token", at.as_str())])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        (i["active"].as_bool(), i["sub"].as_str()),
        (Some(true), Some("alice")),
        "{i}"
    );
    assert_eq!(i["client_id"], "app");

    // Replayed assertion ID, on this instance and on a second one sharing
    // the SQLite file.
    let (s, t) = exchange(&gh, &b64(&good)).await;
    assert_eq!((s, t["error"].as_str()), (400, Some("invalid_grant")), "{t}");
    assert!(t["error_description"].as_str().unwrap().contains("already used"), "{t}");
    let dir2 = tempfile::tempdir().unwrap();
    std::fs::copy(d.join("idp.pem"), dir2.path().join("idp.pem")).unwrap();
    let gh2 = Gatehouse::start_in(dir2, &config(&db));
    let fresh = xmlsec_sign(&d, "idp", &xml(&assertion("_fresh1"), true, ""));
    let (s, t) = exchange(&gh2, &b64(&fresh)).await;
    assert_eq!(s, 200, "second instance, fresh assertion: {t}");
    let (s, t) = exchange(&gh, &b64(&fresh)).await;
    assert_eq!(
        (s, t["error"].as_str()),
        (400, Some("invalid_grant")),
        "replay on the first instance of an assertion the second one took: {t}"
    );
    let (s, t) = exchange(&gh2, &b64(&good)).await;
    assert_eq!((s, t["error"].as_str()), (400, Some("invalid_grant")), "{t}");

    // Padded base64 (and standard base64) is accepted too.
    let padded = xmlsec_sign(&d, "idp", &xml(&assertion("_padded"), true, ""));
    let (s, t) = exchange(&gh, &STANDARD.encode(&padded)).await;
    assert_eq!(s, 200, "{t}");

    let signed = |a: A| xmlsec_sign(&d, "idp", &xml(&a, true, ""));
    let mut n = 0;
    let mut id = || {
        n += 1;
        format!("_r{n}")
    };

    // Signature wrapping, way 1: the IdP-signed assertion (for bob, say)
    // moved into the Advice of an unsigned one for alice at the root.
    let mut bob = assertion(&id());
    bob.name_id = "bob".into();
    let bob_signed = signed(bob);
    let wrapped = xml(&assertion(&id()), false, body_of(&bob_signed));
    // Way 2, the reverse: the signed assertion at the root with an unsigned
    // one (for alice) slipped into its Advice.
    let mut root = assertion(&id());
    root.name_id = "bob".into();
    let root_signed = signed(root);
    let evil = xml(&assertion(&id()), false, "");
    let reverse = root_signed.replacen(
        "<saml:AuthnStatement",
        &format!("<saml:Advice>{evil}</saml:Advice><saml:AuthnStatement"),
        1,
    );
    assert_ne!(reverse, root_signed);
    // Way 3: the signature of a signed assertion pasted into an unsigned
    // one that claims the same ID.
    let pasted_sig = {
        let signed_a = signed(assertion("_same"));
        let sig = &signed_a[signed_a.find("<ds:Signature").unwrap()..signed_a.find("</ds:Signature>").unwrap() + 15];
        let mut a = assertion("_same");
        a.name_id = "alice".into();
        a.not_after = 3000;
        xml(&a, false, "").replacen("</saml:Issuer>", &format!("</saml:Issuer>{sig}"), 1)
    };

    let mut cases: Vec<(&str, String, &str)> = Vec::new();
    let mut case = |what: &'static str, a: String, expect: &'static str| cases.push((what, a, expect));
    case(
        "wrong signer",
        b64(&xmlsec_sign(&d, "evil", &xml(&assertion(&id()), true, ""))),
        "signature",
    );
    let mut a = assertion(&id());
    (a.not_before, a.not_after, a.confirm_not_after) = (-900, -300, -300);
    case("expired", b64(&signed(a)), "expired");
    let mut a = assertion(&id());
    a.not_before = 600;
    case("NotBefore in the future", b64(&signed(a)), "not valid yet");
    let mut a = assertion(&id());
    (a.not_after, a.confirm_not_after) = (7 * 86400, 7 * 86400);
    case("valid too far ahead", b64(&signed(a)), "too far");
    let mut a = assertion(&id());
    a.audience = "https://elsewhere.example/token".into();
    case("wrong audience", b64(&signed(a)), "Audience");
    let mut a = assertion(&id());
    a.recipient = "https://elsewhere.example/token".into();
    case("wrong recipient", b64(&signed(a)), "Recipient");
    let mut a = assertion(&id());
    a.issuer = "https://other-idp.example".into();
    case("unknown issuer", b64(&signed(a)), "Issuer");
    let mut a = assertion(&id());
    a.name_id = "mallory".into();
    case("unknown user", b64(&signed(a)), "unknown user");
    case("unsigned", b64(&xml(&assertion(&id()), false, "")), "not signed");
    case("signature wrapping (signed one in Advice)", b64(&wrapped), "signature");
    case(
        "signature wrapping (unsigned one in the signed one's Advice)",
        b64(&reverse),
        "signature",
    );
    case("signature pasted into another assertion", b64(&pasted_sig), "signature");
    let mut a = assertion(&id());
    a.name_id = "alice<!---->.evil".into();
    case("comment trick in NameID", b64(&signed(a)), "unknown user");
    let mut a = assertion(&id());
    a.name_id = "&lol9;".into();
    let lol = xml(&a, false, "");
    let mut dtd = String::from("<?xml version=\"1.0\"?><!DOCTYPE lolz [<!ENTITY lol \"lol\">");
    for i in 1..10 {
        let prev = if i == 1 {
            "lol".to_string()
        } else {
            format!("lol{}", i - 1)
        };
        dtd.push_str(&format!("<!ENTITY lol{i} \"{}\">", format!("&{prev};").repeat(10)));
    }
    dtd.push(']');
    dtd.push('>');
    case("billion laughs", b64(&format!("{dtd}{lol}")), "DOCTYPE");
    let xxe = format!(
        "<!DOCTYPE a [<!ENTITY x SYSTEM \"file:///etc/passwd\">]>{}",
        xml(&assertion(&id()), false, "")
    );
    case("external entity", b64(&xxe), "DOCTYPE");
    let huge = xml(&assertion(&id()), false, &format!("<!--{}-->", "x".repeat(1 << 20)));
    assert!(huge.len() > 1 << 20);
    case("1 MiB input", b64(&huge), "larger");
    let deep = format!("{}{}", "<saml:Advice>".repeat(200), "</saml:Advice>".repeat(200));
    case("deep nesting", b64(&xml(&assertion(&id()), false, &deep)), "deeper");
    case("not base64", "<saml:Assertion>!!!".to_string(), "base64");
    case("base64 of garbage", b64("\u{1}\u{2}not xml at all"), "XML");

    for (what, a, expect) in cases {
        let (s, t) = exchange(&gh, &a).await;
        assert_eq!((s, t["error"].as_str()), (400, Some("invalid_grant")), "{what}: {t}");
        let desc = t["error_description"].as_str().unwrap_or_default();
        assert!(desc.contains(expect), "{what}: description {desc:?} lacks {expect:?}");
        // The process keeps serving.
        let r = client()
            .get(gh.url("/.well-known/openid-configuration"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{what}: gatehouse stopped serving");
    }

    // A client not allowed the grant.
    let ok = signed(assertion(&id()));
    let r = client()
        .post(gh.url("/api/oauth/token"))
        .basic_auth("other", Some("other-secret"))
        .form(&[("grant_type", GRANT), ("assertion", b64(&ok).as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let t: Value = r.json().await.unwrap();
    assert_eq!(t["error"], "unauthorized_client", "{t}");
    // A scope beyond the client's.
    let r = client()
        .post(gh.url("/api/oauth/token"))
        .basic_auth("app", Some("app-secret"))
        .form(&[
            ("grant_type", GRANT),
            ("assertion", b64(&ok).as_str()),
            ("scope", "admin"),
        ])
        .send()
        .await
        .unwrap();
    let t: Value = r.json().await.unwrap();
    assert_eq!(t["error"], "invalid_scope", "{t}");
    // The same assertion, still unspent (refusals before the ID is recorded
    // do not burn it), works.
    let (s, t) = exchange(&gh, &b64(&ok)).await;
    assert_eq!(s, 200, "{t}");

    let disc: Value = client()
        .get(gh.url("/.well-known/openid-configuration"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(disc["grant_types_supported"]
        .as_array()
        .unwrap()
        .iter()
        .any(|g| g == GRANT));
    drop(gh2);
}
