#!/usr/bin/env python3
"""Refresh tokens from Ory Hydra for bench/token.sh's refresh rows.

Hydra issues refresh tokens only through the authorization code flow, and it
leaves the login and consent screens to an app of the operator's: this
script plays that app through Hydra's admin API (accepting the login as
user alice, then the consent for `api offline_access`), follows the
redirects with the browser's cookies, exchanges each code with
client_secret_basic and prints one refresh token a line.

usage: hydra_refresh_tokens.py PUBLIC_URL ADMIN_URL CLIENT SECRET COUNT
"""

import base64
import concurrent.futures
import http.cookiejar
import json
import secrets
import sys
import urllib.parse
import urllib.request


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None


def location(opener, url):
    """GET url without following redirects; the Location it answers."""
    try:
        opener.open(url, timeout=60)
    except urllib.error.HTTPError as e:
        if e.code in (302, 303) and e.headers.get("Location"):
            return urllib.parse.urljoin(url, e.headers["Location"])
        raise
    raise RuntimeError(f"{url}: no redirect")


def admin_put(url, body):
    req = urllib.request.Request(
        url, data=json.dumps(body).encode(), method="PUT", headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(req, timeout=60) as r:
        return json.load(r)["redirect_to"]


def one(public, admin, client, secret, redirect_uri):
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar), NoRedirect())
    q = urllib.parse.urlencode(
        {
            "client_id": client,
            "response_type": "code",
            "scope": "api offline_access",
            "redirect_uri": redirect_uri,
            "state": secrets.token_urlsafe(12),
        }
    )
    login = location(opener, f"{public}/oauth2/auth?{q}")
    challenge = urllib.parse.parse_qs(urllib.parse.urlsplit(login).query)["login_challenge"][0]
    nxt = admin_put(
        f"{admin}/admin/oauth2/auth/requests/login/accept?login_challenge={urllib.parse.quote(challenge)}",
        {"subject": "alice"},
    )
    consent = location(opener, nxt)
    challenge = urllib.parse.parse_qs(urllib.parse.urlsplit(consent).query)["consent_challenge"][0]
    nxt = admin_put(
        f"{admin}/admin/oauth2/auth/requests/consent/accept?consent_challenge={urllib.parse.quote(challenge)}",
        {"grant_scope": ["api", "offline_access"]},
    )
    callback = location(opener, nxt)
    code = urllib.parse.parse_qs(urllib.parse.urlsplit(callback).query)["code"][0]
    basic = base64.b64encode(f"{client}:{secret}".encode()).decode()
    req = urllib.request.Request(
        f"{public}/oauth2/token",
        data=urllib.parse.urlencode(
            {"grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri}
        ).encode(),
        headers={"Authorization": f"Basic {basic}", "Content-Type": "application/x-www-form-urlencoded"},
    )
    with urllib.request.urlopen(req, timeout=60) as r:
        return json.load(r)["refresh_token"]


def main():
    public, admin, client, secret, count = sys.argv[1:6]
    redirect_uri = f"{public}/bench-callback"
    # Four flows at a time (each is six requests and a client-secret hash).
    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        for tok in pool.map(lambda _: one(public, admin, client, secret, redirect_uri), range(int(count))):
            print(tok, flush=True)


if __name__ == "__main__":
    main()
