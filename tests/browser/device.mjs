// The device authorization grant (RFC 8628) with two real parties at once:
// a device played by panva's oauth4webapi (its deviceAuthorizationRequest /
// deviceCodeGrantRequest / processDeviceCodeResponse, which validate the
// responses and the ID token strictly) polling the token endpoint, and a
// user in Debian's headless chromium on gatehouse's verification page.
// Run by tests/device_browser.rs:
//   node device.mjs ISSUER API_URL SCREENSHOT_DIR
// Prints one JSON object on stdout.

import { chromium } from 'playwright-core';
import * as oauth from '../interop/panva/node_modules/oauth4webapi/build/index.js';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const [issuer, apiUrl, shots] = process.argv.slice(2);
if (!issuer || !apiUrl || !shots) {
  console.error('usage: node device.mjs ISSUER API_URL SCREENSHOT_DIR');
  process.exit(2);
}
const insecure = { [oauth.allowInsecureRequests]: true };
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

const as = await oauth.processDiscoveryResponse(
  new URL(issuer),
  await oauth.discoveryRequest(new URL(issuer), { algorithm: 'oauth2', ...insecure }),
);
const tv = { client_id: 'tv' };

/// The device: ask for a code, then poll as RFC 8628 §3.5 says (wait the
/// interval, add 5 s on slow_down). `eager`: poll twice at once first, which
/// must be answered slow_down. Resolves with the tokens or the final error.
async function device(scope, eager) {
  const da = await oauth.processDeviceAuthorizationResponse(
    as,
    tv,
    await oauth.deviceAuthorizationRequest(as, tv, oauth.None(), { scope }, insecure),
  );
  const seen = [];
  let interval = da.interval ?? 5;
  const once = async () => {
    const resp = await oauth.deviceCodeGrantRequest(as, tv, oauth.None(), da.device_code, insecure);
    try {
      return { tokens: await oauth.processDeviceCodeResponse(as, tv, resp) };
    } catch (e) {
      if (e instanceof oauth.ResponseBodyError) return { error: e.error, interval: e.cause?.interval };
      throw e;
    }
  };
  const polling = (async () => {
    if (eager) {
      for (const r of [await once(), await once()]) {
        seen.push(r.error);
        if (r.error === 'slow_down') interval += 5;
      }
    }
    const deadline = Date.now() + 120000;
    while (Date.now() < deadline) {
      await sleep(interval * 1000);
      const r = await once();
      if (r.tokens) return { ...r, seen };
      seen.push(r.error);
      if (r.error === 'authorization_pending') continue;
      if (r.error === 'slow_down') {
        interval += 5;
        continue;
      }
      return { ...r, seen };
    }
    return { error: 'the device gave up', seen };
  })();
  return { da, polling };
}

const profile = mkdtempSync(join(tmpdir(), 'gatehouse-chromium-'));
const context = await chromium.launchPersistentContext(profile, {
  executablePath: '/usr/bin/chromium',
  headless: true,
  viewport: { width: 900, height: 760 },
  args: [
    '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync',
  ],
});

const out = {};
try {
  const page = context.pages()[0] ?? (await context.newPage());
  page.setDefaultTimeout(20000);

  // (1) The device polls (eagerly at first); the user types the code in
  // lower case without the dash, a wrong one first, signs in and allows.
  {
    const { da, polling } = await device('openid photos', true);
    out.authorization = {
      user_code: da.user_code,
      verification_uri: da.verification_uri,
      verification_uri_complete: da.verification_uri_complete,
      expires_in: da.expires_in,
      interval: da.interval,
    };
    await page.goto(da.verification_uri);
    const start = { h1: (await page.textContent('h1')).trim() };
    await page.fill('#user_code', 'BCDF-GHJK');
    await page.click('#continue');
    await page.waitForSelector('#error');
    start.wrong = (await page.textContent('#error')).trim();
    await page.fill('#user_code', da.user_code.replace('-', '').toLowerCase());
    await page.click('#continue');
    await page.waitForSelector('#password');
    const login = { h1: (await page.textContent('h1')).trim(), text: (await page.textContent('main')).replace(/\s+/g, ' ') };
    await page.fill('#username', 'alice');
    await page.fill('#password', 'wonderland');
    await page.click('#login');
    await page.waitForSelector('#allow');
    const consent = {
      h1: (await page.textContent('h1')).trim(),
      scopes: (await page.locator('#scopes li').allTextContents()).map((s) => s.trim()),
      shown_code: (await page.textContent('#shown_code')).trim(),
    };
    await page.screenshot({ path: join(shots, 'device-consent.png') });
    await page.click('#allow');
    await page.waitForSelector('#done');
    const done = (await page.textContent('main')).replace(/\s+/g, ' ').trim();
    const result = await polling;
    const t = result.tokens;
    const api = t ? await fetch(apiUrl, { headers: { authorization: `Bearer ${t.access_token}` } }) : null;
    const claims = t?.id_token ? oauth.getValidatedIdTokenClaims(t) : null;
    out.allow = {
      start, login, consent, done,
      seen: result.seen,
      error: result.error,
      token_type: t?.token_type,
      scope: t?.scope,
      has_refresh: typeof t?.refresh_token === 'string',
      id_token_sub: claims?.sub,
      id_token_aud: claims?.aud,
      api: api ? { status: api.status, body: await api.text() } : null,
    };
  }

  // (2) verification_uri_complete, already signed in: the code is filled in
  // and shown again on the consent page; the user denies.
  {
    const { da, polling } = await device('photos', false);
    await page.goto(da.verification_uri_complete);
    const prefilled = await page.inputValue('#user_code');
    await page.click('#continue');
    await page.waitForSelector('#deny');
    const shown = (await page.textContent('#shown_code')).trim();
    await page.click('#deny');
    await page.waitForSelector('#denied');
    const result = await polling;
    out.deny = { user_code: da.user_code, prefilled, shown, seen: result.seen, error: result.error };
  }
} catch (e) {
  out.failure = String(e?.stack ?? e);
} finally {
  await context.close();
  rmSync(profile, { recursive: true, force: true });
}
console.log(JSON.stringify(out));
