// Drives the inspector page in Debian's Chromium (never a browser of its own) and prints what it saw as one
// JSON object on stdout; tests/api/browser.rs starts the gateway, runs this and judges the result.
//
//   node tests/browser/inspector.mjs <gateway URL> <screenshot.png> <inputs.json>
//
// inputs.json: { valid, tampered, participant_jwt, participant_jwks } (tokens as text).

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createRequire } from 'node:module';
import { chromium } from 'playwright-core';

const require = createRequire(import.meta.url);
const [base, screenshot, inputsPath] = process.argv.slice(2);
const inputs = JSON.parse(fs.readFileSync(inputsPath, 'utf8'));
const origin = new URL(base).origin;
const axeSource = fs.readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');

const userDataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'xua-inspector-chromium-'));
const context = await chromium.launchPersistentContext(userDataDir, {
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  headless: true,
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  viewport: { width: 1280, height: 1000 },
  permissions: ['clipboard-read', 'clipboard-write'],
});

const out = { requests: [], foreign: [], without_csp: [], console_errors: [], scenarios: {} };
context.on('request', (r) => {
  out.requests.push(`${r.method()} ${r.url()}`);
  if (!r.url().startsWith(`${origin}/`)) out.foreign.push(r.url());
});
const pending = [];
context.on('response', (r) => {
  pending.push(r.allHeaders().then((h) => {
    out.requests_checked = (out.requests_checked || 0) + 1;
    if (!h['content-security-policy']) out.without_csp.push(r.url());
    else out.csp = h['content-security-policy'];
  }));
});

async function newPage(viewport) {
  const page = await context.newPage();
  if (viewport) await page.setViewportSize(viewport);
  page.on('console', (m) => { if (m.type() === 'error') out.console_errors.push(m.text()); });
  page.on('pageerror', (e) => out.console_errors.push(String(e)));
  return page;
}

async function submit(page, action) {
  await Promise.all([
    page.waitForResponse((r) => r.url() === `${origin}/inspect`),
    action(),
  ]);
  await page.waitForFunction(() => !document.getElementById('inspect').disabled
    && !document.getElementById('report').hidden);
}

function read(page) {
  return page.evaluate(() => {
    const byId = (id) => document.getElementById(id);
    return {
      url_path: location.pathname,
      verdict: byId('verdict').textContent,
      verdict_class: byId('verdict').className,
      checks: [...document.querySelectorAll('#checks-0 > li')].map((li) => ({
        rule: li.dataset.rule,
        class: li.className,
        text: li.textContent,
        links: [...li.querySelectorAll('a')].map((a) => a.href),
      })),
      item_rules: [...document.querySelectorAll('#tokens li.item')].map((li) => li.dataset.rule),
      model_rows: document.querySelectorAll('table.model tbody tr').length,
      input_kind: byId('input-0')?.dataset.kind ?? null,
      input: byId('input-0')?.textContent ?? null,
      preview_kind: byId('preview-0')?.dataset.kind ?? null,
      preview: byId('preview-0')?.textContent ?? null,
      rules_listed: document.querySelectorAll('#rules tbody tr').length,
      scroll_width: document.documentElement.scrollWidth,
      inner_width: window.innerWidth,
    };
  });
}

async function axe(page) {
  await page.evaluate(axeSource);
  const result = await page.evaluate(() => window.axe.run(document, { resultTypes: ['violations'] }));
  return result.violations.map((v) => ({ id: v.id, impact: v.impact, nodes: v.nodes.map((n) => n.target.join(' ')) }));
}

try {
  // A valid assertion, pasted; the page is reached through / (which leads to /inspector).
  const page = await newPage();
  await page.goto(`${base}/`);
  await page.waitForFunction(() => document.querySelectorAll('#rules tbody tr').length > 0);
  out.axe_empty = await axe(page);
  await page.fill('#token', inputs.valid);
  await submit(page, () => page.click('#inspect'));
  out.scenarios.valid = await read(page);

  // The report downloads as JSON; a file read through the file input lands in the token box.
  const [saved] = await Promise.all([page.waitForEvent('download'), page.click('#download-report')]);
  const savedPath = await saved.path();
  const savedReport = JSON.parse(fs.readFileSync(savedPath, 'utf8'));
  out.download = { name: saved.suggestedFilename(), verdict: savedReport.verdict, accepted: savedReport.accepted };
  await page.setInputFiles('#file', { name: 'assertion.xml', mimeType: 'application/xml', buffer: Buffer.from(inputs.valid) });
  await page.waitForFunction((n) => document.getElementById('token').value.length === n, inputs.valid.length);
  out.file_read = (await page.inputValue('#token')) === inputs.valid;
  await page.locator('#report').scrollIntoViewIfNeeded();
  await page.screenshot({ path: screenshot });
  out.axe_report = await axe(page);

  // Copy link: the token goes into the fragment only.
  await page.click('#copy-link');
  await page.waitForFunction(() => location.hash.startsWith('#inspect='));
  const link = await page.evaluate(() => location.href);
  const made = await page.evaluate(() => window.xuaInspector.linkFor());
  let clipboard = null;
  try { clipboard = await page.evaluate(() => navigator.clipboard.readText()); } catch { clipboard = null; }
  out.link = { same_as_page: link === made, clipboard_matches: clipboard === null ? null : clipboard === link,
    fragment_only: new URL(link).search === '' && new URL(link).hash.length > 20,
    length: link.length };

  // Opening the copied link re-runs the inspection.
  const opened = await newPage();
  await Promise.all([
    opened.waitForResponse((r) => r.url() === `${origin}/inspect`),
    opened.goto(link),
  ]);
  await opened.waitForFunction(() => !document.getElementById('report').hidden
    && document.querySelectorAll('#checks-0 > li').length > 0);
  out.scenarios.link = await read(opened);
  out.scenarios.link.token_restored = (await opened.inputValue('#token')) === inputs.valid;
  await opened.close();

  // One value changed after signing.
  await page.fill('#token', inputs.tampered);
  await submit(page, () => page.click('#inspect'));
  out.scenarios.tampered = await read(page);

  // A participant's JWT with the participant's own JWKS.
  await page.fill('#token', inputs.participant_jwt);
  await page.click('#key-box summary');
  await page.fill('#key', inputs.participant_jwks);
  await submit(page, () => page.click('#inspect'));
  out.scenarios.participant = await read(page);
  out.axe_participant = await axe(page);
  await page.close();

  // Keyboard only, at 360 px: Tab to the token box, paste, Tab to the button, Enter.
  const narrow = await newPage({ width: 360, height: 780 });
  await narrow.goto(`${base}/inspector`);
  await narrow.waitForFunction(() => document.querySelectorAll('#rules tbody tr').length > 0);
  const tabs = async (id) => {
    for (let i = 0; i < 20; i++) {
      await narrow.keyboard.press('Tab');
      if (await narrow.evaluate(() => document.activeElement && document.activeElement.id) === id) return i + 1;
    }
    return -1;
  };
  out.keyboard = { tabs_to_token: await tabs('token') };
  await narrow.keyboard.insertText(inputs.valid);
  out.keyboard.tabs_to_button = await tabs('inspect');
  await submit(narrow, () => narrow.keyboard.press('Enter'));
  out.scenarios.keyboard = await read(narrow);
  out.axe_narrow = await axe(narrow);
  await narrow.close();
} catch (e) {
  out.error = String(e && e.stack ? e.stack : e);
} finally {
  await Promise.allSettled(pending);
  await context.close();
  fs.rmSync(userDataDir, { recursive: true, force: true });
}
process.stdout.write(`${JSON.stringify(out)}\n`);
