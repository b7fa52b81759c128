#!/usr/bin/env python3
"""Refresh tokens for bench/token.sh's refresh rows, minted with the
password grant (RFC 6749 §4.3) and client_secret_basic, four at a time;
one token a line.

usage: password_refresh_tokens.py TOKEN_URL CLIENT SECRET USER PASSWORD COUNT [SCOPE]
"""

import base64
import concurrent.futures
import json
import sys
import urllib.parse
import urllib.request


def one(url, basic, form):
    req = urllib.request.Request(
        url,
        data=form,
        headers={"Authorization": f"Basic {basic}", "Content-Type": "application/x-www-form-urlencoded"},
    )
    with urllib.request.urlopen(req, timeout=120) as r:
        return json.load(r)["refresh_token"]


def main():
    url, client, secret, user, password, count = sys.argv[1:7]
    fields = {"grant_type": "password", "username": user, "password": password}
    if len(sys.argv) > 7:
        fields["scope"] = sys.argv[7]
    form = urllib.parse.urlencode(fields).encode()
    basic = base64.b64encode(f"{client}:{secret}".encode()).decode()
    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        for t in pool.map(lambda _: one(url, basic, form), range(int(count))):
            print(t)


if __name__ == "__main__":
    main()
