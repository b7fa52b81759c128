// Drives Debian's headless chromium through the Flickr/Canon story
// (reference/002) and prints what it saw as one JSON object on stdout.
// Run by tests/browser.rs:
//   node flickr.mjs APP_URL GATEHOUSE_URL SCREENSHOT_PATH
// Only playwright-core is used, with the system browser: nothing is downloaded.

import { chromium } from 'playwright-core';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const [appUrl, gatehouseUrl, screenshot] = process.argv.slice(2);
if (!appUrl || !gatehouseUrl || !screenshot) {
  console.error('usage: node flickr.mjs APP_URL GATEHOUSE_URL SCREENSHOT_PATH');
  process.exit(2);
}

const profile = mkdtempSync(join(tmpdir(), 'gatehouse-chromium-'));
const context = await chromium.launchPersistentContext(profile, {
  executablePath: '/usr/bin/chromium',
  headless: true,
  viewport: { width: 900, height: 700 },
  args: [
    '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync',
  ],
});

const out = {};
try {
  const page = context.pages()[0] ?? (await context.newPage());
  page.setDefaultTimeout(20000);

  // Every page the main frame showed, in order: a consent page skipped by a
  // redirect never shows up here.
  let visited = [];
  page.on('framenavigated', (f) => {
    if (f === page.mainFrame()) visited.push(f.url());
  });

  const startAtApp = async () => {
    visited = [];
    await page.goto(appUrl);
    const home = { title: await page.title(), h1: await page.textContent('h1') };
    await page.click('text=Print my Flickr photos');
    await page.waitForLoadState('load');
    return home;
  };
  const consentPage = async () => {
    await page.waitForSelector('#allow');
    return {
      url: page.url(),
      h1: (await page.textContent('h1')).trim(),
      scopes: (await page.locator('#scopes li').allTextContents()).map((s) => s.trim()),
      hasDeny: await page.isVisible('#deny'),
    };
  };

  // (1) First visit, Deny: app → login (a wrong password first) → consent → Deny.
  {
    const home = await startAtApp();
    await page.waitForSelector('#username');
    const login = { url: page.url(), title: await page.title() };
    await page.fill('#username', 'alice');
    await page.fill('#password', 'not-the-password');
    await page.click('#login');
    await page.waitForSelector('.error');
    const wrongPassword = { url: page.url(), error: (await page.textContent('.error')).trim() };
    await page.fill('#username', 'alice');
    await page.fill('#password', 'wonderland');
    await page.click('#login');
    const consent = await consentPage();
    await page.click('#deny');
    await page.waitForSelector('#denied, #error');
    out.deny = {
      home,
      login,
      wrongPassword,
      consent,
      url: page.url(),
      denied: (await page.textContent('#denied, #error')).trim(),
      deniedShown: await page.isVisible('#denied'),
      visited,
    };
  }

  // (2) Again, Allow: the session is kept, so straight to consent (no login);
  // the consent page's screenshot is the test artifact.
  {
    await startAtApp();
    const consent = await consentPage();
    await page.screenshot({ path: screenshot, fullPage: true });
    await page.click('#allow');
    await page.waitForSelector('#photos, #error');
    out.allow = {
      consent,
      url: page.url(),
      error: (await page.locator('#error').allTextContents()).join(' '),
      photos: (await page.locator('#photos li').allTextContents()).map((s) => s.trim()),
      visited,
    };
  }

  // (3) Remembered consent: same browser, same session: no page of gatehouse
  // shows at all, the photos come straight back.
  {
    await startAtApp();
    await page.waitForSelector('#photos, #error, #allow, #username');
    out.remembered = {
      url: page.url(),
      error: (await page.locator('#error').allTextContents()).join(' '),
      photos: (await page.locator('#photos li').allTextContents()).map((s) => s.trim()),
      sawConsent: (await page.locator('#allow').count()) > 0,
      visited,
    };
  }
} catch (e) {
  out.failure = String(e && e.stack ? e.stack : e);
} finally {
  await context.close();
  rmSync(profile, { recursive: true, force: true });
}
console.log(JSON.stringify(out));
