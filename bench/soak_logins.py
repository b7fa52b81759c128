"""Browser logins for bench/soak.sh: authorization code + PKCE, played with
`requests` as a browser would (login page, sign in, consent, redirect back),
then the code exchanged, again and again until DEADLINE (unix seconds).
Prints "logins OK FAILED" at the end; a failure also prints why.

usage: soak_logins.py BASE CLIENT_ID CLIENT_SECRET REDIRECT_URI DEADLINE
"""
import base64
import hashlib
import html
import re
import secrets
import sys
import time
from urllib.parse import parse_qs, urlencode, urlparse

import requests

base, client_id, client_secret, redirect_uri, deadline = sys.argv[1:6]
deadline = float(deadline)
ok = failed = 0


def fields(page):
    found = re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', page)
    return {k: html.unescape(v) for k, v in found}


def one():
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    state = secrets.token_urlsafe(16)
    browser = requests.Session()
    q = urlencode({"response_type": "code", "client_id": client_id, "redirect_uri": redirect_uri,
                   "scope": "openid photos", "state": state, "code_challenge": challenge,
                   "code_challenge_method": "S256"})
    login = browser.get(f"{base}/api/oauth/authorize?{q}", allow_redirects=False, timeout=30)
    assert login.status_code == 200 and 'id="password"' in login.text, f"login page: {login.status_code} {login.text[:300]!r}"
    f = fields(login.text)
    f.update(username="alice", password="alice-password-0815", action="login")
    consent = browser.post(f"{base}/api/oauth/authorize", data=f, allow_redirects=False, timeout=30)
    if consent.status_code == 200:  # consent asked once per user and client
        f = fields(consent.text)
        f["decision"] = "allow"
        consent = browser.post(f"{base}/api/oauth/authorize", data=f, allow_redirects=False, timeout=30)
    assert consent.status_code in (302, 303), f"back to the client: {consent.status_code} {consent.text[:300]!r}"
    back = parse_qs(urlparse(consent.headers["Location"]).query)
    assert back["state"] == [state], "state"
    tok = requests.post(f"{base}/api/oauth/token", auth=(client_id, client_secret), timeout=30,
                        data={"grant_type": "authorization_code", "code": back["code"][0],
                              "redirect_uri": redirect_uri, "code_verifier": verifier})
    assert tok.status_code == 200 and "access_token" in tok.json(), f"token: {tok.status_code} {tok.text}"
    api = requests.get(f"{base}/photos", headers={"Authorization": f"Bearer {tok.json()['access_token']}"},
                       timeout=30)
    assert api.status_code == 200, f"api: {api.status_code} {api.text[:300]!r}"


while time.time() < deadline:
    try:
        one()
        ok += 1
    except Exception as e:  # noqa: BLE001 — every failure is counted and shown
        failed += 1
        print(f"login failed: {e}", file=sys.stderr)
    time.sleep(0.2)
print(f"logins {ok} {failed}")
