"""Verifies JWTs with jwcrypto, for tests/introspection_jwt.rs and
tests/backchannel_logout.rs: nothing here is gatehouse's code.

Reads one JSON object per line on stdin, answers one per line:
  {"jwks": <JWK Set>, "jwt": <compact JWS>}
      -> {"header": {...}, "claims": {...}}   signature good, by the key of
                                              the set its `kid` names
      -> {"error": "..."}                     anything else
Claims are not judged here (no exp/iat checks): the tests look at them.
"""
import json
import sys

from jwcrypto import jwk, jwt

ALGS = ["RS256", "PS256", "ES256", "EdDSA"]


def answer(req):
    keys = jwk.JWKSet.from_json(json.dumps(req["jwks"]))
    try:
        t = jwt.JWT(jwt=req["jwt"], key=keys, algs=ALGS, check_claims=False, expected_type="JWS")
    except Exception as e:  # noqa: BLE001 - the test wants the reason
        return {"error": f"{type(e).__name__}: {e}"}
    return {"header": json.loads(t.header), "claims": json.loads(t.claims)}


for line in sys.stdin:
    line = line.strip()
    if line:
        print(json.dumps(answer(json.loads(line))), flush=True)
