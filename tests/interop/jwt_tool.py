#!/usr/bin/env python3
"""Signs JWTs with jwcrypto (an independent JOSE implementation), so the
client and grant assertions gatehouse's tests verify are made by a tool
this project did not write.

  jwt_tool.py jwk PEM ALG      public JWK of a PEM private key (kid = RFC 7638
                               thumbprint) as JSON
  jwt_tool.py sign < SPECS     SPECS: JSON list of {"alg", "claims", and
                               "pem" (private key file) or "secret" (HMAC
                               key), optional "kid"}; prints a JSON list of
                               compact JWTs
"""
import json
import sys

from jwcrypto import jwk, jwt


def key_of(spec):
    if "pem" in spec:
        with open(spec["pem"], "rb") as f:
            return jwk.JWK.from_pem(f.read())
    return jwk.JWK(kty="oct", k=jwk.base64url_encode(spec["secret"].encode()))


def main():
    if sys.argv[1] == "jwk":
        with open(sys.argv[2], "rb") as f:
            k = jwk.JWK.from_pem(f.read())
        pub = json.loads(k.export_public())
        pub["kid"] = k.thumbprint()
        pub["alg"] = sys.argv[3]
        pub["use"] = "sig"
        print(json.dumps(pub))
        return
    out = []
    for spec in json.load(sys.stdin):
        header = {"alg": spec["alg"], "typ": "JWT"}
        if spec.get("kid"):
            header["kid"] = spec["kid"]
        t = jwt.JWT(header=header, claims=spec["claims"])
        t.make_signed_token(key_of(spec))
        out.append(t.serialize())
    print(json.dumps(out))


if __name__ == "__main__":
    main()
