// The storefront: plain JavaScript against Marketkit's HTTP API under /api/v1, no build step.
// Each tab keeps its own sign-in (sessionStorage), so a buyer tab and a seller tab can sit side by side.

const API = '/api/v1';
/** The live WebSocket (attachLiveWebSocket in server.ts): order events of this tab's actor, no polling. */
const LIVE_PATH = '/api/v1/live';
/** Close codes after which reconnecting cannot help (see LIVE_WEBSOCKET_CLOSE_CODES in @marketkit/express). */
const FATAL_CLOSE_CODES = new Set([4400, 4401, 4403]);

/** Transitions this page offers, by role and order state. */
const ACTIONS = {
  buyer: { paid: ['cancel'], delivered: ['confirm'] },
  seller: { paid: ['ship'], shipped: ['deliver'] },
  operator: { disputed: ['resolveRefund', 'resolveRelease'] },
};

const session = {
  get token() {
    return sessionStorage.getItem('mk-token');
  },
  get actor() {
    const raw = sessionStorage.getItem('mk-actor');
    return raw === null ? null : JSON.parse(raw);
  },
  save(token, actor) {
    sessionStorage.setItem('mk-token', token);
    sessionStorage.setItem('mk-actor', JSON.stringify(actor));
  },
};

const $ = (selector) => document.querySelector(selector);
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** Calls the API with the tab's token; returns { status, body, headers }. Throws only when the network fails. */
async function api(path, { method = 'GET', body, idempotencyKey } = {}) {
  const headers = { Accept: 'application/json' };
  if (session.token !== null) headers.Authorization = `Bearer ${session.token}`;
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  if (idempotencyKey !== undefined) headers['Idempotency-Key'] = idempotencyKey;
  // no-store: a listing's ETag is its edit version, and its stock can change without one (a 304 would show old stock).
  const init = { method, headers, cache: 'no-store', body: body === undefined ? undefined : JSON.stringify(body) };
  const res = await fetch(path, init);
  const text = await res.text();
  return { status: res.status, headers: res.headers, body: text === '' ? null : JSON.parse(text) };
}

/**
 * Sends a POST that moves money with an Idempotency-Key, and retries with the SAME key when the answer is unknown
 * (network error) or says "try again" (409 in flight, 429, 5xx): Marketkit then replays the first result instead of
 * charging twice. The key is kept in sessionStorage under `slot` until an answer is final, so a reload reuses it too.
 */
async function postOnce(slot, path, body) {
  const storageKey = `mk-key:${slot}`;
  let key = sessionStorage.getItem(storageKey);
  if (key === null) {
    key = crypto.randomUUID();
    sessionStorage.setItem(storageKey, key);
  }
  for (let attempt = 1; ; attempt++) {
    let answer;
    try {
      answer = await api(path, { method: 'POST', body, idempotencyKey: key });
    } catch (error) {
      answer = { status: 0, body: { detail: String(error) }, headers: new Headers() };
    }
    const retryable = answer.status === 0 || answer.status === 409 || answer.status === 429 || answer.status >= 500;
    if (!retryable || attempt >= 5) {
      if (!retryable) sessionStorage.removeItem(storageKey);
      return answer;
    }
    const retryAfter = Number(answer.headers.get('Retry-After'));
    await sleep(Number.isFinite(retryAfter) && retryAfter > 0 ? retryAfter * 1000 : 300 * attempt);
  }
}

function money(m) {
  if (m === null || m === undefined) return '—';
  const format = new Intl.NumberFormat('en-US', { style: 'currency', currency: m.currency });
  const digits = format.resolvedOptions().maximumFractionDigits;
  return format.format(Number(m.amount) / 10 ** digits);
}

function say(text) {
  $('#message').textContent = text;
}

function problemText(answer) {
  return answer.body?.detail ?? answer.body?.error ?? `HTTP ${answer.status}`;
}

// ---- sign in ----

async function signIn(role) {
  const res = await fetch('/demo/token', {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ role }),
  });
  const { token, actor } = await res.json();
  session.save(token, actor);
  showWho();
  await start();
}

function showWho() {
  const actor = session.actor;
  $('#who').textContent = actor === null ? 'Not signed in.' : `Signed in as ${actor.id} (${actor.role}).`;
  document.body.dataset.role = actor?.role ?? '';
  if (actor !== null) $('#role').value = actor.role;
}

// ---- listings ----

const titles = new Map(); // listing id -> title

async function loadListings() {
  const { listingIds } = await (await fetch('/demo/catalogue', { cache: 'no-store' })).json();
  const list = $('#listings');
  if (session.token === null) {
    list.innerHTML = '<li class="muted">Sign in to see the listings.</li>';
    return;
  }
  const answers = await Promise.all(listingIds.map((id) => api(`${API}/listings/${encodeURIComponent(id)}`)));
  const listings = answers.filter((a) => a.status === 200).map((a) => a.body);
  for (const l of listings) titles.set(l.id, l.title);
  list.replaceChildren(...listings.map(listingCard));
}

function listingCard(listing) {
  const li = document.createElement('li');
  li.dataset.listingId = listing.id;
  li.innerHTML = '<span class="title"></span><span class="price"></span><span class="muted stock"></span>';
  li.querySelector('.title').textContent = listing.title;
  li.querySelector('.price').textContent = money(listing.price);
  li.querySelector('.stock').textContent = `${listing.available} of ${listing.quantity} available`;
  if (session.actor?.role === 'buyer') {
    const buyButton = document.createElement('button');
    buyButton.textContent = 'Buy';
    buyButton.disabled = listing.available < 1 || listing.status !== 'active';
    buyButton.addEventListener('click', () => buy(listing, buyButton));
    li.append(buyButton);
  }
  return li;
}

async function buy(listing, button) {
  button.disabled = true;
  say(`Paying for ${listing.title}…`);
  const answer = await postOnce(`checkout:${listing.id}`, `${API}/checkouts`, {
    listingId: listing.id,
    quantity: 1,
    paymentMethod: 'tok_visa',
  });
  button.disabled = false;
  if (answer.status !== 201) return say(`Checkout failed: ${problemText(answer)}`);
  say(`Order ${answer.body.id} placed${answer.headers.get('Idempotent-Replayed') === 'true' ? ' (replayed)' : ''}.`);
  trackOrder(answer.body);
  await loadListings();
}

// ---- orders ----

const tracked = new Map(); // order id -> { order }

/**
 * The tab's live connection: one WebSocket on which Marketkit pushes the events of every order this actor may read.
 * A browser cannot set headers on a WebSocket, so the token goes in the first message (never in the URL). After a
 * drop it reconnects with the id of the last event it got, and the server sends exactly the events it missed.
 */
const live = {
  socket: null,
  lastEventId: undefined,
  retryMs: 500,
  timer: undefined,

  /** (Re)connects; resolves once the stream is ready (or the attempt failed and a retry is scheduled). */
  connect() {
    this.stop();
    if (session.token === null) return Promise.resolve();
    const scheme = location.protocol === 'https:' ? 'wss:' : 'ws:';
    const socket = new WebSocket(`${scheme}//${location.host}${LIVE_PATH}`);
    this.socket = socket;
    showLive('connecting');
    return new Promise((resolve) => {
      socket.addEventListener('open', () => {
        const auth = { type: 'auth', token: session.token };
        if (this.lastEventId !== undefined) auth.lastEventId = this.lastEventId;
        socket.send(JSON.stringify(auth));
      });
      socket.addEventListener('message', (m) => {
        const message = JSON.parse(m.data);
        if (message.type === 'ready') {
          this.retryMs = 500;
          showLive('live');
          resolve();
        } else if (message.type === 'order') {
          this.lastEventId = message.id;
          onOrderEvent(message.event).catch(() => {});
        } else if (message.type === 'error') {
          say(`Live updates stopped: ${message.problem.detail}`);
        }
      });
      socket.addEventListener('close', (event) => {
        resolve();
        if (this.socket !== socket) return; // replaced by a newer connection
        this.socket = null;
        if (FATAL_CLOSE_CODES.has(event.code)) return showLive('stopped');
        showLive('reconnecting');
        this.timer = setTimeout(() => this.connect(), this.retryMs);
        this.retryMs = Math.min(this.retryMs * 2, 10_000);
      });
    });
  },

  /** Closes the connection without reconnecting (a new sign-in starts over, from now). */
  stop() {
    clearTimeout(this.timer);
    const socket = this.socket;
    this.socket = null;
    socket?.close();
  },
};

function showLive(state) {
  const el = $('#live');
  el.dataset.state = state;
  el.textContent = { connecting: 'Connecting…', live: '● Live', reconnecting: 'Reconnecting…', stopped: 'Offline' }[
    state
  ];
}

/** An order event: the order changed, or (for a seller or operator) a new order appeared. Read it once. */
async function onOrderEvent(event) {
  const answer = await api(`${API}/orders/${encodeURIComponent(event.orderId)}`).catch(() => null);
  if (answer?.status !== 200) return;
  const entry = tracked.get(event.orderId);
  if (entry === undefined) return trackOrder(answer.body);
  if (answer.body.version < entry.order.version) return; // an older read finished after a newer one
  entry.order = answer.body;
  renderOrder(answer.body);
  renderBalances().catch(() => {});
  loadListings().catch(() => {}); // stock moves with orders
}

function trackOrder(order) {
  if (tracked.has(order.id)) return;
  tracked.set(order.id, { order });
  renderOrder(order);
  renderBalances().catch(() => {});
}

async function loadOrders() {
  if (session.token === null) return;
  const answer = await api('/demo/orders');
  if (answer.status !== 200) return;
  for (const id of answer.body.orderIds) {
    if (tracked.has(id)) continue;
    const order = await api(`${API}/orders/${encodeURIComponent(id)}`);
    if (order.status === 200) trackOrder(order.body);
  }
}

function renderOrder(order) {
  let li = document.querySelector(`#orders li[data-order-id="${CSS.escape(order.id)}"]`);
  if (li === null) {
    li = document.createElement('li');
    li.dataset.orderId = order.id;
    li.innerHTML =
      '<span class="title"></span><span>State: <span class="state"></span></span>' +
      '<span class="muted amounts"></span><span class="muted history"></span><div class="actions"></div>';
    $('#orders').prepend(li);
  }
  $('#orders-empty').hidden = true;
  li.querySelector('.title').textContent = `${titles.get(order.listingId) ?? order.listingId} × ${order.quantity}`;
  const state = li.querySelector('.state');
  state.textContent = order.state;
  state.dataset.state = order.state;
  li.querySelector('.amounts').textContent =
    `${money(order.amount)} · in escrow ${money(order.escrowBalance)} · refunded ${money(order.refunded)}`;
  li.querySelector('.actions').replaceChildren(...actionButtons(order));
  api(`${API}/orders/${encodeURIComponent(order.id)}/history`)
    .then((h) => {
      if (h.status === 200) li.querySelector('.history').textContent = h.body.events.map((e) => e.to).join(' → ');
    })
    .catch(() => {});
}

function actionButtons(order) {
  const names = ACTIONS[session.actor?.role]?.[order.state] ?? [];
  return names.map((name) => {
    const button = document.createElement('button');
    button.textContent = name;
    button.dataset.transition = name;
    button.addEventListener('click', async () => {
      button.disabled = true;
      const path = `${API}/orders/${encodeURIComponent(order.id)}/transitions/${name}`;
      const answer = await postOnce(`${order.id}:${name}`, path, {});
      if (answer.status !== 200) {
        button.disabled = false;
        return say(`${name} failed: ${problemText(answer)}`);
      }
      say(`Order ${order.id}: ${name} → ${answer.body.state}.`);
      renderOrder(answer.body);
    });
    return button;
  });
}

// ---- balances ----

async function renderBalances() {
  const rows = [];
  const orders = [...tracked.values()].map((t) => t.order);
  const byCurrency = new Map();
  for (const o of orders) {
    const c = o.escrowBalance.currency;
    byCurrency.set(c, (byCurrency.get(c) ?? 0n) + BigInt(o.escrowBalance.amount));
  }
  for (const [currency, amount] of byCurrency)
    rows.push(['Held in escrow (your orders)', money({ amount: String(amount), currency })]);
  if (session.actor?.role === 'seller') {
    const answer = await api(`${API}/balances?currency=USD`);
    if (answer.status === 200) {
      rows.push(['Seller balance, available', money({ amount: answer.body.available, currency: 'USD' })]);
      rows.push(['Seller balance, posted', money({ amount: answer.body.posted, currency: 'USD' })]);
    }
  }
  if (rows.length === 0) rows.push(['Held in escrow', money({ amount: '0', currency: 'USD' })]);
  $('#balances').replaceChildren(
    ...rows.flatMap(([label, value]) => {
      const dt = document.createElement('dt');
      dt.textContent = label;
      const dd = document.createElement('dd');
      dd.textContent = value;
      return [dt, dd];
    }),
  );
}

// ---- start ----

async function refreshAll() {
  tracked.clear();
  $('#orders').replaceChildren();
  $('#orders-empty').hidden = false;
  await loadListings();
  await loadOrders();
  await renderBalances();
}

$('#sign-in').addEventListener('submit', (event) => {
  event.preventDefault();
  signIn($('#role').value).catch((error) => say(`Sign-in failed: ${error}`));
});

/** Opens the live stream from now, then reads the page's state once: what changes after that arrives as events. */
async function start() {
  live.lastEventId = undefined;
  await live.connect();
  await refreshAll();
}

showWho();
start().catch((error) => say(String(error)));
