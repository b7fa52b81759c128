// Relying party built from panva's openid-client (v6) and oauth4webapi (v3),
// the reference JavaScript OAuth/OIDC clients, run against a real gatehouse
// by tests/interop_panva.rs. Both libraries validate discovery, ID tokens,
// hashes and JWT access tokens strictly; any deviation throws.
//
// Inputs (environment): ISSUER, ALG (the server's signing_alg), FORMAT
// (jwt|opaque), API (a protected URL behind an oauth2 route).
// Prints one line per check and "ALL OK" at the end; exits 1 on a failure.

import * as client from "openid-client";
import * as oauth from "oauth4webapi";

const { ISSUER, ALG, FORMAT, API } = process.env;
const CB = "http://127.0.0.1:9000/callback";
const BYE = "http://127.0.0.1:9000/bye";
const insecure = { execute: [client.allowInsecureRequests] };
let passed = 0;

function ok(what, cond, detail) {
  if (!cond) {
    console.error(`FAIL ${what}: ${detail ?? ""}`);
    process.exit(1);
  }
  passed++;
  console.log(`ok ${what}`);
}

// ---- a browser, just enough for the login and consent pages ----------------
class Browser {
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
}

const unescape = (s) =>
  s.replace(/&#x2f;/g, "/").replace(/&#x27;|&#39;/g, "'").replace(/&quot;/g, '"').replace(/&lt;/g, "<").replace(/&gt;/g, ">").replace(/&amp;/g, "&");

function hiddenFields(html) {
  const out = [];
  for (const m of html.matchAll(/<input type="hidden" name="([^"]*)" value="([^"]*)">/g)) out.push([unescape(m[1]), unescape(m[2])]);
  return out;
}

function formAction(html) {
  return unescape(html.match(/<form method="post" action="([^"]*)"/)[1]);
}

// Follows the authorization request through login and consent; returns the
// response as the client receives it: a URL (query/fragment) or, for
// form_post, a Request as the browser would POST it.
async function authorize(browser, url) {
  let resp = await browser.get(url);
  for (let step = 0; step < 4; step++) {
    if (resp.status === 303) return new URL(resp.headers.get("location"));
    const html = await resp.text();
    if (html.includes('id="password"')) {
      resp = await browser.post(new URL(formAction(html), ISSUER), [
        ...hiddenFields(html),
        ["username", "alice"],
        ["password", "wonderland"],
        ["action", "login"],
      ]);
    } else if (html.includes('id="allow"')) {
      resp = await browser.post(new URL(formAction(html), ISSUER), [...hiddenFields(html), ["decision", "allow"]]);
    } else if (html.includes("document.forms[0].submit()")) {
      return new Request(formAction(html), {
        method: "POST",
        headers: { "content-type": "application/x-www-form-urlencoded" },
        body: new URLSearchParams(hiddenFields(html)),
      });
    } else {
      throw new Error(`unexpected page ${resp.status}: ${html.slice(0, 300)}`);
    }
  }
  throw new Error("too many steps");
}

const issuer = new URL(ISSUER);

// ---- discovery ----------------------------------------------------------------
const confidential = await client.discovery(
  issuer,
  "rp",
  { client_secret: "rp-secret", redirect_uris: [CB], id_token_signed_response_alg: "RS256" },
  client.ClientSecretBasic("rp-secret"),
  insecure,
);
const meta = confidential.serverMetadata();
ok("discovery (openid-client)", meta.issuer === ISSUER && meta.supportsPKCE());
ok("discovery lists RS256 for ID tokens", meta.id_token_signing_alg_values_supported.includes("RS256"));
ok("discovery lists form_post", meta.response_modes_supported.includes("form_post"));
ok("discovery has end_session_endpoint", typeof meta.end_session_endpoint === "string");
const as = await oauth.processDiscoveryResponse(issuer, await oauth.discoveryRequest(issuer, { [oauth.allowInsecureRequests]: true }));
ok("discovery (oauth4webapi)", as.issuer === ISSUER);

// The JWT access token check of a resource server (RFC 9068).
async function checkAccessToken(what, token) {
  if (FORMAT !== "jwt") {
    ok(`${what}: opaque access token`, token.split(".").length !== 3, token);
    return;
  }
  const claims = await oauth.validateJwtAccessToken(
    as,
    new Request(API, { headers: { authorization: `Bearer ${token}` } }),
    ISSUER,
    { signingAlgorithms: [ALG], [oauth.allowInsecureRequests]: true },
  );
  ok(`${what}: RFC 9068 access token (oauth4webapi)`, claims.iss === ISSUER && typeof claims.client_id === "string");
}

async function callApi(what, token, want = 200) {
  const r = await fetch(API, { headers: { authorization: `Bearer ${token}` } });
  ok(`${what}: API answers ${want}`, r.status === want, `${r.status} ${r.headers.get("www-authenticate")}`);
}

// ---- client_credentials ------------------------------------------------------
const cc = await client.clientCredentialsGrant(confidential, { scope: "photos" });
ok("client_credentials", cc.token_type.toLowerCase() === "bearer" && cc.access_token);
await checkAccessToken("client_credentials", cc.access_token);
await callApi("client_credentials", cc.access_token);

// ---- password (raw token request: neither library has a helper) --------------
const pw = await client.genericGrantRequest(confidential, "password", { username: "alice", password: "wonderland", scope: "photos" });
ok("password grant", pw.access_token && pw.refresh_token);
await checkAccessToken("password", pw.access_token);

// ---- authorization code + PKCE through the real pages -------------------------
for (const [idAlg, id] of [["RS256", "rp"], [ALG, "rp-alg"]]) {
  const config = await client.discovery(
    issuer,
    id,
    { client_secret: `${id}-secret`, redirect_uris: [CB], id_token_signed_response_alg: idAlg },
    client.ClientSecretBasic(`${id}-secret`),
    insecure,
  );
  const browser = new Browser();
  const verifier = client.randomPKCECodeVerifier();
  const state = client.randomState();
  const nonce = client.randomNonce();
  const url = client.buildAuthorizationUrl(config, {
    redirect_uri: CB,
    scope: "openid profile email photos",
    code_challenge: await client.calculatePKCECodeChallenge(verifier),
    code_challenge_method: "S256",
    state,
    nonce,
  });
  const back = await authorize(browser, url);
  const tokens = await client.authorizationCodeGrant(config, back, { pkceCodeVerifier: verifier, expectedState: state, expectedNonce: nonce });
  const claims = tokens.claims();
  ok(`code+PKCE, ID token ${idAlg}`, claims.sub === "alice" && claims.nonce === nonce);
  await checkAccessToken(`code (${idAlg})`, tokens.access_token);
  const info = await client.fetchUserInfo(config, tokens.access_token, claims.sub);
  ok(`userinfo (${idAlg})`, info.sub === "alice" && info.email === "alice@example.com");

  // Refresh with rotation: the new refresh token works, the old one is dead.
  const refreshed = await client.refreshTokenGrant(config, tokens.refresh_token);
  ok(`refresh rotates (${idAlg})`, refreshed.refresh_token && refreshed.refresh_token !== tokens.refresh_token);
  let reused = false;
  try {
    await client.refreshTokenGrant(config, tokens.refresh_token);
  } catch (e) {
    reused = e.error === "invalid_grant";
  }
  ok(`refresh reuse refused (${idAlg})`, reused);

  // The reuse above revoked the whole family, the rotated tokens included.
  const intro = await client.tokenIntrospection(config, refreshed.access_token);
  ok(`introspect after reuse (${idAlg})`, intro.active === false, JSON.stringify(intro));

  // RP-initiated logout back to the registered URI with state.
  const endUrl = client.buildEndSessionUrl(config, { id_token_hint: tokens.id_token, post_logout_redirect_uri: BYE, state: "bye" });
  const out = await browser.get(endUrl);
  ok(`logout (${idAlg})`, out.status === 303 && out.headers.get("location") === `${BYE}?state=bye`, `${out.status} ${out.headers.get("location")}`);
  const again = await browser.get(url);
  ok(`login page after logout (${idAlg})`, (await again.text()).includes('id="password"'));
}

// ---- introspection and revocation --------------------------------------------
{
  const fresh = await client.refreshTokenGrant(confidential, pw.refresh_token);
  const live = await client.tokenIntrospection(confidential, fresh.access_token);
  ok("introspect active token", live.active === true && live.token_type === "Bearer" && live.sub === "alice", JSON.stringify(live));
  const rt = await client.tokenIntrospection(confidential, fresh.refresh_token, { token_type_hint: "refresh_token" });
  ok("introspect refresh token", rt.active === true && rt.token_type === undefined, JSON.stringify(rt));
  await client.tokenRevocation(confidential, fresh.access_token);
  const dead = await client.tokenIntrospection(confidential, fresh.access_token);
  ok("revoked token is inactive", dead.active === false);
  await callApi("revoked token", fresh.access_token, 401);
}

// ---- implicit (id_token, id_token token) and hybrid with form_post -----------
{
  const config = await client.discovery(
    issuer,
    "rp",
    { client_secret: "rp-secret", redirect_uris: [CB], id_token_signed_response_alg: "RS256" },
    client.ClientSecretBasic("rp-secret"),
    { execute: [client.allowInsecureRequests, client.useIdTokenResponseType] },
  );
  const browser = new Browser();
  const nonce = client.randomNonce();
  const state = client.randomState();
  const url = client.buildAuthorizationUrl(config, { redirect_uri: CB, scope: "openid", nonce, state, response_mode: "form_post" });
  const back = await authorize(browser, url);
  const idt = await client.implicitAuthentication(config, back, nonce, { expectedState: state });
  ok("implicit id_token via form_post (openid-client)", idt.sub === "alice" && idt.nonce === nonce);

  // response_type=id_token token in the fragment, checked by oauth4webapi.
  const nonce2 = oauth.generateRandomNonce();
  const state2 = oauth.generateRandomState();
  const u = new URL(meta.authorization_endpoint);
  for (const [k, v] of Object.entries({ client_id: "rp", redirect_uri: CB, response_type: "id_token token", scope: "openid photos", nonce: nonce2, state: state2 })) u.searchParams.set(k, v);
  const frag = await authorize(browser, u);
  const params = new URLSearchParams(frag.hash.slice(1));
  ok("implicit id_token token in the fragment", params.get("access_token") && params.get("id_token") && params.get("state") === state2);
  await callApi("implicit access token", params.get("access_token"));

  // Hybrid code id_token with form_post: the ID token is a detached
  // signature over code and state (c_hash, s_hash), as FAPI checks it.
  const hybrid = await client.discovery(
    issuer,
    "rp",
    { client_secret: "rp-secret", redirect_uris: [CB], id_token_signed_response_alg: "RS256" },
    client.ClientSecretBasic("rp-secret"),
    { execute: [client.allowInsecureRequests, client.useCodeIdTokenResponseType, client.enableDetachedSignatureResponseChecks] },
  );
  const verifier = client.randomPKCECodeVerifier();
  const nonce3 = client.randomNonce();
  const state3 = client.randomState();
  const hurl = client.buildAuthorizationUrl(hybrid, {
    redirect_uri: CB,
    scope: "openid photos",
    nonce: nonce3,
    state: state3,
    response_mode: "form_post",
    code_challenge: await client.calculatePKCECodeChallenge(verifier),
    code_challenge_method: "S256",
  });
  const hback = await authorize(browser, hurl);
  const htokens = await client.authorizationCodeGrant(hybrid, hback, { pkceCodeVerifier: verifier, expectedNonce: nonce3, expectedState: state3 });
  ok("hybrid code id_token via form_post with detached signature checks", htokens.claims().sub === "alice");
}

console.log(`ALL OK (${passed} checks)`);
