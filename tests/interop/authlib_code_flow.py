"""Authorization code + PKCE against a running gatehouse with Python Authlib.

Discovers everything from the issuer, plays the user with `requests` (sign in,
approve), lets Authlib build the authorization URL and exchange the code, and
validates the ID token with the published JWKS.

usage: authlib_code_flow.py BASE_URL ISSUER CLIENT_ID CLIENT_SECRET REDIRECT_URI
"""
import html
import re
import sys

import requests
from authlib.common.security import generate_token
from authlib.integrations.requests_client import OAuth2Session
from authlib.jose import JsonWebKey, jwt

base, issuer, client_id, client_secret, redirect_uri = sys.argv[1:6]
checks = 0


def check(cond, what):
    global checks
    if not cond:
        print(f"FAILED: {what}", file=sys.stderr)
        sys.exit(1)
    checks += 1


def local(url):
    """The issuer is a name; requests go to the server's real address."""
    return url.replace(issuer, base, 1)


meta = requests.get(f"{base}/.well-known/openid-configuration", timeout=10).json()
check(meta["issuer"] == issuer, "discovery issuer")
check("S256" in meta["code_challenge_methods_supported"], "S256 advertised")
check("code" in meta["response_types_supported"], "code advertised")

client = OAuth2Session(
    client_id,
    client_secret,
    scope="openid profile email photos",
    redirect_uri=redirect_uri,
    code_challenge_method="S256",
    token_endpoint_auth_method="client_secret_basic",
)
verifier = generate_token(48)
nonce = generate_token(16)
url, state = client.create_authorization_url(
    local(meta["authorization_endpoint"]), code_verifier=verifier, nonce=nonce
)

# The user: sign in, then approve.
browser = requests.Session()


def form_fields(page):
    fields = re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', page)
    return {k: html.unescape(v) for k, v in fields}


login = browser.get(url, allow_redirects=False, timeout=10)
check(login.status_code == 200 and 'id="password"' in login.text, "login page shown")
fields = form_fields(login.text)
fields.update(username="alice", password="wonderland", action="login")
consent = browser.post(local(meta["authorization_endpoint"]), data=fields, allow_redirects=False, timeout=10)
check(consent.status_code == 200 and 'id="allow"' in consent.text, "consent page shown")
fields = form_fields(consent.text)
fields["decision"] = "allow"
back = browser.post(local(meta["authorization_endpoint"]), data=fields, allow_redirects=False, timeout=10)
check(back.status_code in (302, 303), "redirected back to the client")
callback = back.headers["Location"]
check(callback.startswith(redirect_uri), "to the registered redirect URI")

token = client.fetch_token(
    local(meta["token_endpoint"]), authorization_response=callback, code_verifier=verifier, state=state
)
check(token["token_type"].lower() == "bearer", "bearer token")
check("refresh_token" in token, "refresh token issued")

jwks = JsonWebKey.import_key_set(requests.get(local(meta["jwks_uri"]), timeout=10).json())
claims = jwt.decode(
    token["id_token"],
    jwks,
    claims_options={"iss": {"essential": True, "value": issuer}, "aud": {"essential": True, "value": client_id}},
    claims_params={"nonce": nonce},
)
claims.validate()
check(claims["sub"] == "alice", "ID token subject")
check(claims["nonce"] == nonce, "ID token nonce")
check("at_hash" in claims, "ID token at_hash")

info = client.get(local(meta["userinfo_endpoint"]), timeout=10).json()
check(info.get("sub") == "alice" and info.get("email") == "alice@example.com", "userinfo")
photos = client.get(f"{base}/flickr/photos", timeout=10)
check(photos.status_code == 200, "the protected API accepts the token")

# Replaying the code fails.
replay = requests.post(
    local(meta["token_endpoint"]),
    auth=(client_id, client_secret),
    data={"grant_type": "authorization_code", "code": re.search(r"code=([^&]+)", callback).group(1),
          "redirect_uri": redirect_uri, "code_verifier": verifier},
    timeout=10,
)
check(replay.status_code == 400 and replay.json()["error"] == "invalid_grant", "code replay refused")

print(f"authlib code flow: {checks} checks passed")
