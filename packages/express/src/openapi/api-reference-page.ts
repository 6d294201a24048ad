import { createHash } from 'node:crypto';

/**
 * The API reference page: self-contained HTML whose script fetches `openapi.json` (next to the page, under `/v1`)
 * and lists the operations with their parameters, request and answer examples and problem statuses. No CDN.
 */
const SCRIPT = `
const el = (tag, text, cls) => { const e = document.createElement(tag); if (text !== undefined) e.textContent = text; if (cls) e.className = cls; return e; };
const resolve = (doc, o) => o && o.$ref ? o.$ref.split('/').slice(1).reduce((a, k) => a[k], doc) : o;
const pretty = (v) => JSON.stringify(v, null, 2);
fetch(location.pathname.replace(/\\/docs\\/?$/, '/openapi.json')).then((r) => r.json()).then((doc) => {
  const main = document.getElementById('ops');
  document.getElementById('title').textContent = doc.info.title + ' ' + doc.info.version;
  document.getElementById('intro').textContent = doc.info.description + ' Server: ' + doc.servers[0].url;
  for (const [path, item] of Object.entries(doc.paths)) {
    for (const [method, op] of Object.entries(item)) {
      const sec = el('section', undefined, 'op');
      sec.id = op.operationId;
      const h = el('h2');
      h.append(el('span', method.toUpperCase(), 'method ' + method), ' ', el('code', path));
      sec.append(h, el('p', op.summary + (op.description ? ' ' + op.description : '')));
      if (op.security && op.security.length === 0) sec.append(el('p', 'No authentication.', 'note'));
      const params = (op.parameters || []).map((p) => resolve(doc, p));
      if (params.length > 0) {
        const t = el('table');
        t.append(el('tr')); t.lastChild.append(el('th', 'Parameter'), el('th', 'In'), el('th', 'Required'), el('th', 'Example'), el('th', 'Description'));
        for (const p of params) {
          const tr = el('tr');
          tr.append(el('td', p.name), el('td', p.in), el('td', p.required ? 'yes' : 'no'), el('td', p.example === undefined ? '' : String(p.example)), el('td', p.description || ''));
          t.append(tr);
        }
        sec.append(t);
      }
      const body = op.requestBody && op.requestBody.content['application/json'];
      if (body) sec.append(el('h3', 'Request body (' + body.schema.$ref.split('/').pop() + ')'), el('pre', pretty(body.example)));
      for (const [status, res] of Object.entries(op.responses)) {
        const [type, media] = Object.entries(res.content || {})[0] || [];
        sec.append(el('h3', status + ' ' + (type || '')), el('p', res.description));
        if (media && media.example !== undefined) sec.append(el('pre', pretty(media.example)));
      }
      main.append(sec);
    }
  }
}).catch((e) => { document.getElementById('ops').textContent = 'Could not load openapi.json: ' + e; });
`;

const STYLE = `
body { font: 15px/1.45 system-ui, sans-serif; margin: 2rem auto; max-width: 60rem; padding: 0 1rem; color: #1d1d1f; }
.op { border-top: 1px solid #ddd; padding: .5rem 0 1rem; }
.method { font: bold 12px monospace; padding: 2px 6px; border-radius: 3px; color: #fff; background: #555; }
.get { background: #1f6feb; } .post { background: #1a7f37; } .patch { background: #9a6700; } .put { background: #8250df; }
pre { background: #f6f8fa; padding: .5rem; overflow: auto; } table { border-collapse: collapse; }
td, th { border: 1px solid #ddd; padding: 2px 6px; text-align: left; } .note { color: #666; }
`;

const sha256 = (text: string) => `'sha256-${createHash('sha256').update(text).digest('base64')}'`;

/** The page's HTML. */
export const API_REFERENCE_HTML = `<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Marketkit HTTP API reference</title><style>${STYLE}</style></head>
<body><h1 id="title">Marketkit HTTP API</h1><p id="intro"></p>
<p>Machine-readable: <a href="openapi.json">openapi.json</a> (OpenAPI 3.1).</p>
<main id="ops">Loading…</main>
<script>${SCRIPT}</script></body></html>
`;

/** A Content-Security-Policy that lets only the page's own inline script and style run, and fetch from its origin. */
export const API_REFERENCE_CSP = [
  "default-src 'none'",
  `script-src ${sha256(SCRIPT)}`,
  `style-src ${sha256(STYLE)}`,
  "connect-src 'self'",
  "base-uri 'none'",
  "frame-ancestors 'none'",
].join('; ');
