// Just enough of a browser for gatehouse's login and consent pages: keeps
// cookies, never follows redirects, fills the forms in (as alice).

const unescape = (s) =>
  s.replace(/&#x2f;/g, "/").replace(/&#x27;|&#39;/g, "'").replace(/&quot;/g, '"').replace(/&lt;/g, "<").replace(/&gt;/g, ">").replace(/&amp;/g, "&");

export function hiddenFields(html) {
  const out = [];
  for (const m of html.matchAll(/<input type="hidden" name="([^"]*)" value="([^"]*)">/g)) out.push([unescape(m[1]), unescape(m[2])]);
  return out;
}

function formAction(html) {
  return unescape(html.match(/<form method="post" action="([^"]*)"/)[1]);
}

export class Browser {
  jar = new Map();
  cookieHeader() {
    return [...this.jar].map(([k, v]) => `${k}=${v}`).join("; ");
  }
  keep(resp) {
    for (const c of resp.headers.getSetCookie()) {
      const [pair] = c.split(";");
      const i = pair.indexOf("=");
      const [k, v] = [pair.slice(0, i), pair.slice(i + 1)];
      if (/Max-Age=0/i.test(c)) this.jar.delete(k);
      else this.jar.set(k, v);
    }
    return resp;
  }
  async get(url) {
    return this.keep(await fetch(url, { redirect: "manual", headers: { cookie: this.cookieHeader() } }));
  }
  async post(url, form) {
    return this.keep(
      await fetch(url, {
        method: "POST",
        redirect: "manual",
        headers: { cookie: this.cookieHeader(), "content-type": "application/x-www-form-urlencoded" },
        body: new URLSearchParams(form),
      }),
    );
  }

  // Follows an authorization request through login and consent; returns
  // the URL the user is sent back to.
  async authorize(url, issuer) {
    let resp = await this.get(url);
    for (let step = 0; step < 4; step++) {
      if (resp.status === 303) return new URL(resp.headers.get("location"));
      const html = await resp.text();
      if (html.includes('id="password"')) {
        resp = await this.post(new URL(formAction(html), issuer), [
          ...hiddenFields(html),
          ["username", "alice"],
          ["password", "wonderland"],
          ["action", "login"],
        ]);
      } else if (html.includes('id="allow"')) {
        resp = await this.post(new URL(formAction(html), issuer), [...hiddenFields(html), ["decision", "allow"]]);
      } else {
        throw new Error(`unexpected page ${resp.status}: ${html.slice(0, 300)}`);
      }
    }
    throw new Error("too many steps");
  }
}
