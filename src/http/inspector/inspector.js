// The inspector page. It talks to this gateway only (POST /inspect, GET /inspector/meta.json); a copied link
// carries the token in the URL fragment, which the browser never sends. Everything shown is set as text, never
// parsed as HTML.
'use strict';

(() => {
  const $ = (id) => document.getElementById(id);
  const state = { report: null, request: null, meta: null };

  /** An element with text or child elements; attributes are set one by one, never as markup. */
  function el(tag, attrs, ...children) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === undefined || v === null || v === false) continue;
      if (k === 'class') e.className = v;
      else e.setAttribute(k, v === true ? '' : String(v));
    }
    for (const c of children.flat()) {
      if (c === undefined || c === null) continue;
      e.append(c instanceof Node ? c : document.createTextNode(String(c)));
    }
    return e;
  }

  // ── base64url and the link's fragment ─────────────────────────────────────────────────────────────
  const utf8 = new TextEncoder();
  const fromUtf8 = new TextDecoder();

  function b64url(bytes) {
    let s = '';
    for (let i = 0; i < bytes.length; i += 0x8000) s += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
    return btoa(s).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
  }

  function unb64url(text) {
    const s = text.replace(/-/g, '+').replace(/_/g, '/');
    const bin = atob(s + '='.repeat((4 - (s.length % 4)) % 4));
    const out = new Uint8Array(bin.length);
    for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
    return out;
  }

  async function pack(request) {
    const bytes = utf8.encode(JSON.stringify(request));
    if (typeof CompressionStream === 'function') {
      const stream = new Blob([bytes]).stream().pipeThrough(new CompressionStream('deflate-raw'));
      return 'z.' + b64url(new Uint8Array(await new Response(stream).arrayBuffer()));
    }
    return 'j.' + b64url(bytes);
  }

  async function unpack(text) {
    const [kind, data] = [text.slice(0, 2), text.slice(2)];
    let bytes = unb64url(data);
    if (kind === 'z.') {
      const stream = new Blob([bytes]).stream().pipeThrough(new DecompressionStream('deflate-raw'));
      bytes = new Uint8Array(await new Response(stream).arrayBuffer());
    } else if (kind !== 'j.') {
      throw new Error('not an inspector link');
    }
    const r = JSON.parse(fromUtf8.decode(bytes));
    if (typeof r !== 'object' || r === null || typeof r.token !== 'string') throw new Error('not an inspector link');
    return r;
  }

  // ── the form ──────────────────────────────────────────────────────────────────────────────────────
  function localInput(iso) {
    const d = new Date(iso);
    if (Number.isNaN(d.getTime())) return '';
    const p = (n) => String(n).padStart(2, '0');
    return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}T${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
  }

  function readForm() {
    const request = { token: $('token').value };
    if ($('profile').value) request.profile = $('profile').value;
    if ($('at').value) {
      const d = new Date($('at').value);
      if (!Number.isNaN(d.getTime())) request.at = d.toISOString().replace(/\.\d{3}Z$/, 'Z');
    }
    if ($('key').value.trim()) request.key = $('key').value;
    return request;
  }

  function fillForm(r) {
    $('token').value = r.token || '';
    $('profile').value = r.profile || '';
    $('at').value = r.at ? localInput(r.at) : '';
    $('key').value = r.key || '';
    $('key-box').open = Boolean(r.key);
  }

  function notice(text) {
    $('notice').textContent = text;
  }

  async function inspect(request) {
    if (!request.token.trim()) {
      notice('Paste a token first.');
      $('token').focus();
      return;
    }
    const button = $('inspect');
    button.disabled = true;
    notice('Inspecting…');
    try {
      const res = await fetch('/inspect', {
        method: 'POST',
        headers: { 'Content-Type': 'application/json', Accept: 'application/json' },
        body: JSON.stringify(request),
        cache: 'no-store',
        credentials: 'omit',
      });
      const body = await res.json();
      if (!res.ok) {
        showError(body.error_description || `the gateway answered ${res.status}`);
        return;
      }
      state.report = body;
      state.request = request;
      render(body, request);
      notice('');
    } catch (e) {
      showError(`the inspection could not run: ${e.message}`);
    } finally {
      button.disabled = false;
    }
  }

  function showError(text) {
    const report = $('report');
    report.hidden = false;
    const v = $('verdict');
    v.className = 'verdict fail';
    v.textContent = `Not inspected: ${text}`;
    $('summary').textContent = '';
    $('tokens').replaceChildren();
    state.report = null;
    notice('');
    report.focus();
  }

  // ── the report ────────────────────────────────────────────────────────────────────────────────────
  const CHECK_CLASS = { ok: 'ok', warn: 'warn', info: 'warn', fail: 'fail', skipped: 'fail' };
  const ITEM_CLASS = { mapped: 'ok', protocol: 'ok', ignored: 'warn', unknown: 'warn', invalid: 'fail' };

  function ruleLine(x) {
    const parts = [el('span', {}, 'rule ', el('code', {}, x.rule_id)), ' · '];
    if (typeof x.spec_url === 'string' && x.spec_url.startsWith('https://')) {
      parts.push(el('a', { href: x.spec_url, rel: 'noopener noreferrer', target: '_blank' }, x.spec));
    } else {
      parts.push(x.spec);
    }
    return el('p', { class: 'rule' }, parts);
  }

  function itemBox(cls, badge, name, message, x, values) {
    return el('li', { class: `item ${cls}`, 'data-rule': x.rule_id },
      el('div', { class: 'head' }, el('span', { class: 'badge' }, badge), el('span', { class: 'name' }, name)),
      message ? el('p', { class: 'msg' }, message) : null,
      values && values.length ? el('ul', { class: 'values mono' }, values.map((v) => el('li', {}, v))) : null,
      ruleLine(x));
  }

  function flatten(value, prefix, rows) {
    if (Array.isArray(value)) {
      value.forEach((v, i) => flatten(v, `${prefix}[${i}]`, rows));
    } else if (value !== null && typeof value === 'object') {
      for (const [k, v] of Object.entries(value)) flatten(v, prefix ? `${prefix}.${k}` : k, rows);
    } else {
      rows.push([prefix, String(value)]);
    }
    return rows;
  }

  function prettyXml(text) {
    const doc = new DOMParser().parseFromString(text, 'application/xml');
    if (!doc.documentElement || doc.getElementsByTagName('parsererror').length) return text;
    const esc = (s) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
    const out = [];
    const walk = (node, depth) => {
      const pad = '  '.repeat(depth);
      if (node.nodeType === Node.ELEMENT_NODE) {
        let open = `<${node.nodeName}`;
        for (const a of node.attributes) open += ` ${a.name}="${esc(a.value).replace(/"/g, '&quot;')}"`;
        const kids = [...node.childNodes].filter((n) => !(n.nodeType === Node.TEXT_NODE && !n.nodeValue.trim()));
        if (!kids.length) out.push(`${pad}${open}/>`);
        else if (kids.length === 1 && kids[0].nodeType === Node.TEXT_NODE) {
          out.push(`${pad}${open}>${esc(kids[0].nodeValue.trim())}</${node.nodeName}>`);
        } else {
          out.push(`${pad}${open}>`);
          kids.forEach((k) => walk(k, depth + 1));
          out.push(`${pad}</${node.nodeName}>`);
        }
      } else if (node.nodeType === Node.TEXT_NODE || node.nodeType === Node.CDATA_SECTION_NODE) {
        out.push(pad + esc(node.nodeValue.trim()));
      } else if (node.nodeType === Node.COMMENT_NODE) {
        out.push(`${pad}<!--${node.nodeValue}-->`);
      }
    };
    walk(doc.documentElement, 0);
    return out.join('\n');
  }

  function decodeJson(segment) {
    try {
      return JSON.stringify(JSON.parse(fromUtf8.decode(unb64url(segment))), null, 2);
    } catch {
      return '(not base64url JSON)';
    }
  }

  /** The input as a person reads it: pretty XML, or the JWT's header and payload. */
  function inputView(token) {
    const t = token.trim();
    if (t.startsWith('<')) return { kind: 'xml', text: prettyXml(t) };
    if (t.startsWith('{')) {
      try {
        return { kind: 'json', text: JSON.stringify(JSON.parse(t), null, 2) };
      } catch {
        return { kind: 'text', text: t };
      }
    }
    const parts = t.split('.');
    if (parts.length === 3) {
      return { kind: 'jwt', text: `// header\n${decodeJson(parts[0])}\n// payload\n${decodeJson(parts[1])}` };
    }
    return { kind: 'text', text: t };
  }

  function previewView(tr) {
    if (tr.kind === 'jwt-claims') {
      const header = JSON.stringify(tr.header || {}, null, 2);
      return { kind: 'jwt', text: `// JWT header\n${header}\n// JWT payload (the registered claims are added when issued)\n${JSON.stringify(tr.content, null, 2)}` };
    }
    const esc = (s) => String(s).replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
    const lines = ['<saml:AttributeStatement>'];
    for (const a of tr.content.attributes || []) {
      lines.push(`  <saml:Attribute Name="${esc(a.name).replace(/"/g, '&quot;')}">`);
      for (const v of a.values) {
        lines.push(v.trim().startsWith('<') ? `    <saml:AttributeValue>${v}</saml:AttributeValue>` : `    <saml:AttributeValue>${esc(v)}</saml:AttributeValue>`);
      }
      lines.push('  </saml:Attribute>');
    }
    lines.push('</saml:AttributeStatement>');
    const subject = tr.content.name_id ? `<saml:NameID>${esc(tr.content.name_id)}</saml:NameID>\n` : '';
    return { kind: 'xml', text: subject + lines.join('\n') };
  }

  function paneWithButtons(title, id, view, filename) {
    const pre = el('pre', { id, 'data-kind': view.kind, tabindex: '0', 'aria-label': title }, view.text);
    const copy = el('button', { type: 'button', class: 'secondary' }, 'Copy');
    copy.addEventListener('click', () => copyText(view.text, `${title} copied.`));
    const down = el('button', { type: 'button', class: 'secondary' }, 'Download');
    down.addEventListener('click', () => download(filename, view.text, 'text/plain'));
    return el('div', { class: 'pane' }, el('h4', {}, title), el('div', { class: 'actions' }, copy, down), pre);
  }

  function renderToken(t, i, request) {
    const box = el('section', { class: 'token', 'aria-labelledby': `token-${i}` });
    box.append(el('h3', { id: `token-${i}` }, `${t.label} — ${t.accepted ? 'accepted' : 'refused'}`));
    box.append(el('h4', {}, 'Checks'));
    box.append(el('ol', { class: 'items', id: `checks-${i}` },
      t.checks.map((c) => itemBox(CHECK_CLASS[c.status] || 'warn', c.status, c.name, c.message, c))));
    if (t.items.length) {
      box.append(el('h4', {}, 'Attributes and claims'));
      box.append(el('ol', { class: 'items' }, t.items.map((it) =>
        itemBox(ITEM_CLASS[it.status] || 'warn', it.status, it.field ? `${it.source} → ${it.field}` : it.source,
          it.detail, it, it.values))));
    }
    if (t.registers && t.registers.length) {
      box.append(el('h4', {}, 'Registers asked'));
      box.append(el('ol', { class: 'items', id: `registers-${i}` }, t.registers.map((r) =>
        itemBox(CHECK_CLASS[r.status] || 'warn', r.answer, `${r.register} (rule ${r.rule})`, r.detail, r))));
    }
    box.append(el('h4', {}, 'Value rules'));
    box.append(t.findings.length
      ? el('ol', { class: 'items' }, t.findings.map((f) =>
        itemBox(f.severity === 'error' ? 'fail' : 'warn', f.severity, `${f.field} fails rule ${f.rule}`, f.problem, f)))
      : el('p', { class: 'help' }, 'No value rule fails.'));
    if (t.model) {
      const rows = flatten(t.model, '', []);
      box.append(el('h4', {}, 'The model'));
      box.append(el('div', { class: 'table-wrap' }, el('table', { class: 'model' },
        el('caption', {}, 'The care relationship as the gateway reads it'),
        el('thead', {}, el('tr', {}, el('th', { scope: 'col' }, 'Field'), el('th', { scope: 'col' }, 'Value'))),
        el('tbody', {}, rows.map(([k, v]) => el('tr', {}, el('th', { scope: 'row', class: 'mono' }, k), el('td', {}, v)))))));
    }
    const panes = [paneWithButtons('Input', `input-${i}`, inputView(request.token), 'input.txt')];
    if (t.translation) {
      panes.push(paneWithButtons('Would issue (unsigned preview)', `preview-${i}`, previewView(t.translation),
        t.translation.kind === 'jwt-claims' ? 'preview.jwt.json' : 'preview.xml'));
    }
    box.append(el('h4', {}, 'Translation preview'));
    box.append(el('div', { class: 'side' }, panes));
    return box;
  }

  function render(r, request) {
    const report = $('report');
    report.hidden = false;
    const v = $('verdict');
    v.className = `verdict ${r.accepted ? 'ok' : 'fail'}`;
    v.textContent = `${r.accepted ? 'Accepted' : 'Refused'}: ${r.verdict}`;
    $('summary').textContent = `${r.input}; profile ${r.profile || '(none)'} (${r.profile_choice || '—'}); checked at ${r.checked_at}.`;
    $('tokens').replaceChildren(...r.tokens.map((t, i) => renderToken(t, i, request)));
    report.focus();
  }

  // ── copy, download, link ──────────────────────────────────────────────────────────────────────────
  async function copyText(text, done) {
    try {
      await navigator.clipboard.writeText(text);
      notice(done);
    } catch {
      notice('The browser did not allow copying; select the text and copy it by hand.');
    }
  }

  function download(name, text, type) {
    const url = URL.createObjectURL(new Blob([text], { type }));
    const a = el('a', { href: url, download: name });
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 1000);
  }

  async function linkFor(request) {
    return `${location.origin}${location.pathname}#inspect=${await pack(request)}`;
  }

  async function fromFragment() {
    const m = /^#inspect=(.+)$/.exec(location.hash);
    if (!m) return;
    try {
      const request = await unpack(m[1]);
      fillForm(request);
      await inspect(request);
    } catch (e) {
      showError(`the link cannot be read (${e.message})`);
    }
  }

  // ── rules and profiles ────────────────────────────────────────────────────────────────────────────
  async function loadMeta() {
    const res = await fetch('/inspector/meta.json', { cache: 'no-store', credentials: 'omit' });
    const meta = await res.json();
    state.meta = meta;
    const select = $('profile');
    for (const p of meta.profiles) {
      select.append(el('option', { value: p }, p === meta.default_profile ? `${p} (default)` : p));
    }
    $('rules').tBodies[0].replaceChildren(...meta.rules.map((r) => el('tr', { id: `rule-${r.id}` },
      el('th', { scope: 'row' }, el('code', {}, r.id)),
      el('td', {}, r.title, r.pending ? ' (not checked by this build yet)' : ''),
      el('td', {}, r.url ? el('a', { href: r.url, rel: 'noopener noreferrer', target: '_blank' }, r.spec) : r.spec,
        ` ${r.section}`, r.also.map((a) => [' · ', el('a', { href: a.url, rel: 'noopener noreferrer', target: '_blank' }, a.name)])))));
  }

  // ── wiring ────────────────────────────────────────────────────────────────────────────────────────
  function readFile(file) {
    if (!file) return;
    file.text().then((text) => {
      $('token').value = text;
      notice(`Read ${file.name}.`);
    });
  }

  function init() {
    $('form').addEventListener('submit', (e) => {
      e.preventDefault();
      inspect(readForm());
    });
    $('token').addEventListener('keydown', (e) => {
      if (e.key === 'Enter' && (e.ctrlKey || e.metaKey)) {
        e.preventDefault();
        inspect(readForm());
      }
    });
    $('clear').addEventListener('click', () => {
      fillForm({ token: '' });
      $('report').hidden = true;
      history.replaceState(null, '', location.pathname);
      $('token').focus();
    });
    $('file').addEventListener('change', (e) => readFile(e.target.files[0]));
    const drop = $('token');
    drop.addEventListener('dragover', (e) => e.preventDefault());
    drop.addEventListener('drop', (e) => {
      if (e.dataTransfer && e.dataTransfer.files.length) {
        e.preventDefault();
        readFile(e.dataTransfer.files[0]);
      }
    });
    $('copy-link').addEventListener('click', async () => {
      if (!state.request) return;
      const link = await linkFor(state.request);
      history.replaceState(null, '', link);
      copyText(link, 'Link copied: it holds the token after the #, which is never sent to a server.');
    });
    $('copy-report').addEventListener('click', () => {
      if (state.report) copyText(JSON.stringify(state.report, null, 2), 'Report copied.');
    });
    $('download-report').addEventListener('click', () => {
      if (state.report) download('inspection.json', JSON.stringify(state.report, null, 2), 'application/json');
    });
    window.addEventListener('hashchange', fromFragment);
    loadMeta().catch(() => notice('The list of profiles and rules could not be loaded.')).then(fromFragment);
  }

  // Tests read the link the page would copy without going through the clipboard.
  window.xuaInspector = { linkFor: () => (state.request ? linkFor(state.request) : Promise.resolve('')) };

  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', init);
  else init();
})();
