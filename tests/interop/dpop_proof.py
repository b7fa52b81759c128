"""DPoP proofs (RFC 9449) made with jwcrypto, for tests/dpop.rs.

Reads one JSON object per line on stdin, answers one JSON object per line:
  {"new_key": "EC"|"RSA"}         -> {"key": <private JWK>, "jkt": <RFC 7638 thumbprint>}
  {"key": <private JWK>, "htm", "htu", optional "nonce", "ath_of" (the
   access token), "jti", "iat", "typ", "alg", "jwk" (a header jwk to put
   instead of the key's public one)}   -> {"proof": <compact JWS>}
  {"sign_jwt": <claims>, "key": <private JWK>} -> {"jwt": <ES256 JWT, typ at+jwt>}
   (an access token of an issuer other than gatehouse, for jwt routes)
jwcrypto signs and computes thumbprints, so nothing here is gatehouse's code.
"""
import base64
import hashlib
import json
import sys
import time
import uuid

from jwcrypto import jwk, jws
from jwcrypto.common import json_encode


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def answer(req):
    if "new_key" in req:
        if req["new_key"] == "RSA":
            k = jwk.JWK.generate(kty="RSA", size=2048)
        else:
            k = jwk.JWK.generate(kty="EC", crv="P-256")
        return {"key": json.loads(k.export_private()), "jkt": k.thumbprint()}
    key = jwk.JWK(**req["key"])
    if "sign_jwt" in req:
        t = jws.JWS(json_encode(req["sign_jwt"]).encode())
        t.add_signature(key, alg="ES256", protected=json_encode({"alg": "ES256", "typ": "at+jwt"}))
        return {"jwt": t.serialize(compact=True)}
    alg = req.get("alg") or ("ES256" if req["key"]["kty"] == "EC" else "PS256")
    claims = {
        "jti": req.get("jti") or str(uuid.uuid4()),
        "htm": req["htm"],
        "htu": req["htu"],
        "iat": req.get("iat") or int(time.time()),
    }
    if req.get("nonce"):
        claims["nonce"] = req["nonce"]
    if req.get("ath_of"):
        claims["ath"] = b64(hashlib.sha256(req["ath_of"].encode()).digest())
    header = {
        "typ": req.get("typ", "dpop+jwt"),
        "alg": alg,
        "jwk": req.get("jwk") or json.loads(key.export_public()),
    }
    token = jws.JWS(json_encode(claims).encode())
    token.add_signature(key, alg=alg, protected=json_encode(header))
    return {"proof": token.serialize(compact=True)}


for line in sys.stdin:
    line = line.strip()
    if line:
        print(json.dumps(answer(json.loads(line))), flush=True)
