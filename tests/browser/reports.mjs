// Opens the access-log reports' HTML pages (files, as a privacy officer or a patient would open them) in
// Debian's Chromium and prints what it saw as one JSON object on stdout; tests/api/reports_browser.rs
// makes the pages, runs this and judges the result.
//
//   node tests/browser/reports.mjs <screenshot folder> <page.html>...
//
// For each page: every request the browser made, policy violations, console errors, the document's
// language and title, whether every checkbox can be ticked, whether the page fits a 360 px screen, and
// axe-core's accessibility violations.

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { createRequire } from 'node:module';
import { chromium } from 'playwright-core';

const require = createRequire(import.meta.url);
const [shots, ...pages] = process.argv.slice(2);
const axeSource = fs.readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');

const userDataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'xua-reports-chromium-'));
const context = await chromium.launchPersistentContext(userDataDir, {
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  headless: true,
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  viewport: { width: 1280, height: 1000 },
});
// Runs before the page's own content (and outside its policy), so a blocked load is seen.
await context.addInitScript(() => {
  window.__violations = [];
  document.addEventListener('securitypolicyviolation',
    (e) => window.__violations.push(`${e.violatedDirective} ${e.blockedURI}`));
});

const out = { pages: {} };
try {
  for (const file of pages) {
    const url = pathToFileURL(file).href;
    const seen = { requests: [], console_errors: [] };
    const page = await context.newPage();
    page.on('request', (r) => { if (r.url() !== url) seen.requests.push(r.url()); });
    page.on('console', (m) => { if (m.type() === 'error') seen.console_errors.push(m.text()); });
    page.on('pageerror', (e) => seen.console_errors.push(String(e)));
    await page.goto(url, { waitUntil: 'load' });
    Object.assign(seen, await page.evaluate(() => ({
      lang: document.documentElement.lang,
      title: document.title,
      h1: document.querySelector('h1') ? document.querySelector('h1').innerText : null,
      text_length: document.body.innerText.length,
      checkboxes: document.querySelectorAll('input[type=checkbox]').length,
    })));
    // Tick every box, as the privacy officer does.
    for (const box of await page.locator('input[type=checkbox]').all()) await box.check();
    seen.ticked = await page.evaluate(() => document.querySelectorAll('input[type=checkbox]:checked').length);
    await page.evaluate(axeSource);
    const axe = await page.evaluate(() => window.axe.run(document, { resultTypes: ['violations'] }));
    seen.axe = axe.violations.map((v) => ({ id: v.id, impact: v.impact, nodes: v.nodes.length }));
    await page.screenshot({ path: path.join(shots, `${path.basename(file, '.html')}.png`), fullPage: true });
    await page.setViewportSize({ width: 360, height: 780 });
    seen.overflows_narrow = await page.evaluate(
      () => document.documentElement.scrollWidth > document.documentElement.clientWidth + 1);
    seen.violations = await page.evaluate(() => window.__violations);
    out.pages[path.basename(file)] = seen;
    await page.close();
  }
} catch (e) {
  out.error = String(e && e.stack ? e.stack : e);
} finally {
  await context.close();
  fs.rmSync(userDataDir, { recursive: true, force: true });
}
process.stdout.write(`${JSON.stringify(out)}\n`);
