"""RFC 8693 token exchange against a running gatehouse with Python Authlib.

alice signs in at the `web` client (authorization code + PKCE, played with
`requests`, Authlib builds the URL and exchanges the code); then services
trade her tokens with Authlib's OAuth2Session (client_secret_basic) and the
answers are checked with authlib.jose against the published JWKS: `act`
(delegation, nested chains, the depth bound, `may_act`), impersonation,
`aud` from `audience` and `resource`, scope that only shrinks, every token
type, tokens of a trusted issuer (signed here with its key) and of an
untrusted one, introspection, a DPoP proof (made with jwcrypto) binding the
new token, and revocation of the subject's grant reaching the exchanged
tokens. Refusals are read with `requests` to see the status and the RFC
error code.

usage: authlib_token_exchange.py BASE_URL FORMAT IDP_DIR
       (FORMAT is the server's access_format, jwt or opaque; IDP_DIR holds
       private.pem and public.jwk.json of the trusted issuer
       https://idp.example)
"""
import html
import json
import re
import sys
import time
import warnings

import requests
from authlib.common.security import generate_token
from authlib.integrations.requests_client import OAuth2Session
from authlib.jose import JsonWebKey, JsonWebToken

warnings.simplefilter("ignore")  # authlib.jose announces its move to joserfc

base, fmt, idp_dir = sys.argv[1:4]
base = base.rstrip("/")
REDIRECT = "http://127.0.0.1:9/callback"
IDP = "https://idp.example"
TE = "urn:ietf:params:oauth:grant-type:token-exchange"
AT = "urn:ietf:params:oauth:token-type:access_token"
JWT_TYPE = "urn:ietf:params:oauth:token-type:jwt"
IDT = "urn:ietf:params:oauth:token-type:id_token"
RT = "urn:ietf:params:oauth:token-type:refresh_token"
MAX_ACT_DEPTH = 5
checks = 0


def check(cond, what, detail=None):
    global checks
    if not cond:
        extra = f" ({detail!r})" if detail is not None else ""
        print(f"FAILED: {what}{extra}", file=sys.stderr)
        sys.exit(1)
    checks += 1


# Discovery (RFC 8414 and OIDC): the grant is listed in both documents.
meta = requests.get(f"{base}/.well-known/oauth-authorization-server", timeout=10).json()
oidc = requests.get(f"{base}/.well-known/openid-configuration", timeout=10).json()
check(TE in meta.get("grant_types_supported", []), "RFC 8414 discovery lists the token-exchange grant")
check(TE in oidc.get("grant_types_supported", []), "OIDC discovery lists the token-exchange grant")
issuer = meta["issuer"]
token_url = meta["token_endpoint"]
intro_url = meta["introspection_endpoint"]
revoke_url = meta["revocation_endpoint"]
key_set = JsonWebKey.import_key_set(requests.get(meta["jwks_uri"], timeout=10).json())
jwt = JsonWebToken(["RS256", "PS256", "ES256", "EdDSA"])


def session(cid):
    return OAuth2Session(cid, f"{cid}-secret", token_endpoint_auth_method="client_secret_basic")


def decode(tok, what):
    """An exchanged token: a JWT of this server, verified with its JWKS."""
    claims = jwt.decode(tok, key_set, claims_options={"iss": {"essential": True, "value": issuer}})
    claims.validate()
    check(claims.header.get("typ") == "at+jwt", f"{what}: typ at+jwt", claims.header)
    return claims


def auds(claims):
    a = claims.get("aud")
    return [a] if isinstance(a, str) else list(a or [])


# --- alice signs in at `web` (code + PKCE) ---------------------------------
web = OAuth2Session(
    "web",
    "web-secret",
    scope="openid profile orders:read orders:write",
    redirect_uri=REDIRECT,
    code_challenge_method="S256",
    token_endpoint_auth_method="client_secret_basic",
)
verifier = generate_token(48)
url, state = web.create_authorization_url(meta["authorization_endpoint"], code_verifier=verifier, nonce=generate_token(16))
browser = requests.Session()


def hidden(page):
    return {k: html.unescape(v) for k, v in re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', page)}


page = browser.get(url, allow_redirects=False, timeout=10)
check(page.status_code == 200 and 'id="password"' in page.text, "login page shown")
fields = hidden(page.text)
fields.update(username="alice", password="wonderland", action="login")
page = browser.post(meta["authorization_endpoint"], data=fields, allow_redirects=False, timeout=10)
check(page.status_code == 200 and 'id="allow"' in page.text, "consent page shown")
fields = hidden(page.text)
fields["decision"] = "allow"
back = browser.post(meta["authorization_endpoint"], data=fields, allow_redirects=False, timeout=10)
check(back.status_code in (302, 303), "redirected back to web", back.status_code)
alice = web.fetch_token(token_url, authorization_response=back.headers["Location"], code_verifier=verifier, state=state)
check(alice.get("refresh_token") and alice.get("id_token"), "web got alice's refresh and ID tokens")
alice_at = alice["access_token"]
check((alice_at.count(".") == 2) == (fmt == "jwt"), f"alice's access token is {fmt}")


def introspect(token, by="front-api"):
    r = requests.post(intro_url, auth=(by, f"{by}-secret"), data={"token": token}, timeout=10)
    check(r.status_code == 200, "introspection answers 200", r.text)
    return r.json()


alice_info = introspect(alice_at, by="web")
check(alice_info.get("active") is True and alice_info.get("aud") in ("front-api", ["front-api"]), "alice's token is for front-api", alice_info)

# The services' own tokens, used as actor tokens.
front = session("front-api")
front_cc = front.fetch_token(token_url, grant_type="client_credentials", scope="orders:read")["access_token"]
back_svc = session("back-api")
back_cc = back_svc.fetch_token(token_url, grant_type="client_credentials")["access_token"]


def exchange(sess, **params):
    """A successful exchange through Authlib (which raises on an error answer)."""
    sess.token = None
    return sess.fetch_token(token_url, grant_type=TE, **params)


def refused(cid, pairs, status, error, says=None):
    """A refusal, read with requests: the status, the RFC error code, the text."""
    r = requests.post(token_url, auth=(cid, f"{cid}-secret"), data=[("grant_type", TE)] + pairs, timeout=10)
    body = r.json() if r.headers.get("content-type", "").startswith("application/json") else {}
    what = f"{cid} {pairs!r} → {status} {error}"
    check(r.status_code == status and body.get("error") == error, what, (r.status_code, r.text))
    if says:
        check(says in body.get("error_description", ""), f"{what}: says {says!r}", body)
    check(r.headers.get("cache-control") == "no-store", f"{what}: Cache-Control no-store", r.headers.get("cache-control"))


# --- 1. delegation: front-api acts for alice towards back-api ----------------
t1 = exchange(front, subject_token=alice_at, subject_token_type=AT, actor_token=front_cc, actor_token_type=AT,
              audience="back-api", scope="orders:read")
check(t1.get("issued_token_type") == AT, "issued_token_type is access_token (RFC 8693 §2.2.1)", t1)
check(str(t1.get("token_type")).lower() == "bearer", "token_type Bearer", t1)
check("refresh_token" not in t1, "no refresh token from an exchange", t1)
check(t1.get("scope") == "orders:read", "the requested narrower scope", t1.get("scope"))
c1 = decode(t1["access_token"], "delegated")
check(c1["sub"] == "alice", "sub is still alice", c1.get("sub"))
check(auds(c1) == ["back-api"], "aud is the audience asked for", c1.get("aud"))
check(c1["client_id"] == "front-api", "client_id is the exchanging client", c1.get("client_id"))
check(c1.get("act") == {"sub": "front-api", "client_id": "front-api"}, "act names the actor (RFC 8693 §4.1)", c1.get("act"))
check(c1["exp"] <= alice_info["exp"], "never outlives the subject token", (c1["exp"], alice_info["exp"]))
check(0 < t1["expires_in"] <= alice_info["exp"] - int(time.time()) + 2, "expires_in within the subject's life", t1["expires_in"])
info = introspect(t1["access_token"])
check(info.get("active") is True and info.get("act") == c1["act"] and info.get("sub") == "alice", "introspection shows act", info)

# Scope only shrinks: without scope, what alice granted within front-api's policy.
t = exchange(front, subject_token=alice_at, subject_token_type=AT, actor_token=front_cc, actor_token_type=AT, audience="back-api")
check(set(t["scope"].split()) == {"orders:read", "orders:write"}, "default scope: subject's ∩ policy's (profile, openid dropped)", t["scope"])
actor = [("subject_token", alice_at), ("subject_token_type", AT), ("actor_token", front_cc), ("actor_token_type", AT)]
refused("front-api", actor + [("audience", "back-api"), ("scope", "profile")], 400, "invalid_scope")
refused("front-api", actor + [("audience", "back-api"), ("scope", "orders:admin")], 400, "invalid_scope")

# Targets: resource and audience, several at once; others are invalid_target.
t = exchange(front, subject_token=alice_at, subject_token_type=AT, actor_token=front_cc, actor_token_type=AT,
             resource="https://back.example/api")
check(auds(decode(t["access_token"], "resource")) == ["https://back.example/api"], "resource becomes aud")
r = requests.post(token_url, auth=("front-api", "front-api-secret"), timeout=10, data=[("grant_type", TE)] + actor + [
    ("audience", "back-api"), ("resource", "https://back.example/api"), ("audience", "back-api")])
check(r.status_code == 200, "several targets", r.text)
check(sorted(auds(decode(r.json()["access_token"], "targets"))) == ["back-api", "https://back.example/api"], "every target in aud")
refused("front-api", actor + [("audience", "elsewhere")], 400, "invalid_target", "elsewhere")
refused("front-api", actor + [("audience", "back-api"), ("audience", "ledger-api")], 400, "invalid_target", "ledger-api")
refused("front-api", actor + [("resource", "not-a-uri")], 400, "invalid_target")
refused("front-api", actor + [("resource", "https://back.example/api#frag")], 400, "invalid_target")

# Without an actor token front-api would impersonate alice: not allowed to.
refused("front-api", [("subject_token", alice_at), ("subject_token_type", AT), ("audience", "back-api")], 400,
        "invalid_request", "may_impersonate")

# --- 2. a chain: back-api exchanges what it got for ledger-api ---------------
t2 = exchange(back_svc, subject_token=t1["access_token"], subject_token_type=AT, actor_token=back_cc,
              actor_token_type=AT, audience="ledger-api")
c2 = decode(t2["access_token"], "chained")
check(c2["sub"] == "alice" and auds(c2) == ["ledger-api"] and c2["scope"] == "orders:read", "chained token", dict(c2))
check(c2.get("act") == {"sub": "back-api", "client_id": "back-api", "act": {"sub": "front-api", "client_id": "front-api"}},
      "nested act: current actor outermost (RFC 8693 §4.1)", c2.get("act"))
# back-api cannot use alice's original token: it was not issued to it and does not name it.
refused("back-api", [("subject_token", alice_at), ("subject_token_type", AT), ("actor_token", back_cc),
                     ("actor_token_type", AT), ("audience", "ledger-api")], 400, "invalid_request", "neither issued")

# --- 3. token types ------------------------------------------------------------
t = exchange(front, subject_token=alice_at, subject_token_type=AT, actor_token=front_cc, actor_token_type=AT,
             audience="back-api", requested_token_type=JWT_TYPE)
check(t.get("issued_token_type") == JWT_TYPE and t["access_token"].count(".") == 2, "requested jwt: issued jwt", t)
for pairs, says in [
    ([("subject_token", alice_at), ("subject_token_type", AT + "x")], "not a token type"),
    ([("subject_token", alice_at), ("subject_token_type", RT)], "not accepted"),
    ([("subject_token", alice_at), ("subject_token_type", "urn:ietf:params:oauth:token-type:saml2")], "not accepted"),
    ([("subject_token_type", AT)], "subject_token"),
    ([("subject_token", alice_at)], "subject_token_type"),
    ([("subject_token", alice_at), ("subject_token_type", AT), ("actor_token", front_cc)], "actor_token_type is required"),
    ([("subject_token", alice_at), ("subject_token_type", AT), ("actor_token_type", AT)], "only with an actor_token"),
    (actor + [("requested_token_type", IDT)], "requested_token_type"),
    ([("subject_token", alice["id_token"]), ("subject_token_type", AT)] + actor[2:], "not an access token"),
    ([("subject_token", "no-such-token"), ("subject_token_type", AT)] + actor[2:], "not known"),
    ([("subject_token", "no-such-token"), ("subject_token_type", JWT_TYPE)] + actor[2:], "not a JWT"),
    ([("subject_token", alice_at), ("subject_token_type", AT), ("actor_token", "x" * 20000),
      ("actor_token_type", AT)], "too large"),
]:
    refused("front-api", pairs + [("audience", "back-api")], 400, "invalid_request", says)
if fmt == "jwt":
    refused("front-api", [("subject_token", alice_at), ("subject_token_type", IDT)] + actor[2:], 400, "invalid_request",
            "not an ID token")
# A client without the grant, a client that is not authenticated.
refused("plain", [("subject_token", alice_at), ("subject_token_type", AT)], 400, "unauthorized_client")
r = requests.post(token_url, auth=("front-api", "wrong"), data={"grant_type": TE, "subject_token": alice_at,
                                                                "subject_token_type": AT}, timeout=10)
check(r.status_code == 401 and r.json().get("error") == "invalid_client" and "www-authenticate" in r.headers,
      "bad client secret: 401 invalid_client with WWW-Authenticate", (r.status_code, r.text))

# --- 4. alice's ID token (web impersonates her towards front-api) -----------
t = exchange(web, subject_token=alice["id_token"], subject_token_type=IDT, audience="front-api", scope="orders:read")
c = decode(t["access_token"], "from an ID token")
check(c["sub"] == "alice" and auds(c) == ["front-api"] and "act" not in c, "ID token subject, impersonation: no act", dict(c))
t = exchange(web, subject_token=alice["id_token"], subject_token_type=JWT_TYPE, audience="front-api", scope="orders:read")
check(decode(t["access_token"], "ID token as jwt")["sub"] == "alice", "an ID token as subject_token_type jwt")
refused("front-api", [("subject_token", alice["id_token"]), ("subject_token_type", IDT)] + actor[2:] + [("audience", "back-api")],
        400, "invalid_request", "another client")

# --- 5. JWTs of the trusted issuer, and of an untrusted one -------------------
idp_key = open(f"{idp_dir}/private.pem", "rb").read()
idp_kid = json.load(open(f"{idp_dir}/public.jwk.json"))["kid"]
evil_key = JsonWebKey.generate_key("RSA", 2048, is_private=True)


def idp_jwt(extra, key=idp_key, iss=IDP):
    claims = {"iss": iss, "sub": "alice", "aud": "front-api", "exp": int(time.time()) + 300, "iat": int(time.time()),
              "scope": "orders:read orders:write", "jti": generate_token(12)}
    claims.update(extra)
    claims = {k: v for k, v in claims.items() if v is not None}
    return jwt.encode({"alg": "RS256", "kid": idp_kid}, claims, key).decode()


t = exchange(front, subject_token=idp_jwt({}), subject_token_type=JWT_TYPE, actor_token=front_cc, actor_token_type=AT,
             audience="back-api", scope="orders:write")
c = decode(t["access_token"], "trusted issuer subject")
check(c["sub"] == "alice" and c["iss"] == issuer and c["scope"] == "orders:write", "a trusted issuer's JWT is exchanged", dict(c))
check(c["act"] == {"sub": "front-api", "client_id": "front-api"}, "with the actor")
# The trusted issuer's token as actor: the actor's issuer is recorded.
t = exchange(front, subject_token=alice_at, subject_token_type=AT, actor_token=idp_jwt({"sub": "bob"}),
             actor_token_type=JWT_TYPE, audience="back-api")
check(decode(t["access_token"], "foreign actor")["act"] == {"sub": "bob", "iss": IDP}, "a foreign actor carries iss")

# An act chain from the subject token, nested under the new actor, up to the bound.
chain = None
for i in range(MAX_ACT_DEPTH - 1):
    chain = {"sub": f"svc-{i}", **({"act": chain} if chain else {})}
t = exchange(front, subject_token=idp_jwt({"act": chain}), subject_token_type=JWT_TYPE, actor_token=front_cc,
             actor_token_type=AT, audience="back-api")
got, depth = decode(t["access_token"], "deep chain")["act"], 0
while got:
    depth, got = depth + 1, got.get("act")
check(depth == MAX_ACT_DEPTH, f"a chain of {MAX_ACT_DEPTH} actors is kept", depth)
deeper = {"sub": "svc-x", "act": chain}
via = [("subject_token_type", JWT_TYPE)] + actor[2:] + [("audience", "back-api")]
refused("front-api", [("subject_token", idp_jwt({"act": deeper}))] + via, 400, "invalid_request", "deeper than")
refused("front-api", [("subject_token", idp_jwt({"act": "not an object"}))] + via, 400, "invalid_request", "act claim")
# may_act (RFC 8693 §4.4) names who may act for the subject.
t = exchange(front, subject_token=idp_jwt({"may_act": {"sub": "front-api"}}), subject_token_type=JWT_TYPE,
             actor_token=front_cc, actor_token_type=AT, audience="back-api")
check(decode(t["access_token"], "may_act")["sub"] == "alice", "may_act naming the actor is accepted")
refused("front-api", [("subject_token", idp_jwt({"may_act": {"sub": "someone-else"}}))] + via, 400, "invalid_request", "may_act")
# Refusals: untrusted issuer, bad signature, expired, not for us, unknown user.
refused("front-api", [("subject_token", idp_jwt({}, key=evil_key, iss="https://evil.example"))] + via, 400,
        "invalid_request", "not trusted")
refused("front-api", [("subject_token", idp_jwt({}, key=evil_key))] + via, 400, "invalid_request", "validly signed")
refused("front-api", [("subject_token", idp_jwt({"exp": int(time.time()) - 120}))] + via, 400, "invalid_request", "expired")
refused("front-api", [("subject_token", idp_jwt({"aud": "someone-else"}))] + via, 400, "invalid_request", "aud")
refused("front-api", [("subject_token", idp_jwt({"sub": "mallory"}))] + via, 400, "invalid_request", "does not know")
refused("front-api", [("subject_token", "a.b.c")] + via, 400, "invalid_request")

# --- 6. impersonation by a client allowed to ----------------------------------
batch = session("batch")
t = exchange(batch, subject_token=idp_jwt({"aud": "batch"}), subject_token_type=JWT_TYPE, audience="back-api")
c = decode(t["access_token"], "impersonation")
check(c["sub"] == "alice" and c["client_id"] == "batch" and "act" not in c, "impersonation: alice, no act", dict(c))

# --- 7. DPoP: a proof at the exchange binds the new token (RFC 9449) -------
from jwcrypto import jwk as jwc_jwk, jws as jwc_jws  # noqa: E402
from jwcrypto.common import json_encode  # noqa: E402

dpop_key = jwc_jwk.JWK.generate(kty="EC", crv="P-256")


def dpop_proof(nonce=None):
    claims = {"jti": generate_token(16), "htm": "POST", "htu": token_url, "iat": int(time.time())}
    if nonce:
        claims["nonce"] = nonce
    proof = jwc_jws.JWS(json_encode(claims).encode())
    proof.add_signature(dpop_key, alg="ES256", protected=json_encode(
        {"typ": "dpop+jwt", "alg": "ES256", "jwk": json.loads(dpop_key.export_public())}))
    return proof.serialize(compact=True)


form = [("grant_type", TE)] + actor + [("audience", "back-api")]
r = requests.post(token_url, auth=("front-api", "front-api-secret"), data=form, headers={"DPoP": dpop_proof()}, timeout=10)
if r.status_code == 400 and r.json().get("error") == "use_dpop_nonce":
    r = requests.post(token_url, auth=("front-api", "front-api-secret"), data=form,
                      headers={"DPoP": dpop_proof(r.headers["DPoP-Nonce"])}, timeout=10)
check(r.status_code == 200 and r.json().get("token_type") == "DPoP", "with a DPoP proof: token_type DPoP", r.text)
c = decode(r.json()["access_token"], "DPoP-bound")
check(c.get("cnf", {}).get("jkt") == dpop_key.thumbprint(), "cnf.jkt is the proof key's thumbprint", c.get("cnf"))
check(c.get("act") == {"sub": "front-api", "client_id": "front-api"}, "and still carries act")

# --- 8. revocation reaches exchanged tokens ------------------------------------
# A subject outside any grant (batch's client_credentials token): revoking it
# revokes what was exchanged from it.
batch_cc = batch.fetch_token(token_url, grant_type="client_credentials", scope="orders:read")["access_token"]
tb = exchange(batch, subject_token=batch_cc, subject_token_type=AT, audience="back-api")
check(decode(tb["access_token"], "from client_credentials")["sub"] == "batch", "a client's own token exchanged")
check(introspect(tb["access_token"], by="batch").get("active") is True, "exchanged token active")
r = requests.post(revoke_url, auth=("batch", "batch-secret"), data={"token": batch_cc}, timeout=10)
check(r.status_code == 200, "batch revokes its token", r.text)
check(introspect(tb["access_token"], by="batch").get("active") is False, "…and the token exchanged from it is revoked")
refused("batch", [("subject_token", batch_cc), ("subject_token_type", AT), ("audience", "back-api")], 400,
        "invalid_request", "revoked")
# alice's grant: web revokes her refresh token; the whole grant goes, with t1
# and the chained t2.
for tok, who in ((t1["access_token"], "front-api"), (t2["access_token"], "back-api")):
    check(introspect(tok, by=who).get("active") is True, "exchanged tokens active before")
r = requests.post(revoke_url, auth=("web", "web-secret"), data={"token": alice["refresh_token"]}, timeout=10)
check(r.status_code == 200, "web revokes alice's refresh token", r.text)
for tok, who in ((t1["access_token"], "front-api"), (t2["access_token"], "back-api")):
    check(introspect(tok, by=who).get("active") is False, "the grant's revocation reaches exchanged tokens")
refused("front-api", actor + [("audience", "back-api")], 400, "invalid_request", "revoked")

print(f"authlib token exchange: {checks} checks passed")
