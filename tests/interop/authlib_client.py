"""client_credentials, password, refresh, revocation and introspection against
a running gatehouse with Python Authlib, an independent OAuth 2.0 client.

Everything is discovered from the issuer (RFC 8414); for JWT access tokens
the signature is verified with the published JWKS (authlib.jose) and the
RFC 9068 shape is checked.

usage: authlib_client.py ISSUER CLIENT_ID CLIENT_SECRET USERNAME PASSWORD SCOPE FORMAT
       (FORMAT is jwt or opaque)
"""
import sys
import warnings

import requests
from authlib.integrations.requests_client import OAuth2Session

warnings.simplefilter("ignore")  # authlib.jose announces its move to joserfc

issuer, client_id, client_secret, username, password, scope, fmt = sys.argv[1:8]
issuer = issuer.rstrip("/")
checks = 0


def check(cond, what, detail=None):
    global checks
    if not cond:
        extra = f" ({detail!r})" if detail is not None else ""
        print(f"FAILED: {what}{extra}", file=sys.stderr)
        sys.exit(1)
    checks += 1


# RFC 8414 discovery: the issuer is all the client is told.
resp = requests.get(f"{issuer}/.well-known/oauth-authorization-server", timeout=10)
check(resp.status_code == 200, "discovery answers 200", resp.status_code)
meta = resp.json()
check(meta.get("issuer") == issuer, "discovery issuer equals the issuer", meta.get("issuer"))
for key in ("token_endpoint", "revocation_endpoint", "introspection_endpoint", "jwks_uri"):
    check(isinstance(meta.get(key), str) and meta[key].startswith(issuer), f"discovery lists {key}", meta.get(key))
for grant in ("client_credentials", "password", "refresh_token"):
    check(grant in meta.get("grant_types_supported", []), f"discovery lists grant {grant}")
for method in ("client_secret_basic", "client_secret_post"):
    check(method in meta.get("token_endpoint_auth_methods_supported", []), f"discovery lists {method}")
token_url = meta["token_endpoint"]


def token_shape(tok, what):
    check(str(tok.get("token_type", "")).lower() == "bearer", f"{what}: token_type Bearer", tok.get("token_type"))
    check(isinstance(tok.get("expires_in"), int) and tok["expires_in"] > 0, f"{what}: expires_in > 0", tok.get("expires_in"))
    check(isinstance(tok.get("access_token"), str) and tok["access_token"], f"{what}: access_token")


# 1. client_credentials, client_secret_basic.
basic = OAuth2Session(client_id, client_secret, token_endpoint_auth_method="client_secret_basic")
cc = basic.fetch_token(token_url, grant_type="client_credentials", scope=scope)
token_shape(cc, "client_credentials")
check("refresh_token" not in cc, "client_credentials: no refresh token (RFC 6749 §4.4.3)")
check(set(cc.get("scope", "").split()) == set(scope.split()), "client_credentials: scope granted", cc.get("scope"))

# 2. password grant, client_secret_post, with scope.
post = OAuth2Session(client_id, client_secret, token_endpoint_auth_method="client_secret_post", scope=scope)
pw = post.fetch_token(token_url, username=username, password=password)
token_shape(pw, "password")
check(isinstance(pw.get("refresh_token"), str) and pw["refresh_token"], "password: refresh token issued")
check(set(pw.get("scope", "").split()) == set(scope.split()), "password: scope granted", pw.get("scope"))

# 3. refresh: rotation gives a new refresh token (and a new access token).
old_refresh = pw["refresh_token"]
rt = post.refresh_token(token_url, refresh_token=old_refresh)
token_shape(rt, "refresh")
check(rt.get("refresh_token") and rt["refresh_token"] != old_refresh, "refresh: a NEW refresh token")
check(rt["access_token"] != pw["access_token"], "refresh: a new access token")

# 4. introspection (client authenticated): active before revocation.
intro_url = meta["introspection_endpoint"]
r = post.introspect_token(intro_url, token=rt["access_token"], token_type_hint="access_token")
check(r.status_code == 200, "introspect: 200", r.status_code)
info = r.json()
check(info.get("active") is True, "introspect: access token active", info)
check(info.get("client_id") == client_id, "introspect: client_id", info.get("client_id"))
check(info.get("sub") == username, "introspect: sub is the user", info.get("sub"))
check(set(info.get("scope", "").split()) == set(scope.split()), "introspect: scope", info.get("scope"))
r = post.introspect_token(intro_url, token=rt["refresh_token"], token_type_hint="refresh_token")
check(r.status_code == 200 and r.json().get("active") is True, "introspect: refresh token active", r.text)
r = post.introspect_token(intro_url, token=old_refresh, token_type_hint="refresh_token")
check(r.status_code == 200 and r.json().get("active") is False, "introspect: rotated-out refresh token inactive", r.text)

# 5. revocation (RFC 7009), then introspection says inactive.
revoke_url = meta["revocation_endpoint"]
r = post.revoke_token(revoke_url, token=rt["access_token"], token_type_hint="access_token")
check(r.status_code == 200, "revoke access token: 200", r.status_code)
r = post.introspect_token(intro_url, token=rt["access_token"], token_type_hint="access_token")
check(r.status_code == 200 and r.json().get("active") is False, "introspect: revoked access token inactive", r.text)
r = post.revoke_token(revoke_url, token=rt["refresh_token"], token_type_hint="refresh_token")
check(r.status_code == 200, "revoke refresh token: 200", r.status_code)
r = post.introspect_token(intro_url, token=rt["refresh_token"], token_type_hint="refresh_token")
check(r.status_code == 200 and r.json().get("active") is False, "introspect: revoked refresh token inactive", r.text)
r = post.revoke_token(revoke_url, token="never-issued", token_type_hint="access_token")
check(r.status_code == 200, "revoke unknown token: 200 (RFC 7009 §2.2)", r.status_code)

# 6. JWT access tokens: signature with the JWKS and the RFC 9068 shape.
if fmt == "jwt":
    from authlib.jose import JsonWebKey, JsonWebToken

    jwks = requests.get(meta["jwks_uri"], timeout=10).json()
    check(len(jwks.get("keys", [])) >= 1, "JWKS has keys")
    key_set = JsonWebKey.import_key_set(jwks)
    jwt = JsonWebToken(["RS256", "ES256", "EdDSA"])
    for what, access, sub in (("client_credentials", cc["access_token"], client_id), ("password", pw["access_token"], username)):
        claims = jwt.decode(access, key_set, claims_options={"iss": {"essential": True, "value": issuer}})
        claims.validate()  # exp, iat, iss
        check(claims.header.get("typ") == "at+jwt", f"{what} JWT: typ at+jwt", claims.header.get("typ"))
        check(bool(claims.header.get("kid")), f"{what} JWT: kid")
        check(claims.get("iss") == issuer, f"{what} JWT: iss", claims.get("iss"))
        check(claims.get("client_id") == client_id, f"{what} JWT: client_id", claims.get("client_id"))
        check(claims.get("sub") == sub, f"{what} JWT: sub", claims.get("sub"))
        check(set(str(claims.get("scope", "")).split()) == set(scope.split()), f"{what} JWT: scope", claims.get("scope"))
        check(bool(claims.get("jti")) and bool(claims.get("aud")), f"{what} JWT: jti and aud")
    # A tampered token must not verify.
    head, body, sig = cc["access_token"].split(".")
    tampered = f"{head}.{body}.{sig[:-4]}{'AAAA' if sig[-4:] != 'AAAA' else 'BBBB'}"
    try:
        jwt.decode(tampered, key_set)
        check(False, "a tampered JWT is rejected")
    except Exception:  # noqa: BLE001 - any verification error is the expected outcome
        check(True, "a tampered JWT is rejected")
elif fmt == "opaque":
    check(cc["access_token"].count(".") != 2, "opaque access token is not a JWT")
else:
    check(False, "FORMAT is jwt or opaque", fmt)

print(f"authlib interop: {checks} checks passed")
