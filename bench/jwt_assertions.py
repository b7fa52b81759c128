#!/usr/bin/env python3
"""Pre-signs RFC 7523 JWT bearer assertions for bench/token.sh with Python's
`cryptography` (ES256), so the load generator only replays strings and
gatehouse sees a distinct jti on every request.

  jwt_assertions.py jwk KEY_PEM KID            public JWK (JSON) of a P-256 key
  jwt_assertions.py sign KEY_PEM KID ISS SUB AUD OUT_PREFIX FILES PER_FILE
        writes OUT_PREFIX-<i>.txt for i in 0..FILES-1, PER_FILE assertions
        each, one per line (exp = now + 55 min)
"""
import base64
import json
import sys
import time
import uuid

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature


def b64(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def load(path):
    with open(path, "rb") as f:
        return serialization.load_pem_private_key(f.read(), password=None)


def main():
    cmd, pem, kid = sys.argv[1:4]
    key = load(pem)
    if cmd == "jwk":
        n = key.public_key().public_numbers()
        print(json.dumps({"kty": "EC", "crv": "P-256", "alg": "ES256", "use": "sig", "kid": kid,
                          "x": b64(n.x.to_bytes(32, "big")), "y": b64(n.y.to_bytes(32, "big"))}))
        return
    iss, sub, aud, prefix = sys.argv[4:8]
    files, per_file = int(sys.argv[8]), int(sys.argv[9])
    header = b64(json.dumps({"alg": "ES256", "typ": "JWT", "kid": kid}).encode())
    now = int(time.time())
    for i in range(files):
        with open(f"{prefix}-{i}.txt", "w") as out:
            for _ in range(per_file):
                claims = {"iss": iss, "sub": sub, "aud": aud, "iat": now, "exp": now + 3300,
                          "jti": uuid.uuid4().hex}
                signing_input = f"{header}.{b64(json.dumps(claims).encode())}"
                r, s = decode_dss_signature(key.sign(signing_input.encode(), ec.ECDSA(hashes.SHA256())))
                out.write(f"{signing_input}.{b64(r.to_bytes(32, 'big') + s.to_bytes(32, 'big'))}\n")


if __name__ == "__main__":
    main()
