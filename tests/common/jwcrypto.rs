//! Python jwcrypto behind a pipe (one JSON request per line): DPoP proofs
//! (tests/interop/dpop_proof.py) and signed request objects
//! (tests/interop/request_object.py), made by a library this project did
//! not write, and signatures of gatehouse's own JWTs checked by it
//! (tests/interop/jwt_verify.py).

use serde_json::{json, Value};
use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};

pub struct Jwcrypto {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
}

impl Jwcrypto {
    /// Starts `tests/interop/<script>`.
    pub fn start(script: &str) -> Jwcrypto {
        let path = format!("{}/tests/interop/{script}", env!("CARGO_MANIFEST_DIR"));
        let mut child = Command::new("python3")
            .arg(path)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("python3 with jwcrypto (./test.sh installs it)");
        let stdin = child.stdin.take().unwrap();
        let stdout = BufReader::new(child.stdout.take().unwrap());
        Jwcrypto { child, stdin, stdout }
    }

    /// The DPoP proof maker (dpop_proof.py).
    pub fn dpop() -> Jwcrypto {
        Self::start("dpop_proof.py")
    }

    pub fn ask(&mut self, req: Value) -> Value {
        writeln!(self.stdin, "{req}").unwrap();
        let mut line = String::new();
        self.stdout.read_line(&mut line).unwrap();
        serde_json::from_str(&line).unwrap_or_else(|e| panic!("jwcrypto answered {line:?}: {e}"))
    }

    /// `base` with `extra`'s members added (overriding), asked.
    pub fn ask_with(&mut self, mut base: Value, extra: Value) -> Value {
        if let (Some(o), Some(e)) = (base.as_object_mut(), extra.as_object()) {
            o.extend(e.clone());
        }
        self.ask(base)
    }

    /// The verifier (jwt_verify.py).
    pub fn verifier() -> Jwcrypto {
        Self::start("jwt_verify.py")
    }

    /// (jwt_verify.py) The header and claims of `jwt` if a key of `jwks`
    /// (the one its `kid` names) verifies its signature; why not otherwise.
    pub fn verify(&mut self, jwks: &Value, jwt: &str) -> Result<(Value, Value), String> {
        let r = self.ask(json!({"jwks": jwks, "jwt": jwt}));
        match r.get("error") {
            Some(e) => Err(e.as_str().unwrap_or("?").to_string()),
            None => Ok((r["header"].clone(), r["claims"].clone())),
        }
    }

    /// (dpop_proof.py) A new private JWK and its thumbprint.
    pub fn key(&mut self, kty: &str) -> (Value, String) {
        let r = self.ask(json!({"new_key": kty}));
        (r["key"].clone(), r["jkt"].as_str().unwrap().to_string())
    }

    /// (dpop_proof.py) A proof for `htm` `htu`; `extra` adds or overrides
    /// members (`ath_of`, `nonce`, `iat`, `typ`, …).
    pub fn proof(&mut self, key: &Value, htm: &str, htu: &str, extra: Value) -> String {
        self.ask_with(json!({"key": key, "htm": htm, "htu": htu}), extra)["proof"]
            .as_str()
            .unwrap()
            .to_string()
    }
}

impl Drop for Jwcrypto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
