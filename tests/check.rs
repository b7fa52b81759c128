//! `gatehouse check` names the file, line and reason of each config error;
//! `gatehouse keygen` writes the three key files safely.

mod common;

use common::run;
use serde_json::Value;
use std::path::Path;

/// Writes `text` as a config and runs `gatehouse check` on it.
fn check(dir: &Path, text: &str) -> (i32, String, String) {
    let f = dir.join("gatehouse.toml");
    std::fs::write(&f, text).unwrap();
    let o = run(&["check", "--config", f.to_str().unwrap()]);
    (
        o.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

/// Asserts exit 1 and `FILE:LINE:` followed (on the same line) by `reason`.
fn assert_refused(dir: &Path, text: &str, line: usize, reason: &str) {
    let (code, _, err) = check(dir, text);
    assert_eq!(code, 1, "expected exit 1 for:\n{text}\nstderr: {err}");
    let at = format!("{}:{line}:", dir.join("gatehouse.toml").display());
    assert!(
        err.lines().any(|l| l.contains(&at) && l.contains(reason)),
        "expected {at:?} and {reason:?} in:\n{err}"
    );
}

#[test]
fn unknown_field_names_file_line_and_field() {
    let d = tempfile::tempdir().unwrap();
    assert_refused(
        d.path(),
        "listen = \"127.0.0.1:0\"\n\n[[apis]]\npath = \"/a\"\nbackend = { mock = {} }\ncolour = \"red\"\n",
        6,
        "unknown field `colour`",
    );
    assert_refused(
        d.path(),
        "[[apis]]\npath = \"/a\"\nbackend = { mock = {}, retries = 3 }\n",
        3,
        "unknown field `retries`",
    );
}

#[test]
fn bad_duration_names_file_line_and_value() {
    let d = tempfile::tempdir().unwrap();
    assert_refused(
        d.path(),
        "[tokens]\naccess_ttl = \"1h\"\ncode_ttl = \"sixty\"\n",
        3,
        "invalid duration \"sixty\"",
    );
    assert_refused(
        d.path(),
        "[[apis]]\npath = \"/a\"\nbackend = { upstream = \"http://127.0.0.1:1\", timeout = \"5 parsecs\" }\n",
        3,
        "invalid duration",
    );
}

#[test]
fn duplicate_api_path_names_the_second_declaration() {
    let d = tempfile::tempdir().unwrap();
    assert_refused(
        d.path(),
        "[[apis]]\npath = \"/work\"\nbackend = { mock = {} }\n\n[[apis]]\npath = \"/work/\"\nbackend = { mock = {} }\n",
        6,
        "duplicate api path \"/work\"",
    );
}

#[test]
fn missing_key_file_names_the_auth_line_and_the_file() {
    let d = tempfile::tempdir().unwrap();
    assert_refused(
        d.path(),
        "[[apis]]\npath = \"/work\"\nauth = { kind = \"jwt\", jwk = \"keys/nope.jwk.json\" }\nbackend = { mock = {} }\n",
        3,
        "nope.jwk.json",
    );
}

#[test]
fn a_jwk_that_is_not_a_public_key_is_refused() {
    let d = tempfile::tempdir().unwrap();
    let n = "43nSuC6lmGLogEPgFVwaaxAmPDzmZcocRB4Jed_dHc-sV7rcAcNB0iHyuGfNkfOAE2uhHVjdXuO6DBYGz4pnTwRZ5_wFrW0DlrlJQAXSvg6B2N1uda_aqySNw3rrvdh38rVG7HxFmyPbLXcpJtyfkiRNyZ1WhSpH0NciIRrFbW2mKRtOZsBGfBgmNqPGcGrMA71cuqNAQ9RMKmAF37iGXkx0tWMBQ_PL2aviHhtsiPbT3zIO7qUG3cleBHnS61kid3K8F38z9-5Hj-1zdTIP8iS4rAt4FmhvKvtOocRPYGq0W_dLLxmi4DYgIV2GJE93WyZ1EUvgRGhpcHvyT65z4w";
    // A private RSA JWK in a file.
    std::fs::write(
        d.path().join("private.jwk.json"),
        format!(r#"{{"kty":"RSA","e":"AQAB","n":"{n}","d":"AAAA"}}"#),
    )
    .unwrap();
    assert_refused(
        d.path(),
        "[[apis]]\npath = \"/a\"\nbackend = { mock = {} }\n\n[[apis]]\npath = \"/b\"\nauth = { kind = \"jwt\", jwk = \"private.jwk.json\" }\nbackend = { mock = {} }\n",
        7,
        "private member \"d\"",
    );
    // A symmetric key, inline.
    assert_refused(
        d.path(),
        "[[apis]]\npath = \"/b\"\nauth = { kind = \"jwt\", jwk = { kty = \"oct\", k = \"c2VjcmV0\" } }\nbackend = { mock = {} }\n",
        3,
        "symmetric",
    );
    // A JWKS file with one good and one private key: the bad one is named.
    std::fs::write(
        d.path().join("set.json"),
        format!(r#"{{"keys":[{{"kty":"RSA","e":"AQAB","n":"{n}"}},{{"kty":"RSA","e":"AQAB","n":"{n}","p":"AA"}}]}}"#),
    )
    .unwrap();
    assert_refused(
        d.path(),
        "[[apis]]\npath = \"/b\"\nauth = { kind = \"jwt\", jwks_file = \"set.json\" }\nbackend = { mock = {} }\n",
        3,
        "key #1: the JWK contains private member \"p\"",
    );
}

#[test]
fn a_valid_file_exits_0() {
    let d = tempfile::tempdir().unwrap();
    common::keygen("RS256", &d.path().join("keys"));
    let (code, out, err) = check(
        d.path(),
        r#"listen = "127.0.0.1:9000"

[[apis]]
name = "authorization"
path = "/token"
backend = { upstream = "http://127.0.0.1:9001", timeout = "10s" }

[[apis]]
name = "work"
path = "/work"
methods = ["GET", "POST"]
auth = { kind = "jwt", jwk = "keys/public.jwk.json", location = "cookie", name = "id_token", leeway = "5s" }
backend = { mock = { body = "hello world" } }
"#,
    );
    assert_eq!(code, 0, "stdout: {out}\nstderr: {err}");
    assert!(out.contains("ok (2 apis"), "{out}");
}

fn mode(p: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p).unwrap().permissions().mode() & 0o777
}

#[test]
fn keygen_writes_three_files_private_0600_and_refuses_to_overwrite() {
    let d = tempfile::tempdir().unwrap();
    for alg in ["RS256", "PS256", "ES256", "EdDSA"] {
        let out = d.path().join(alg);
        let o = run(&["keygen", "--alg", alg, "--out", out.to_str().unwrap()]);
        assert!(o.status.success(), "{alg}: {}", String::from_utf8_lossy(&o.stderr));
        for f in ["private.pem", "public.pem", "public.jwk.json"] {
            assert!(out.join(f).is_file(), "{alg}: {f} missing");
        }
        assert_eq!(mode(&out.join("private.pem")), 0o600, "{alg}");
        assert!(std::fs::read_to_string(out.join("private.pem"))
            .unwrap()
            .starts_with("-----BEGIN PRIVATE KEY-----"));
        assert!(std::fs::read_to_string(out.join("public.pem"))
            .unwrap()
            .starts_with("-----BEGIN PUBLIC KEY-----"));
        let jwk: Value = serde_json::from_str(&std::fs::read_to_string(out.join("public.jwk.json")).unwrap()).unwrap();
        assert_eq!(jwk["alg"], alg);
        assert_eq!(jwk["use"], "sig");
        assert!(jwk["kid"].as_str().is_some_and(|k| !k.is_empty()), "{jwk}");
        assert!(jwk.get("d").is_none(), "public JWK carries a private member: {jwk}");

        // A second run refuses and leaves the key as it was.
        let before = std::fs::read(out.join("private.pem")).unwrap();
        let o = run(&["keygen", "--alg", alg, "--out", out.to_str().unwrap()]);
        assert_eq!(o.status.code(), Some(1), "{alg}");
        assert!(String::from_utf8_lossy(&o.stderr).contains("--force"), "{alg}");
        assert_eq!(std::fs::read(out.join("private.pem")).unwrap(), before);

        // --force replaces it, still 0600 and still accepted by `check`.
        let o = run(&["keygen", "--alg", alg, "--out", out.to_str().unwrap(), "--force"]);
        assert!(o.status.success(), "{alg}");
        assert_ne!(std::fs::read(out.join("private.pem")).unwrap(), before);
        assert_eq!(mode(&out.join("private.pem")), 0o600, "{alg}");
        let (code, _, err) = check(
            d.path(),
            &format!(
                "[[apis]]\npath = \"/a\"\nauth = {{ kind = \"jwt\", jwk = \"{alg}/public.jwk.json\" }}\nbackend = {{ mock = {{}} }}\n"
            ),
        );
        assert_eq!(code, 0, "{alg}: {err}");
    }
    let o = run(&[
        "keygen",
        "--alg",
        "HS256",
        "--out",
        d.path().join("hs").to_str().unwrap(),
    ]);
    assert!(!o.status.success());
    assert!(!d.path().join("hs").exists());
}
