"""Request objects (RFC 9101) made with jwcrypto, for tests/par.rs.

Reads one JSON object per line on stdin, answers one JSON object per line:
  {"new_key": "EC"|"RSA", "kid"}  -> {"key": <private JWK>, "public": <public JWK>}
  {"key": <private JWK>, "claims": {...}, optional "alg", "header" (members
   added to the protected header)}   -> {"jwt": <compact JWS>}
  {"claims": {...}, "alg": "none"}  -> {"jwt": <unsigned JWT>}
jwcrypto signs, so nothing here is gatehouse's code.
"""
import base64
import json
import sys

from jwcrypto import jwk, jws
from jwcrypto.common import json_encode


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def answer(req):
    if "new_key" in req:
        if req["new_key"] == "RSA":
            k = jwk.JWK.generate(kty="RSA", size=2048, kid=req.get("kid"), alg="PS256", use="sig")
        else:
            k = jwk.JWK.generate(kty="EC", crv="P-256", kid=req.get("kid"), alg="ES256", use="sig")
        return {"key": json.loads(k.export_private()), "public": json.loads(k.export_public())}
    claims = req["claims"]
    if req.get("alg") == "none":
        head = b64(json.dumps({"alg": "none"}).encode())
        return {"jwt": f"{head}.{b64(json.dumps(claims).encode())}."}
    key = jwk.JWK(**req["key"])
    alg = req.get("alg") or req["key"].get("alg") or "ES256"
    header = {"alg": alg, "typ": "oauth-authz-req+jwt"}
    if req["key"].get("kid"):
        header["kid"] = req["key"]["kid"]
    header.update(req.get("header") or {})
    token = jws.JWS(json_encode(claims).encode())
    token.add_signature(key, alg=alg, protected=json_encode(header))
    return {"jwt": token.serialize(compact=True)}


for line in sys.stdin:
    line = line.strip()
    if line:
        print(json.dumps(answer(json.loads(line))), flush=True)
