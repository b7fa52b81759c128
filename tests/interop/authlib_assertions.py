#!/usr/bin/env python3
"""Interop: Authlib's own RFC 7523 classes, unchanged, against gatehouse.

  authlib_assertions.py ISSUER CSJ_ID CSJ_SECRET PKJ_ID PKJ_KEY_PEM \
      APP_ID APP_SECRET IDP_ISSUER IDP_KEY_PEM IDP_KID USER API_URL

1. ClientSecretJWT client authentication: client_credentials, then
   introspection and revocation authenticated the same way.
2. PrivateKeyJWT client authentication (RS256): client_credentials and
   introspection.
3. The JWT bearer grant with AssertionSession (authlib.oauth2.rfc7523's
   JWTBearerGrant signs the assertion); the token is then used on an API.
Prints "authlib assertions: N checks passed" last.
"""
import sys

from authlib.integrations.requests_client import AssertionSession, OAuth2Session
from authlib.oauth2.rfc7523 import ClientSecretJWT, PrivateKeyJWT

(issuer, csj_id, csj_secret, pkj_id, pkj_pem, app_id, app_secret,
 idp_issuer, idp_pem, idp_kid, user, api_url) = sys.argv[1:13]
token_url = issuer + "/api/oauth/token"
introspect_url = issuer + "/api/oauth/introspect"
revoke_url = issuer + "/api/oauth/revoke"
checks = 0


def check(cond, what):
    global checks
    if not cond:
        sys.exit(f"FAILED: {what}")
    checks += 1


# 1. client_secret_jwt
s = OAuth2Session(csj_id, csj_secret, token_endpoint_auth_method="client_secret_jwt", scope="api")
s.register_client_auth_method(ClientSecretJWT(token_url))
tok = s.fetch_token(token_url, grant_type="client_credentials")
check(tok.get("token_type", "").lower() == "bearer", f"client_secret_jwt token: {tok}")
r = s.introspect_token(introspect_url, token=tok["access_token"])
check(r.status_code == 200 and r.json().get("active") is True, f"introspect: {r.text}")
check(r.json().get("client_id") == csj_id, f"introspected client: {r.text}")
r = s.revoke_token(revoke_url, token=tok["access_token"], auth=s.client_auth("client_secret_jwt"))
check(r.status_code == 200, f"revoke: {r.status_code} {r.text}")
r = s.introspect_token(introspect_url, token=tok["access_token"])
check(r.json().get("active") is False, f"revoked token still active: {r.text}")

# 2. private_key_jwt
with open(pkj_pem) as f:
    pkj_key = f.read()
s = OAuth2Session(pkj_id, pkj_key, token_endpoint_auth_method="private_key_jwt", scope="api")
s.register_client_auth_method(PrivateKeyJWT(token_url))
tok = s.fetch_token(token_url, grant_type="client_credentials")
check("access_token" in tok, f"private_key_jwt token: {tok}")
r = s.introspect_token(introspect_url, token=tok["access_token"])
check(r.status_code == 200 and r.json().get("active") is True, f"introspect: {r.text}")

# 3. JWT bearer grant
with open(idp_pem) as f:
    idp_key = f.read()
a = AssertionSession(
    token_endpoint=token_url,
    issuer=idp_issuer,
    subject=user,
    audience=token_url,
    key=idp_key,
    header={"alg": "RS256", "kid": idp_kid},
    scope="api",
)
# The client authenticates with HTTP Basic: requests' session-wide auth.
a.auth = (app_id, app_secret)
tok = a.refresh_token()
check("access_token" in tok, f"jwt-bearer token: {tok}")
a.auth = None
r = a.get(api_url)
check(r.status_code == 200, f"API with the jwt-bearer token: {r.status_code} {r.text}")
r = OAuth2Session(app_id, app_secret).introspect_token(introspect_url, token=tok["access_token"])
check(r.json().get("sub") == user, f"jwt-bearer token subject: {r.text}")

print(f"authlib assertions: {checks} checks passed")
