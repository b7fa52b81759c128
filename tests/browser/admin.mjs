// Drives Debian's headless chromium through the admin console and prints
// what it saw as one JSON object on stdout. Run by tests/admin_browser.rs:
//   node admin.mjs GATEHOUSE_URL ADMIN_PASSWORD ARTIFACT_DIR
// Between pages it calls the token endpoint and an oauth2 route with fetch,
// as the registered application would.

import { chromium } from 'playwright-core';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const [base, password, artifacts] = process.argv.slice(2);
if (!base || !password || !artifacts) {
  console.error('usage: node admin.mjs GATEHOUSE_URL ADMIN_PASSWORD ARTIFACT_DIR');
  process.exit(2);
}

const profile = mkdtempSync(join(tmpdir(), 'gatehouse-admin-'));
const context = await chromium.launchPersistentContext(profile, {
  executablePath: '/usr/bin/chromium',
  headless: true,
  viewport: { width: 1100, height: 800 },
  args: [
    '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync',
  ],
});

async function clientCredentials(id, secret) {
  const r = await fetch(`${base}/api/oauth/token`, {
    method: 'POST',
    headers: {
      authorization: 'Basic ' + Buffer.from(`${encodeURIComponent(id)}:${encodeURIComponent(secret)}`).toString('base64'),
      'content-type': 'application/x-www-form-urlencoded',
    },
    body: 'grant_type=client_credentials&scope=photos',
  });
  return { status: r.status, body: await r.json() };
}

async function photos(token) {
  const r = await fetch(`${base}/photos`, { headers: { authorization: `Bearer ${token}` } });
  return { status: r.status, body: await r.text() };
}

const out = {};
try {
  await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: base });
  const page = context.pages()[0] ?? (await context.newPage());
  page.setDefaultTimeout(20000);

  // Sign in: /admin/ leads to the sign-in page.
  await page.goto(`${base}/admin/`);
  out.signIn = { url: page.url(), title: await page.title() };
  await page.fill('#username', 'admin');
  await page.fill('#password', password);
  await page.click('#sign-in');
  await page.waitForSelector('#routes-h');
  out.afterSignIn = page.url();
  await page.click('nav a[href="/admin/clients"]');
  await page.waitForSelector('#new-client');

  // Register a confidential client with a redirect URI; the page is the
  // first screenshot.
  await page.click('#new-client');
  await page.waitForSelector('#client_name');
  await page.fill('#client_name', 'Canon Printing');
  await page.fill('#client_id', 'canon-printer');
  await page.check('#type-confidential');
  await page.fill('#redirect_uris', 'http://127.0.0.1:9000/callback\nhttps://printing.example/callback');
  await page.check('#grant-authorization_code');
  await page.check('#grant-client_credentials');
  await page.fill('#scope', 'photos openid');
  await page.selectOption('#access_token_format', 'opaque');
  await page.fill('#access_token_ttl', '600');
  await page.screenshot({ path: join(artifacts, 'admin-register.png'), fullPage: true });
  await page.click('#save');
  await page.waitForSelector('#client-secret');

  // The secret, copied from the page (the copy button, and the field).
  const shown = await page.inputValue('#client-secret');
  let copied = null;
  if (await page.isVisible('#copy')) {
    await page.click('#copy');
    copied = await page.evaluate(() => navigator.clipboard.readText()).catch(() => null);
  }
  out.created = {
    clientId: (await page.textContent('#client-id')).trim(),
    secretLength: shown.length,
    copyButton: await page.isVisible('#copy'),
    copiedMatches: copied === null ? null : copied === shown,
  };

  // A real client_credentials request with it, and the token at the gateway.
  const first = await clientCredentials('canon-printer', shown);
  out.firstToken = { status: first.status, tokenType: first.body.token_type };
  out.firstCall = await photos(first.body.access_token);

  // The client list (second screenshot).
  await page.click('#done');
  await page.waitForSelector('#client-id');
  await page.goto(`${base}/admin/clients`);
  await page.waitForSelector('#clients');
  out.listed = (await page.locator('#clients tbody tr').allTextContents()).map((s) => s.replace(/\s+/g, ' ').trim());
  await page.screenshot({ path: join(artifacts, 'admin-clients.png'), fullPage: true });

  // The secret is not shown again anywhere.
  await page.click('text=Canon Printing');
  await page.waitForSelector('#regenerate');
  out.detailsShowSecret = (await page.content()).includes(shown);

  // Regenerate: a new secret is shown once; the old one now fails.
  await page.click('#regenerate');
  await page.waitForSelector('#client-secret');
  const second = await page.inputValue('#client-secret');
  out.regenerated = {
    differs: second !== shown,
    oldSecret: (await clientCredentials('canon-printer', shown)).status,
    newSecret: (await clientCredentials('canon-printer', second)).status,
  };
  const token = (await clientCredentials('canon-printer', second)).body.access_token;
  out.beforeRevoke = (await photos(token)).status;

  // The client's active tokens, then revoke them all: the gateway refuses.
  await page.click('#done');
  await page.waitForSelector('#tokens');
  await page.click('#tokens');
  await page.waitForSelector('#revoke-all');
  out.tokensListed = await page.locator('#tokens tbody tr').count();
  await page.click('#revoke-all');
  await page.waitForSelector('#notice');
  out.revokeNotice = (await page.textContent('#notice')).trim();
  out.afterRevoke = await photos(token);

  // Delete with confirmation.
  await page.goto(`${base}/admin/clients/canon-printer`);
  await page.click('#delete');
  await page.waitForSelector('#confirm');
  await page.click('#confirm');
  await page.waitForSelector('#new-client');
  out.afterDelete = {
    url: page.url(),
    stillListed: (await page.content()).includes('canon-printer'),
    tokenRequest: (await clientCredentials('canon-printer', second)).status,
  };

  // Keys page and sign-out.
  await page.click('text=Keys');
  await page.waitForSelector('#keys');
  out.keys = await page.locator('#keys tbody tr').count();
  out.currentBefore = (await page.locator('#keys tbody tr:has-text("current") code').allTextContents());
  await page.click('#rotate');
  await page.waitForSelector('#notice');
  out.keysAfterRotate = await page.locator('#keys tbody tr').count();
  out.currentAfter = (await page.locator('#keys tbody tr:has-text("current") code').allTextContents());
  out.retiring = await page.locator('#keys tbody tr:has-text("retiring")').count();
  await page.click('#sign-out');
  await page.waitForSelector('#sign-in');
  await page.goto(`${base}/admin/clients`);
  out.afterSignOut = page.url();
} catch (e) {
  out.failure = String(e && e.stack ? e.stack : e);
} finally {
  await context.close();
  rmSync(profile, { recursive: true, force: true });
}
console.log(JSON.stringify(out));
