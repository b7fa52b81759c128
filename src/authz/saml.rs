//! RFC 7522 SAML 2.0 bearer assertions: decoding, a strict shape check
//! before any XML reaches libxml, the XML signature checked by libxmlsec1
//! (through `samael`), and the SAML rules read from the bytes the signature
//! covers only.
//!
//! Order matters:
//! 1. size bound, base64url, UTF-8, no DOCTYPE/ENTITY, bounded depth and
//!    node count (roxmltree, which never expands external entities);
//! 2. shape: the root is a `saml:Assertion` with an ID; there is exactly
//!    one `ds:Signature` in the whole document, a child of that root, with
//!    one `Reference` whose URI is `#` + the root's ID and only
//!    c14n/enveloped transforms (so the signed bytes are that assertion);
//! 3. libxmlsec1 verifies the signature with the IdP's certificate and
//!    hands back the canonical bytes it digested (samael's `PreDigest`);
//! 4. every value used (ID, Issuer, NameID, Conditions, SubjectConfirmation)
//!    is read from those canonical bytes, never from the original document,
//!    so anything outside the signature (a wrapped assertion, a comment in
//!    the NameID) has no say.

use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
use base64::Engine;
use roxmltree::{Document, Node, ParsingOptions};
#[cfg(feature = "saml")]
use samael::crypto::{AllowedSignatureAlgorithm, CertificateDer, Crypto, CryptoProvider, ReduceMode};

/// Largest decoded assertion accepted.
pub const MAX_ASSERTION_BYTES: usize = 256 * 1024;
/// Largest `assertion` parameter (base64 of the above, with slack).
pub const MAX_PARAM_BYTES: usize = MAX_ASSERTION_BYTES / 3 * 4 + 8;
/// Deepest element nesting accepted (real assertions stay under 10).
const MAX_DEPTH: usize = 32;
/// Most XML nodes accepted (elements, attributes' text, text).
const MAX_NODES: u32 = 20_000;
/// Clock skew allowed on every SAML time.
pub const LEEWAY: i64 = 30;
/// An assertion may not be valid for longer than this from now.
pub const MAX_LIFETIME: i64 = 3600;

const SAML: &str = "urn:oasis:names:tc:SAML:2.0:assertion";
const DSIG: &str = "http://www.w3.org/2000/09/xmldsig#";
const BEARER: &str = "urn:oasis:names:tc:SAML:2.0:cm:bearer";
/// Transforms that keep the signed bytes equal to the referenced element
/// (no XPath, no XSLT, no comments kept).
const TRANSFORMS: [&str; 4] = [
    "http://www.w3.org/2000/09/xmldsig#enveloped-signature",
    "http://www.w3.org/2001/10/xml-exc-c14n#",
    "http://www.w3.org/TR/2001/REC-xml-c14n-20010315",
    "http://www.w3.org/2006/12/xml-c14n11",
];
#[cfg(feature = "saml")]
const ALGORITHMS: [AllowedSignatureAlgorithm; 6] = [
    AllowedSignatureAlgorithm::RsaSha256,
    AllowedSignatureAlgorithm::RsaSha384,
    AllowedSignatureAlgorithm::RsaSha512,
    AllowedSignatureAlgorithm::EcdsaSha256,
    AllowedSignatureAlgorithm::EcdsaSha384,
    AllowedSignatureAlgorithm::EcdsaSha512,
];

/// A `[[saml_idps]]` entry ready for verification.
#[derive(Debug, Clone)]
pub struct Idp {
    pub entity_id: String,
    /// The certificate, DER.
    pub cert: Vec<u8>,
}

impl Idp {
    /// From the PEM certificate of the config.
    pub fn new(entity_id: &str, certificate_pem: &str) -> Result<Idp, String> {
        let blocks =
            pem::parse_many(certificate_pem).map_err(|e| format!("saml_idps {entity_id:?}: certificate: {e}"))?;
        let cert = blocks
            .into_iter()
            .find(|b| b.tag() == "CERTIFICATE")
            .ok_or_else(|| format!("saml_idps {entity_id:?}: certificate: no PEM CERTIFICATE block"))?;
        Ok(Idp {
            entity_id: entity_id.to_string(),
            cert: cert.into_contents(),
        })
    }
}

/// What a verified assertion says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    /// The assertion's ID (single-use key).
    pub id: String,
    pub issuer: String,
    /// The NameID: the user.
    pub subject: String,
    /// Unix time after which the assertion is no longer valid.
    pub expires_at: i64,
}

/// What the token endpoint checks the assertion against.
pub struct Expect<'a> {
    /// Acceptable `Audience` values (the token endpoint URL, the issuer).
    pub audiences: &'a [&'a str],
    /// The required bearer `Recipient` (the token endpoint URL).
    pub recipient: &'a str,
    pub now: i64,
}

/// The `assertion` parameter: base64url (RFC 7522 §2.1), padding optional;
/// standard base64 is accepted too since some IdP tooling emits it.
pub fn decode_param(param: &str) -> Result<Vec<u8>, String> {
    if param.len() > MAX_PARAM_BYTES {
        return Err(format!("is larger than {} KiB", MAX_ASSERTION_BYTES / 1024));
    }
    let p = param.trim();
    [&URL_SAFE_NO_PAD, &URL_SAFE, &STANDARD, &STANDARD_NO_PAD]
        .iter()
        .find_map(|e| e.decode(p).ok())
        .ok_or_else(|| "is not base64url".to_string())
}

/// Verifies a decoded assertion against the IdPs. Every failure is a
/// sentence fragment following "the assertion ".
pub fn verify(xml: &[u8], idps: &[Idp], expect: &Expect<'_>) -> Result<Verified, String> {
    let text = precheck_text(xml)?;
    let doc = parse(text)?;
    let shape = shape(&doc)?;
    let idp = idps
        .iter()
        .find(|i| i.entity_id == shape.issuer)
        .ok_or("comes from an Issuer that is not a configured saml_idps entity_id")?;
    let signed = signed_part(text, &idp.cert)?;
    let signed_doc = parse(&signed).map_err(|e| format!("signed part is unusable: {e}"))?;
    let root = signed_doc.root_element();
    if !is(root, SAML, "Assertion") || root.attribute("ID") != Some(shape.id.as_str()) {
        return Err("signature does not cover the root Assertion".into());
    }
    rules(root, idp, expect)
}

/// libxmlsec1 checks the signature with the certificate and hands back the
/// canonical bytes it digested.
#[cfg(feature = "saml")]
fn signed_part(text: &str, cert: &[u8]) -> Result<String, String> {
    Crypto::reduce_xml_to_signed_with_allowed_algorithms(
        text,
        &[CertificateDer::from(cert.to_vec())],
        ReduceMode::PreDigest,
        Some(&ALGORITHMS),
    )
    .map_err(|e| format!("signature is not valid for the IdP's certificate ({e})"))
}

/// Without the `saml` feature there is no XML signature check at all (and
/// the config refuses `[[saml_idps]]`, so no request reaches this).
#[cfg(not(feature = "saml"))]
fn signed_part(_text: &str, _cert: &[u8]) -> Result<String, String> {
    Err(format!("cannot be checked: {}", crate::config::NO_SAML))
}

/// Bytes to text, with the cheap refusals first.
fn precheck_text(xml: &[u8]) -> Result<&str, String> {
    if xml.len() > MAX_ASSERTION_BYTES {
        return Err(format!("is larger than {} KiB", MAX_ASSERTION_BYTES / 1024));
    }
    let text = std::str::from_utf8(xml).map_err(|_| "is not UTF-8 XML".to_string())?;
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    // libxml would honour another encoding than the one the checks below
    // read; DTDs are refused outright (entities, billion laughs, XXE).
    let upper = text.to_ascii_uppercase();
    if upper.contains("<!DOCTYPE") || upper.contains("<!ENTITY") {
        return Err("contains a DOCTYPE or ENTITY declaration (not allowed)".into());
    }
    if let Some(rest) = text.strip_prefix("<?xml") {
        let decl = rest.split("?>").next().unwrap_or("").to_ascii_lowercase();
        if decl.contains("encoding") && !(decl.contains("utf-8") || decl.contains("utf8")) {
            return Err("declares an encoding other than UTF-8".into());
        }
    }
    Ok(text)
}

fn parse(text: &str) -> Result<Document<'_>, String> {
    let opts = ParsingOptions {
        allow_dtd: false,
        nodes_limit: MAX_NODES,
        ..ParsingOptions::default()
    };
    let doc = Document::parse_with_options(text, opts).map_err(|e| format!("is not well-formed XML ({e})"))?;
    // Iterative walk: depth is bounded before libxml sees the document.
    let mut stack = vec![(doc.root_element(), 1usize)];
    while let Some((n, depth)) = stack.pop() {
        if depth > MAX_DEPTH {
            return Err(format!("nests elements deeper than {MAX_DEPTH}"));
        }
        stack.extend(n.children().filter(Node::is_element).map(|c| (c, depth + 1)));
    }
    Ok(doc)
}

fn is(n: Node<'_, '_>, ns: &str, name: &str) -> bool {
    n.is_element() && n.tag_name().namespace() == Some(ns) && n.tag_name().name() == name
}

fn children<'a, 'i>(n: Node<'a, 'i>, ns: &'a str, name: &'a str) -> impl Iterator<Item = Node<'a, 'i>> + 'a {
    n.children().filter(move |c| is(*c, ns, name))
}

fn one<'a, 'i>(n: Node<'a, 'i>, ns: &'a str, name: &'a str) -> Result<Node<'a, 'i>, String> {
    let mut it = children(n, ns, name);
    match (it.next(), it.next()) {
        (Some(c), None) => Ok(c),
        (None, _) => Err(format!("has no {name} in {}", n.tag_name().name())),
        (Some(_), Some(_)) => Err(format!("has more than one {name} in {}", n.tag_name().name())),
    }
}

/// The text of an element that must hold text only: a comment or element
/// inside (the `alice<!---->.evil` trick) is refused rather than read as
/// its first text node.
fn text_only(n: Node<'_, '_>) -> Result<String, String> {
    let mut s = String::new();
    for c in n.children() {
        if !c.is_text() {
            return Err(format!("has markup inside {}", n.tag_name().name()));
        }
        s.push_str(c.text().unwrap_or(""));
    }
    let s = s.trim();
    if s.is_empty() {
        return Err(format!("has an empty {}", n.tag_name().name()));
    }
    Ok(s.to_string())
}

struct Shape {
    id: String,
    issuer: String,
}

/// Structural checks on the original document (before the signature): what
/// is signed must be exactly the root assertion.
fn shape(doc: &Document<'_>) -> Result<Shape, String> {
    let root = doc.root_element();
    if !is(root, SAML, "Assertion") {
        return Err("is not a SAML 2.0 Assertion".into());
    }
    let id = root.attribute("ID").filter(|s| !s.is_empty()).ok_or("has no ID")?;
    let sigs: Vec<Node> = root.descendants().filter(|n| is(*n, DSIG, "Signature")).collect();
    let sig = match sigs.as_slice() {
        [] => return Err("is not signed".into()),
        [s] => *s,
        _ => return Err("contains more than one signature (exactly one signed assertion is accepted)".into()),
    };
    if sig.parent() != Some(root) {
        return Err("signature does not cover the root Assertion".into());
    }
    let info = one(sig, DSIG, "SignedInfo")?;
    let reference = one(info, DSIG, "Reference")?;
    if reference.attribute("URI") != Some(format!("#{id}").as_str()) {
        return Err("signature does not reference the root Assertion's ID".into());
    }
    for t in reference.descendants().filter(|n| is(*n, DSIG, "Transform")) {
        if !t.attribute("Algorithm").is_some_and(|a| TRANSFORMS.contains(&a)) {
            return Err("signature uses a transform other than enveloped-signature and canonicalisation".into());
        }
    }
    let issuer = text_only(one(root, SAML, "Issuer")?)?;
    Ok(Shape {
        id: id.to_string(),
        issuer,
    })
}

/// An `xs:dateTime` in UTC as Unix seconds.
fn time(n: Node<'_, '_>, attr: &str) -> Result<Option<i64>, String> {
    let Some(v) = n.attribute(attr) else {
        return Ok(None);
    };
    let t = humantime::parse_rfc3339(v.trim()).map_err(|_| format!("has a malformed {attr} time"))?;
    let secs = t
        .duration_since(std::time::UNIX_EPOCH)
        .map_err(|_| format!("has a {attr} time before 1970"))?
        .as_secs();
    Ok(Some(i64::try_from(secs).unwrap_or(i64::MAX)))
}

/// RFC 7522 §3 on the signed assertion.
fn rules(a: Node<'_, '_>, idp: &Idp, expect: &Expect<'_>) -> Result<Verified, String> {
    let now = expect.now;
    if a.attribute("Version") != Some("2.0") {
        return Err("is not SAML Version 2.0".into());
    }
    let issuer = text_only(one(a, SAML, "Issuer")?)?;
    if issuer != idp.entity_id {
        return Err("Issuer is not the IdP's entity_id".into());
    }

    let conditions = one(a, SAML, "Conditions")?;
    let not_before = time(conditions, "NotBefore")?;
    let cond_not_after = time(conditions, "NotOnOrAfter")?;
    if not_before.is_some_and(|t| t > now + LEEWAY) {
        return Err("is not valid yet (Conditions NotBefore is in the future)".into());
    }
    if cond_not_after.is_some_and(|t| t <= now - LEEWAY) {
        return Err("has expired (Conditions NotOnOrAfter)".into());
    }
    let restrictions: Vec<Node> = children(conditions, SAML, "AudienceRestriction").collect();
    if restrictions.is_empty() {
        return Err("has no AudienceRestriction".into());
    }
    // Each restriction must name us (SAML core §2.5.1.4: all must hold).
    for r in &restrictions {
        let ours = children(*r, SAML, "Audience")
            .filter_map(|n| text_only(n).ok())
            .any(|aud| expect.audiences.contains(&aud.as_str()));
        if !ours {
            return Err("is not for this server (Audience is neither the token endpoint URL nor the issuer)".into());
        }
    }

    let subject = one(a, SAML, "Subject")?;
    let name_id = text_only(one(subject, SAML, "NameID")?)?;
    // §3 item 2: at least one bearer confirmation for our token endpoint,
    // still valid.
    let mut confirmed_until = None;
    let mut why = "has no bearer SubjectConfirmation";
    for sc in children(subject, SAML, "SubjectConfirmation") {
        if sc.attribute("Method") != Some(BEARER) {
            continue;
        }
        let Ok(data) = one(sc, SAML, "SubjectConfirmationData") else {
            why = "has a bearer SubjectConfirmation without SubjectConfirmationData";
            continue;
        };
        if data.attribute("Recipient") != Some(expect.recipient) {
            why = "has a bearer SubjectConfirmation whose Recipient is not the token endpoint URL";
            continue;
        }
        let Some(until) = time(data, "NotOnOrAfter")? else {
            why = "has a bearer SubjectConfirmation without NotOnOrAfter";
            continue;
        };
        if until <= now - LEEWAY {
            why = "has expired (SubjectConfirmationData NotOnOrAfter)";
            continue;
        }
        if time(data, "NotBefore")?.is_some_and(|t| t > now + LEEWAY) {
            why = "is not valid yet (SubjectConfirmationData NotBefore is in the future)";
            continue;
        }
        confirmed_until = Some(until);
        break;
    }
    let confirmed_until = confirmed_until.ok_or(why)?;
    let expires_at = cond_not_after.map_or(confirmed_until, |c| c.min(confirmed_until));
    if expires_at > now + MAX_LIFETIME + LEEWAY {
        return Err(format!(
            "is valid too far into the future (more than {} minutes)",
            MAX_LIFETIME / 60
        ));
    }
    Ok(Verified {
        id: a.attribute("ID").unwrap_or_default().to_string(),
        issuer,
        subject: name_id,
        expires_at,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn expect() -> Expect<'static> {
        Expect {
            audiences: &["https://as.example/api/oauth/token"],
            recipient: "https://as.example/api/oauth/token",
            now: 1_800_000_000,
        }
    }

    #[test]
    fn refuses_doctype_and_deep_or_huge_input_before_libxml() {
        let e = verify(b"<!DOCTYPE lolz [<!ENTITY lol \"lol\">]><a>&lol;</a>", &[], &expect()).unwrap_err();
        assert!(e.contains("DOCTYPE"), "{e}");
        let deep = format!("{}{}", "<a>".repeat(100), "</a>".repeat(100));
        assert!(verify(deep.as_bytes(), &[], &expect()).unwrap_err().contains("deeper"));
        let big = vec![b'a'; MAX_ASSERTION_BYTES + 1];
        assert!(verify(&big, &[], &expect()).unwrap_err().contains("larger"));
        let utf16 = br#"<?xml version="1.0" encoding="UTF-16"?><a/>"#;
        assert!(verify(utf16, &[], &expect()).unwrap_err().contains("encoding"));
    }

    #[test]
    fn param_is_base64url_with_or_without_padding() {
        assert_eq!(decode_param("PGEvPg").unwrap(), b"<a/>");
        assert_eq!(decode_param("PGEvPg==").unwrap(), b"<a/>");
        assert!(decode_param("<a/>").is_err());
        assert!(decode_param(&"A".repeat(MAX_PARAM_BYTES + 1)).is_err());
    }

    #[test]
    fn unsigned_and_misplaced_signatures_are_refused() {
        let unsigned = format!(
            r#"<saml:Assertion xmlns:saml="{SAML}" ID="a1" Version="2.0"><saml:Issuer>x</saml:Issuer></saml:Assertion>"#
        );
        assert_eq!(
            verify(unsigned.as_bytes(), &[], &expect()).unwrap_err(),
            "is not signed"
        );
        let inner = format!(
            r#"<saml:Assertion xmlns:saml="{SAML}" xmlns:ds="{DSIG}" ID="a1" Version="2.0"><saml:Issuer>x</saml:Issuer><saml:Advice><saml:Assertion ID="a2"><ds:Signature/></saml:Assertion></saml:Advice></saml:Assertion>"#
        );
        assert!(verify(inner.as_bytes(), &[], &expect())
            .unwrap_err()
            .contains("root Assertion"));
    }

    #[test]
    fn text_with_a_comment_inside_is_refused() {
        let doc = Document::parse("<n>alice<!---->.evil</n>").unwrap();
        assert!(text_only(doc.root_element()).is_err());
        let doc = Document::parse("<n> alice </n>").unwrap();
        assert_eq!(text_only(doc.root_element()).unwrap(), "alice");
    }
}
