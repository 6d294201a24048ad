import { createHash } from 'node:crypto';

/**
 * The console's page: a shell with no data in it. Its script keeps the operator's bearer token in `sessionStorage`,
 * fetches the panels (server-rendered HTML, every value escaped) with it from `panels` next to the page, and posts
 * the saga actions as JSON with the same header; a 401 shows the sign-in form again. No CDN, no build step.
 */
const SCRIPT = `
const KEY = 'marketkit.console.token';
const base = location.pathname.endsWith('/') ? location.pathname : location.pathname + '/';
const $ = (id) => document.getElementById(id);
const auth = () => { const t = sessionStorage.getItem(KEY); return t ? { Authorization: 'Bearer ' + t } : {}; };
const say = (text, bad) => { const m = $('message'); m.textContent = text; m.className = bad ? 'bad' : 'good'; };
const signedIn = (yes) => { $('sign-in').hidden = yes; $('toolbar').hidden = !yes; if (!yes) $('panels').textContent = ''; };
const detail = async (r) => { try { const p = await r.json(); return p.detail || r.statusText; } catch { return r.statusText; } };
async function load() {
  $('panels').setAttribute('aria-busy', 'true');
  const r = await fetch(base + 'panels', { headers: auth(), cache: 'no-store' });
  $('panels').removeAttribute('aria-busy');
  if (r.status === 401) { signedIn(false); say(sessionStorage.getItem(KEY) ? 'The token was refused: sign in again.' : '', true); return; }
  if (!r.ok) { signedIn(false); say(await detail(r), true); return; }
  signedIn(true);
  $('panels').innerHTML = await r.text();
}
$('sign-in').addEventListener('submit', (e) => {
  e.preventDefault();
  sessionStorage.setItem(KEY, $('token').value.trim());
  $('token').value = '';
  say('');
  load();
});
$('sign-out').addEventListener('click', () => { sessionStorage.removeItem(KEY); signedIn(false); say('Signed out.'); });
$('refresh').addEventListener('click', () => { say(''); load(); });
$('panels').addEventListener('click', async (e) => {
  const button = e.target.closest('button[data-action]');
  if (!button) return;
  const id = button.dataset.saga, action = button.dataset.action;
  let body = {};
  if (action === 'resolve') {
    const note = button.closest('tr').querySelector('input[name=note]').value.trim();
    if (!note) { say('Write what was done by hand before resolving saga ' + id + '.', true); return; }
    body = { note };
  }
  button.disabled = true;
  const r = await fetch(base + 'sagas/' + encodeURIComponent(id) + '/' + action, {
    method: 'POST', headers: { ...auth(), 'Content-Type': 'application/json' }, body: JSON.stringify(body),
  });
  if (r.ok) { const s = await r.json(); say('Saga ' + s.id + ' is now ' + s.status + '.'); }
  else say(action + ' of saga ' + id + ' failed: ' + await detail(r), true);
  await load();
});
load();
`;

const STYLE = `
:root { --ink: #1d2330; --muted: #667085; --line: #e4e7ec; --good: #067647; --warn: #b54708; --bad: #b42318; --bg: #f7f8fa; }
* { box-sizing: border-box; }
body { font: 14px/1.45 system-ui, -apple-system, sans-serif; margin: 0; color: var(--ink); background: var(--bg); }
header { display: flex; align-items: center; gap: 1rem; padding: .75rem 1.5rem; background: #101828; color: #fff; }
header h1 { font-size: 1.05rem; margin: 0; font-weight: 600; flex: 1; }
main { padding: 1rem 1.5rem 3rem; max-width: 90rem; margin: 0 auto; }
button { font: inherit; border: 1px solid #d0d5dd; background: #fff; border-radius: 6px; padding: .3rem .7rem; cursor: pointer; }
button:hover { background: #f2f4f7; } button:disabled { opacity: .5; cursor: default; }
header button { background: transparent; color: #fff; border-color: #475467; }
input { font: inherit; border: 1px solid #d0d5dd; border-radius: 6px; padding: .3rem .5rem; }
#sign-in { max-width: 32rem; margin: 3rem auto; background: #fff; padding: 1.5rem; border-radius: 10px; border: 1px solid var(--line); }
#sign-in label { display: block; margin-bottom: .5rem; font-weight: 600; } #sign-in input { width: 100%; margin-bottom: .75rem; }
#message { min-height: 1.3rem; margin: .25rem 0 .5rem; } #message.bad { color: var(--bad); } #message.good { color: var(--good); }
.as-of { color: var(--muted); margin: 0 0 .75rem; }
.grid { display: grid; grid-template-columns: repeat(auto-fit, minmax(34rem, 1fr)); gap: 1rem; }
.panel { background: #fff; border: 1px solid var(--line); border-left: 4px solid var(--line); border-radius: 8px; padding: .75rem 1rem; overflow-x: auto; }
.panel.good { border-left-color: var(--good); } .panel.warn { border-left-color: var(--warn); } .panel.bad { border-left-color: var(--bad); }
#charts { margin-top: 1rem; }
h2 { font-size: 1rem; margin: 0 0 .5rem; } h3 { font-size: .9rem; margin: .5rem 0; }
table { border-collapse: collapse; width: 100%; font-size: 13px; }
th, td { text-align: left; padding: .35rem .5rem; border-bottom: 1px solid var(--line); vertical-align: top; }
th { color: var(--muted); font-weight: 600; } td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
td.actions { min-width: 15rem; } td.actions .row { display: flex; gap: .4rem; margin-bottom: .3rem; } td.actions input { flex: 1; min-width: 8rem; }
#sagas, #backlog, #reconciliation { grid-column: 1 / -1; }
code { font: 12px ui-monospace, SFMono-Regular, Menlo, monospace; overflow-wrap: anywhere; }
.muted, .empty { color: var(--muted); } .error { color: var(--bad); }
.figures { display: flex; flex-wrap: wrap; gap: 1.5rem; margin: 0 0 .5rem; }
.figures dt { color: var(--muted); font-size: 12px; } .figures dd { margin: 0; font-size: 1.4rem; font-weight: 600; }
.state { font-weight: 600; text-transform: uppercase; }
.charts { display: grid; grid-template-columns: repeat(auto-fit, minmax(22rem, 1fr)); gap: 1rem; }
.charts h3 { grid-column: 1 / -1; }
figure { margin: 0; } figcaption { font-weight: 600; margin-bottom: .25rem; }
svg { width: 100%; height: auto; background: #fcfcfd; border: 1px solid var(--line); border-radius: 6px; }
svg .axis { stroke: #98a2b3; } svg .tick { font-size: 11px; fill: var(--muted); } svg .tick.end { text-anchor: end; }
.gmv .mark { fill: #2e90fa; } .escrow .mark { fill: #7a5af8; }
.take .trend { fill: none; stroke: #12b76a; stroke-width: 2; } .take .mark { fill: #12b76a; }
`;

const sha256 = (text: string) => `'sha256-${createHash('sha256').update(text).digest('base64')}'`;

/** The page's HTML. */
export const CONSOLE_HTML = `<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>Marketkit operator console</title><style>${STYLE}</style></head>
<body>
<header><h1>Marketkit operator console</h1>
<span id="toolbar" hidden><button type="button" id="refresh">Refresh</button> <button type="button" id="sign-out">Sign out</button></span></header>
<main>
<form id="sign-in" hidden><label for="token">Operator token</label>
<input id="token" type="password" autocomplete="off" spellcheck="false" placeholder="a bearer token with the operator role">
<button type="submit">Open the console</button></form>
<p id="message" role="status"></p>
<div id="panels"></div>
</main>
<script>${SCRIPT}</script></body></html>
`;

/**
 * Only the page's own inline script and style run; requests go to its origin only; no frames, forms or plugins. The
 * panels' SVG uses classes, never inline styles.
 */
export const CONSOLE_CSP = [
  "default-src 'none'",
  `script-src ${sha256(SCRIPT)}`,
  `style-src ${sha256(STYLE)}`,
  "connect-src 'self'",
  "img-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');
