// DPoP (RFC 9449) driven by panva's openid-client (v6) and oauth4webapi
// (v3) against a real gatehouse (tests/dpop.rs): the libraries make the
// proofs, follow the server's nonces (use_dpop_nonce and DPoP-Nonce), and
// check token_type DPoP; the tokens are then used at userinfo and, with
// their proofs, at the API behind the gateway.
//
// Inputs (environment): ISSUER, API (a URL behind an oauth2 route, empty
// when the gateway is not part of the run), CLIENT, SECRET.
// Prints one line per check and "ALL OK" at the end; exits 1 on a failure.

import * as client from "openid-client";
import * as oauth from "oauth4webapi";

const { ISSUER, API, CLIENT, SECRET, FORMAT } = process.env;
let passed = 0;

function ok(what, cond, detail) {
  if (!cond) {
    console.error(`FAIL ${what}: ${detail ?? ""}`);
    process.exit(1);
  }
  passed++;
  console.log(`ok ${what}`);
}

const claimsOf = (jwt) => JSON.parse(Buffer.from(jwt.split(".")[1], "base64url").toString());
// The confirmation of an access token: from the JWT itself, or (opaque
// tokens) from introspection, which openid-client validates.
const cnfOf = async (token) =>
  FORMAT === "opaque" ? (await client.tokenIntrospection(config, token)).cnf : claimsOf(token).cnf;

async function thumbprint(publicKey) {
  const jwk = await crypto.subtle.exportKey("jwk", publicKey);
  const canonical = JSON.stringify({ crv: jwk.crv, kty: jwk.kty, x: jwk.x, y: jwk.y });
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(canonical));
  return Buffer.from(digest).toString("base64url");
}

const config = await client.discovery(new URL(ISSUER), CLIENT, SECRET, undefined, {
  execute: [client.allowInsecureRequests],
});
const meta = config.serverMetadata();
ok("discovery lists DPoP algorithms", meta.dpop_signing_alg_values_supported?.includes("ES256"));

// ---- openid-client: client_credentials with DPoP (the nonce retry is the library's)
const keyPair = await client.randomDPoPKeyPair("ES256");
const jkt = await thumbprint(keyPair.publicKey);
const DPoP = client.getDPoPHandle(config, keyPair);
const cc = await client.clientCredentialsGrant(config, { scope: "photos" }, { DPoP });
ok("client_credentials token_type is DPoP", cc.token_type === "dpop", cc.token_type);
ok("the access token is bound to the proof key", (await cnfOf(cc.access_token))?.jkt === jkt);

// ---- password grant with the same key, then userinfo with a proof
const pw = await client.genericGrantRequest(
  config,
  "password",
  { username: "alice", password: "wonderland", scope: "openid profile photos" },
  { DPoP },
);
ok("password grant token_type is DPoP", pw.token_type === "dpop");
const info = await client.fetchUserInfo(config, pw.access_token, "alice", { DPoP });
ok("userinfo answers a DPoP-bound token with its proof", info.sub === "alice" && info.preferred_username === "alice");

// ---- refresh with the same key: the new access token is bound again
const refreshed = await client.refreshTokenGrant(config, pw.refresh_token, undefined, { DPoP });
ok("refreshed token is DPoP-bound", refreshed.token_type === "dpop" && (await cnfOf(refreshed.access_token))?.jkt === jkt);

// ---- oauth4webapi directly: the nonce error surfaces, the retry succeeds
const as = await oauth.processDiscoveryResponse(
  new URL(ISSUER),
  await oauth.discoveryRequest(new URL(ISSUER), { [oauth.allowInsecureRequests]: true }),
);
const c = { client_id: CLIENT };
const auth = oauth.ClientSecretBasic(SECRET);
const kp2 = await oauth.generateKeyPair("ES256");
const dpop2 = oauth.DPoP(c, kp2);
const ccReq = () =>
  oauth.clientCredentialsGrantRequest(as, c, auth, { scope: "photos" }, { DPoP: dpop2, [oauth.allowInsecureRequests]: true });
let first;
let sawNonceError = false;
try {
  first = await oauth.processClientCredentialsResponse(as, c, await ccReq());
} catch (e) {
  sawNonceError = oauth.isDPoPNonceError(e);
  if (!sawNonceError) throw e;
  first = await oauth.processClientCredentialsResponse(as, c, await ccReq());
}
ok("oauth4webapi: a fresh key gets use_dpop_nonce first, then a DPoP token", sawNonceError && first.token_type === "dpop");

if (API) {
  // ---- the gateway: the DPoP-bound token with a fresh proof per request
  const r = await client.fetchProtectedResource(config, cc.access_token, new URL(API), "GET", undefined, undefined, { DPoP });
  ok("the gateway accepts a DPoP-bound token with its proof", r.status === 200, r.status);
  const again = await client.fetchProtectedResource(config, cc.access_token, new URL(API), "GET", undefined, undefined, { DPoP });
  ok("and a second request with a new proof", again.status === 200, again.status);
  const bearer = await fetch(API, { headers: { authorization: `Bearer ${cc.access_token}` } });
  ok("the gateway refuses the bound token as a bearer token", bearer.status === 401 && /^DPoP /.test(bearer.headers.get("www-authenticate") ?? ""), bearer.status);

  // ---- oauth4webapi at the gateway: a fresh handle knows no nonce yet,
  // so a route with dpop_nonce answers use_dpop_nonce first; the handle
  // keeps the DPoP-Nonce of that answer and the retry is accepted.
  const dpop3 = oauth.DPoP(c, kp2);
  const apiReq = () =>
    oauth.protectedResourceRequest(first.access_token, "GET", new URL(API), undefined, undefined, {
      DPoP: dpop3,
      [oauth.allowInsecureRequests]: true,
    });
  let res;
  let sawGatewayNonce = false;
  try {
    res = await apiReq();
  } catch (e) {
    sawGatewayNonce = oauth.isDPoPNonceError(e);
    if (!sawGatewayNonce) throw e;
    res = await apiReq();
  }
  ok("oauth4webapi: the gateway asks for its nonce, the retry passes", sawGatewayNonce && res.status === 200, res.status);
  ok("the gateway's answers carry the current DPoP-Nonce", res.headers.get("dpop-nonce") !== null);
}

console.log(`ALL OK (${passed} checks)`);
