// A page on one origin calls an API on another through gatehouse, as a
// single-page app does, in Debian's headless chromium. Run by
// tests/policies.rs:
//   node cors.mjs API_URL TOKEN PAGE_URL...
// For each page it loads the page, then fetches API_URL with a Bearer
// token from the page's own script (which makes the browser send a CORS
// preflight first), and prints per page what the script could read.

import { chromium } from 'playwright-core';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const [api, token, ...pages] = process.argv.slice(2);
if (!api || !token || pages.length === 0) {
  console.error('usage: node cors.mjs API_URL TOKEN PAGE_URL...');
  process.exit(2);
}

const profile = mkdtempSync(join(tmpdir(), 'gatehouse-cors-'));
const context = await chromium.launchPersistentContext(profile, {
  executablePath: '/usr/bin/chromium',
  headless: true,
  args: [
    '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync',
  ],
});

const out = { pages: {} };
try {
  const page = context.pages()[0] ?? (await context.newPage());
  page.setDefaultTimeout(20000);
  for (const url of pages) {
    await page.goto(url);
    out.pages[url] = await page.evaluate(async ([api, token]) => {
      try {
        const r = await fetch(api, { headers: { authorization: `Bearer ${token}`, 'x-trace': '1' } });
        return { status: r.status, body: await r.text(), ratelimit: r.headers.get('ratelimit') };
      } catch (e) {
        return { error: String(e) };
      }
    }, [api, token]);
  }
} catch (e) {
  out.failure = String(e && e.stack || e);
} finally {
  await context.close();
  rmSync(profile, { recursive: true, force: true });
}
console.log(JSON.stringify(out));
