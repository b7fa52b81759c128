// Opens the admin console's overview in Debian's headless chromium after
// some traffic and prints what it saw as one JSON object on stdout. Run by
// tests/admin_traffic.rs:
//   node traffic.mjs GATEHOUSE_URL ADMIN_PASSWORD ARTIFACT_DIR

import { chromium } from 'playwright-core';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const [base, password, artifacts] = process.argv.slice(2);
if (!base || !password || !artifacts) {
  console.error('usage: node traffic.mjs GATEHOUSE_URL ADMIN_PASSWORD ARTIFACT_DIR');
  process.exit(2);
}

const profile = mkdtempSync(join(tmpdir(), 'gatehouse-traffic-'));
const context = await chromium.launchPersistentContext(profile, {
  executablePath: '/usr/bin/chromium',
  headless: true,
  viewport: { width: 1200, height: 1000 },
  args: [
    '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync',
  ],
});

// Bars actually drawn: rendered rects with a height, per chart class.
async function bars(page, rowSelector, chartClass) {
  return page.$$eval(`${rowSelector} svg.chart.${chartClass} rect.bar`, (rs) =>
    rs.filter((r) => r.getBBox().height > 0 && r.getBoundingClientRect().width > 0).length);
}

const out = {};
try {
  const page = context.pages()[0] ?? (await context.newPage());
  page.setDefaultTimeout(20000);
  await page.goto(`${base}/admin/`);
  await page.fill('#username', 'admin');
  await page.fill('#password', password);
  await page.click('#sign-in');
  await page.waitForSelector('#routes-h');
  out.url = page.url();
  out.title = await page.title();
  out.current = await page.$eval('nav a[aria-current=page]', (a) => a.textContent);
  out.routes = await page.$$eval('#routes tbody tr', (rs) => rs.map((r) => r.dataset.route));
  out.photos = {
    rps: await bars(page, '#routes tr[data-route=photos]', 'rps'),
    p99: await bars(page, '#routes tr[data-route=photos]', 'p99'),
    p50: await bars(page, '#routes tr[data-route=photos]', 'p50'),
    total: await page.$eval('#routes tr[data-route=photos] .total', (e) => e.textContent),
  };
  out.broken = { errors: await bars(page, '#routes tr[data-route=broken]', 'errors') };
  out.targets = await page.$$eval('#upstreams tbody tr', (rs) =>
    rs.map((r) => ({ target: r.dataset.target, health: r.querySelector('.tag').textContent })));
  out.targetBars = await bars(page, '#upstreams', 'rps');
  out.grants = await page.$$eval('#tokens tbody tr', (rs) => rs.map((r) => r.dataset.grant));
  out.tokenBars = await bars(page, '#tokens', 'tokens');
  out.limited = await page.$$eval('#limited tbody tr', (rs) => rs.map((r) => r.dataset.route));
  out.limitedBars = await bars(page, '#limited', 'limited');
  await page.screenshot({ path: join(artifacts, 'admin-overview.png'), fullPage: true });
  // The page refreshes itself: a new document within two intervals.
  const marker = await page.evaluate(() => (window.__seen = Math.random()));
  await page.waitForFunction((m) => window.__seen !== m, marker, { timeout: 15000, polling: 250 });
  await page.waitForSelector('#routes-h');
  out.refreshed = true;
} catch (e) {
  out.failure = String((e && e.stack) || e);
} finally {
  await context.close();
  rmSync(profile, { recursive: true, force: true });
}
console.log(JSON.stringify(out));
