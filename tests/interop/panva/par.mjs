// Pushed authorization requests (RFC 9126) and request objects (RFC 9101)
// driven by panva's openid-client (v6) and oauth4webapi (v3) against a real
// gatehouse (tests/par.rs): the libraries push, sign the request objects
// (with the client key the test registered), validate the authorization
// responses (iss, state) and the ID tokens.
//
// Inputs (environment): ISSUER, PRIVATE_JWK (client "rp"'s ES256 key, kid k1).
// Prints one line per check and "ALL OK" at the end; exits 1 on a failure.

import * as client from "openid-client";
import * as oauth from "oauth4webapi";
import { Browser } from "./browser.mjs";

const { ISSUER, PRIVATE_JWK } = process.env;
const CB = "http://127.0.0.1:9000/callback";
let passed = 0;

function ok(what, cond, detail) {
  if (!cond) {
    console.error(`FAIL ${what}: ${detail ?? ""}`);
    process.exit(1);
  }
  passed++;
  console.log(`ok ${what}`);
}

const jwk = JSON.parse(PRIVATE_JWK);
const privateKey = await crypto.subtle.importKey("jwk", jwk, { name: "ECDSA", namedCurve: "P-256" }, false, ["sign"]);
const signingKey = { key: privateKey, kid: jwk.kid };

const config = await client.discovery(
  new URL(ISSUER),
  "rp",
  { client_secret: "rp-secret", redirect_uris: [CB] },
  client.ClientSecretBasic("rp-secret"),
  { execute: [client.allowInsecureRequests] },
);
const meta = config.serverMetadata();
ok("discovery has the PAR endpoint", meta.pushed_authorization_request_endpoint === `${ISSUER}/api/oauth/par`);
ok("discovery says request objects are supported", meta.request_parameter_supported === true);

async function codeFlow(what, url, verifier, state, nonce) {
  const back = await new Browser().authorize(url, ISSUER);
  const tokens = await client.authorizationCodeGrant(config, back, {
    pkceCodeVerifier: verifier,
    expectedState: state,
    expectedNonce: nonce,
    idTokenExpected: true,
  });
  ok(`${what}: code exchanged, ID token verified`, tokens.claims()?.sub === "alice" && tokens.scope === "openid photos", tokens.scope);
  return back;
}

function fresh() {
  const verifier = client.randomPKCECodeVerifier();
  return { verifier, state: client.randomState(), nonce: client.randomNonce() };
}

async function params({ verifier, state, nonce }) {
  return {
    redirect_uri: CB,
    scope: "openid photos",
    code_challenge: await client.calculatePKCECodeChallenge(verifier),
    code_challenge_method: "S256",
    state,
    nonce,
  };
}

// ---- openid-client: PAR
let f = fresh();
const parUrl = await client.buildAuthorizationUrlWithPAR(config, await params(f));
ok("PAR: the authorization URL carries only client_id and request_uri",
  parUrl.searchParams.get("request_uri")?.startsWith("urn:ietf:params:oauth:request_uri:") && !parUrl.searchParams.has("scope"),
  parUrl.href);
await codeFlow("PAR", parUrl, f.verifier, f.state, f.nonce);
const reused = await new Browser().authorize(parUrl, ISSUER);
ok("PAR: the request_uri is single use", reused.searchParams.get("error") === "invalid_request_uri", reused.href);

// ---- openid-client: JAR by value
f = fresh();
const jarUrl = await client.buildAuthorizationUrlWithJAR(config, await params(f), signingKey);
ok("JAR: the URL carries a request object", jarUrl.searchParams.get("request")?.split(".").length === 3);
await codeFlow("JAR", jarUrl, f.verifier, f.state, f.nonce);

// ---- openid-client: JAR pushed (PAR with a request object)
f = fresh();
const jar2 = await client.buildAuthorizationUrlWithJAR(config, await params(f), signingKey);
const pushedJar = await client.buildAuthorizationUrlWithPAR(config, jar2.searchParams);
await codeFlow("JAR + PAR", pushedJar, f.verifier, f.state, f.nonce);

// ---- oauth4webapi: a request object pushed, then the code flow by hand
const as = await oauth.processDiscoveryResponse(
  new URL(ISSUER),
  await oauth.discoveryRequest(new URL(ISSUER), { [oauth.allowInsecureRequests]: true }),
);
const c = { client_id: "rp" };
const auth = oauth.ClientSecretBasic("rp-secret");
f = fresh();
const p = await params(f);
const request = await oauth.issueRequestObject(as, c, new URLSearchParams({ ...p, response_type: "code" }), signingKey);
const parResp = await oauth.pushedAuthorizationRequest(as, c, auth, new URLSearchParams({ request }), {
  [oauth.allowInsecureRequests]: true,
});
const pushed = await oauth.processPushedAuthorizationResponse(as, c, parResp);
ok("oauth4webapi: pushed, expires_in given", typeof pushed.request_uri === "string" && pushed.expires_in > 0);
const url = new URL(as.authorization_endpoint);
url.searchParams.set("client_id", "rp");
url.searchParams.set("request_uri", pushed.request_uri);
const back = await new Browser().authorize(url, ISSUER);
const cbParams = oauth.validateAuthResponse(as, c, back, f.state);
const tokResp = await oauth.authorizationCodeGrantRequest(as, c, auth, cbParams, CB, f.verifier, {
  [oauth.allowInsecureRequests]: true,
});
const tokens = await oauth.processAuthorizationCodeResponse(as, c, tokResp, { expectedNonce: f.nonce, requireIdToken: true });
ok("oauth4webapi: code exchanged, ID token verified", oauth.getValidatedIdTokenClaims(tokens)?.sub === "alice");

// ---- oauth4webapi: a refusal at the PAR endpoint surfaces as an OAuth error
try {
  await oauth.processPushedAuthorizationResponse(
    as,
    c,
    await oauth.pushedAuthorizationRequest(as, c, auth, new URLSearchParams({ ...p, response_type: "code", scope: "openid admin" }), {
      [oauth.allowInsecureRequests]: true,
    }),
  );
  ok("oauth4webapi: a bad scope is refused at the PAR endpoint", false);
} catch (e) {
  ok("oauth4webapi: a bad scope is refused at the PAR endpoint", e.error === "invalid_scope", e);
}

console.log(`ALL OK (${passed} checks)`);
