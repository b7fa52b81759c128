//! Keys written by `gatehouse keygen` load in the tools people use beside
//! it (OpenSSL's CLI, Python `cryptography`, Node `crypto`), and tokens those
//! tools sign with them pass the gateway's `jwt` policy.

mod common;

use common::{keygen, Gatehouse};
use std::process::Command;

const CLAIMS: &str = r#"{"sub":"alice","iss":"https://issuer.example","exp":4102444800}"#;

const PYTHON: &str = r#"
import base64, json, sys
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
pem, alg, kid, claims = sys.argv[1:5]
key = serialization.load_pem_private_key(open(pem, "rb").read(), password=None)
serialization.load_pem_public_key(open(pem.replace("private", "public"), "rb").read())
b64 = lambda b: base64.urlsafe_b64encode(b).rstrip(b"=").decode()
signing_input = (b64(json.dumps({"alg": alg, "kid": kid, "typ": "JWT"}).encode()) + "." + b64(claims.encode())).encode()
if isinstance(key, rsa.RSAPrivateKey) and alg == "PS256":
    sig = key.sign(signing_input, padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=32), hashes.SHA256())
elif isinstance(key, rsa.RSAPrivateKey):
    sig = key.sign(signing_input, padding.PKCS1v15(), hashes.SHA256())
elif isinstance(key, ec.EllipticCurvePrivateKey):
    r, s = decode_dss_signature(key.sign(signing_input, ec.ECDSA(hashes.SHA256())))
    sig = r.to_bytes(32, "big") + s.to_bytes(32, "big")
elif isinstance(key, ed25519.Ed25519PrivateKey):
    sig = key.sign(signing_input)
else:
    sys.exit("unexpected key type %r" % type(key))
print(signing_input.decode() + "." + b64(sig))
"#;

const NODE: &str = r#"
const crypto = require("crypto");
const fs = require("fs");
const [pem, alg, kid, claims] = process.argv.slice(1); // `node -e`: no script path in argv
const key = crypto.createPrivateKey(fs.readFileSync(pem));
crypto.createPublicKey(fs.readFileSync(pem.replace("private", "public")));
const b64 = (b) => Buffer.from(b).toString("base64url");
const input = b64(JSON.stringify({ alg, kid, typ: "JWT" })) + "." + b64(claims);
const digest = alg === "EdDSA" ? null : "sha256";
const pss = alg === "PS256" ? { padding: crypto.constants.RSA_PKCS1_PSS_PADDING, saltLength: 32 } : {};
const sig = crypto.sign(digest, Buffer.from(input), { key, dsaEncoding: "ieee-p1363", ...pss });
console.log(input + "." + b64(sig));
"#;

fn run(cmd: &mut Command, what: &str) -> String {
    let out = cmd.output().unwrap_or_else(|e| panic!("{what}: {e}"));
    assert!(
        out.status.success(),
        "{what} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

#[tokio::test(flavor = "multi_thread")]
async fn keygen_keys_load_in_openssl_python_and_node_and_their_tokens_pass() {
    let dir = tempfile::tempdir().unwrap();
    let mut apis = String::new();
    let mut keys = Vec::new();
    for alg in ["RS256", "PS256", "ES256", "EdDSA"] {
        let d = keygen(alg, &dir.path().join(alg));
        let jwk: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(d.join("public.jwk.json")).unwrap()).unwrap();
        let kid = jwk["kid"].as_str().unwrap().to_string();
        apis.push_str(&format!(
            "[[apis]]\npath = \"/{alg}\"\nauth = {{ kind = \"jwt\", jwk = \"{}\" }}\nbackend = {{ mock = {{ body = \"ok\" }} }}\n\n",
            d.join("public.jwk.json").display()
        ));
        keys.push((alg, d, kid));
    }
    let gh = Gatehouse::start(&apis);
    let c = common::client();
    for (alg, d, kid) in &keys {
        let private = d.join("private.pem");
        let private = private.to_str().unwrap();
        let public = d.join("public.pem");
        run(
            Command::new("openssl").args(["pkey", "-in", private, "-noout"]),
            &format!("openssl pkey {alg}"),
        );
        run(
            Command::new("openssl").args(["pkey", "-pubin", "-in", public.to_str().unwrap(), "-noout"]),
            &format!("openssl pkey -pubin {alg}"),
        );
        let py = run(
            Command::new("python3").args(["-c", PYTHON, private, alg, kid, CLAIMS]),
            &format!("python cryptography {alg}"),
        );
        let node = run(
            Command::new("node").args(["-e", NODE, private, alg, kid, CLAIMS]),
            &format!("node crypto {alg}"),
        );
        for (who, token) in [("python", &py), ("node", &node)] {
            let r = c
                .get(gh.url(&format!("/{alg}")))
                .bearer_auth(token)
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 200, "{alg} token signed by {who} refused: {token}");
        }
    }
}
