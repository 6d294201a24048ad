import type { DailyFigures, PaymentReconciliation, SagaInfo, StuckCheckout, WebhookDelivery } from '@marketkit/core';
import { chart } from './console-charts.js';
import { formatDuration, formatMinor, formatRatio, formatTime } from './console-format.js';
import type { ConsoleState, PanelRead, WebhookBacklog } from './console-state.js';
import { CONSOLE_LIST_CAP, WEBHOOK_LIST_CAP } from './console-state.js';
import { html, type SafeHtml } from './safe-html.js';

type Tone = 'good' | 'warn' | 'bad' | 'idle';

/** Deliveries with an error the backlog panel lists (given up first, then those still retrying). */
const TROUBLED_SHOWN = 8;

function panel(id: string, title: string, tone: Tone, body: SafeHtml | SafeHtml[]): SafeHtml {
  return html`<section class="panel ${tone}" id="${id}"><h2>${title}</h2>${body}</section>`;
}

function failed(read: { readonly code: string; readonly message: string }): SafeHtml {
  return html`<p class="error">Could not read: <code>${read.code}</code> ${read.message}</p>`;
}

function shown<T>(read: PanelRead<T>, body: (value: T) => SafeHtml | SafeHtml[]): SafeHtml | SafeHtml[] {
  return read.ok ? body(read.value) : failed(read);
}

const count = (n: number, cap: number) => (n >= cap ? `${cap}+` : String(n));

function sagaRow(s: SagaInfo, now: number): SafeHtml {
  const error = s.lastError;
  return html`<tr data-saga="${s.id}">
<td><code>${s.id}</code><br><span class="muted">${s.name}</span></td>
<td>${s.stepIndex}</td><td>${s.attempts}</td>
<td>${error === null ? '–' : html`<code>${error.code}</code> ${error.message}`}</td>
<td title="${formatTime(s.updatedAt)}">${formatDuration(now - s.updatedAt)} ago</td>
<td class="actions"><div class="row"><button type="button" data-action="retry" data-saga="${s.id}">Retry</button></div>
<div class="row"><input name="note" maxlength="500" placeholder="What was done by hand" aria-label="Resolution note for ${s.id}">
<button type="button" data-action="resolve" data-saga="${s.id}">Resolve</button></div></td></tr>`;
}

function sagasPanel(state: ConsoleState): SafeHtml {
  const read = state.sagas;
  const tone: Tone = !read.ok ? 'bad' : read.value.length > 0 ? 'bad' : 'good';
  return panel(
    'sagas',
    'Parked sagas',
    tone,
    shown(read, (sagas) =>
      sagas.length === 0
        ? html`<p class="empty">No saga is parked.</p>`
        : html`<p>${count(sagas.length, CONSOLE_LIST_CAP)} parked (a compensation kept failing): retry sends one back to compensating; resolve closes it with a note of what was done by hand.</p>
<table><thead><tr><th>Saga</th><th>Step</th><th>Attempts</th><th>Last error</th><th>Parked</th><th></th></tr></thead>
<tbody>${sagas.map((s) => sagaRow(s, state.asOf))}</tbody></table>`,
    ),
  );
}

function stuckRow(c: StuckCheckout, locale: string): SafeHtml {
  return html`<tr><td><code>${c.orderId}</code></td><td>${c.state}</td>
<td>${c.buyerId} → ${c.sellerId}</td><td><code>${c.listingId}</code></td>
<td class="num">${formatMinor(c.amount.minor, c.amount.currency, locale)}</td>
<td>${formatTime(c.createdAt)}</td><td>${formatDuration(c.overdueMs)}</td></tr>`;
}

function stuckPanel(state: ConsoleState, locale: string): SafeHtml {
  const read = state.stuck;
  const tone: Tone = !read.ok || read.value.length > 0 ? 'warn' : 'good';
  return panel(
    'stuck',
    'Checkouts stuck past their reservation',
    tone,
    shown(read, (stuck) =>
      stuck.length === 0
        ? html`<p class="empty">No checkout is overdue.</p>`
        : html`<p>${count(stuck.length, CONSOLE_LIST_CAP)} awaiting payment after their window closed: no worker runs, or their checkout saga is parked.</p>
<table><thead><tr><th>Order</th><th>State</th><th>Buyer → seller</th><th>Listing</th><th>Amount</th><th>Checked out</th><th>Overdue by</th></tr></thead>
<tbody>${stuck.map((c) => stuckRow(c, locale))}</tbody></table>`,
    ),
  );
}

function deliveryRow(d: WebhookDelivery): SafeHtml {
  return html`<tr><td><code>${d.id}</code></td><td><code>${d.endpointId}</code></td><td>${d.eventType}</td>
<td>${d.status}</td><td>${d.attempts}</td><td>${d.lastError ?? '–'}</td></tr>`;
}

function webhookBody(w: WebhookBacklog, now: number): SafeHtml {
  const oldest = w.pending[0];
  const troubled = [...w.failed, ...w.pending.filter((d) => d.attempts > 0)].slice(0, TROUBLED_SHOWN);
  return html`<dl class="figures">
<div><dt>Webhook deliveries waiting</dt><dd id="webhooks-pending">${count(w.pending.length, WEBHOOK_LIST_CAP)}</dd></div>
<div><dt>Oldest waiting for</dt><dd>${oldest === undefined ? '–' : formatDuration(now - oldest.createdAt)}</dd></div>
<div><dt>Deliveries given up</dt><dd id="webhooks-failed">${count(w.failed.length, WEBHOOK_LIST_CAP)}</dd></div></dl>
${
  troubled.length === 0
    ? ''
    : html`<h3>Deliveries with errors (given up first; at most ${TROUBLED_SHOWN})</h3><table><thead><tr><th>Delivery</th><th>Endpoint</th><th>Event</th><th>Status</th><th>Attempts</th><th>Last error</th></tr></thead>
<tbody>${troubled.map(deliveryRow)}</tbody></table>`
}`;
}

function backlogPanel(state: ConsoleState): SafeHtml {
  const { outbox, webhooks } = state;
  const waiting = (outbox.ok && outbox.value.undelivered > 0) || (webhooks.ok && webhooks.value.pending.length > 0);
  const gaveUp = webhooks.ok && webhooks.value.failed.length > 0;
  const tone: Tone = !outbox.ok || !webhooks.ok || gaveUp ? 'bad' : waiting ? 'warn' : 'good';
  return panel('backlog', 'Outbox and webhook backlog', tone, [
    html`${shown(
      outbox,
      (b) => html`<dl class="figures">
<div><dt>Events not yet delivered</dt><dd id="outbox-undelivered">${b.undelivered}${b.capped ? '+' : ''}</dd></div>
<div><dt>Oldest waiting for</dt><dd>${b.oldestAgeMs === null ? '–' : formatDuration(b.oldestAgeMs)}</dd></div></dl>`,
    )}`,
    html`${shown(webhooks, (w) => webhookBody(w, state.asOf))}`,
  ]);
}

function breakerPanel(state: ConsoleState): SafeHtml {
  const b = state.breaker;
  if (!b.configured) {
    return panel(
      'breaker',
      'Payment provider',
      'idle',
      html`<p class="empty">No circuit breaker is configured (<code>createMarketplace({ providerBreaker })</code>).</p>`,
    );
  }
  const tone: Tone = b.state === 'closed' ? 'good' : b.state === 'open' ? 'bad' : 'warn';
  const meaning =
    b.state === 'closed'
      ? 'Calls go through.'
      : b.state === 'open'
        ? `Calls fail fast with PROVIDER_UNAVAILABLE; a probe goes through ${formatDuration(b.resetTimeoutMs)} after it opened.`
        : 'The next call is a probe: its answer closes the breaker or opens it again.';
  return panel(
    'breaker',
    'Payment provider',
    tone,
    html`<p><strong>${b.provider}</strong>: breaker <span class="state" id="breaker-state">${b.state}</span>. ${meaning}</p>
<p class="muted">Opens when ${b.errorPercentage} % of at least ${b.threshold} calls fail retryably (state of this process).</p>`,
  );
}

function discrepancyRow(d: PaymentReconciliation['discrepancies'][number], locale: string): SafeHtml {
  const amount =
    d.amountMinor === undefined
      ? '–'
      : d.currency === undefined
        ? `${d.amountMinor} (minor units)`
        : formatMinor(d.amountMinor, d.currency, locale);
  return html`<tr><td><code>${d.kind}</code></td><td><code>${d.orderId ?? d.payoutId ?? d.key ?? '–'}</code></td>
<td class="num">${amount}</td><td>${d.message}</td></tr>`;
}

function reconciliationPanel(state: ConsoleState, locale: string): SafeHtml {
  const read = state.reconciliation;
  if (read === undefined) {
    return panel('reconciliation', 'Reconciliation', 'idle', html`<p class="empty">Turned off.</p>`);
  }
  const tone: Tone = !read.ok ? 'warn' : read.value.ok ? 'good' : 'bad';
  return panel(
    'reconciliation',
    'Reconciliation with the provider',
    tone,
    shown(read, (r) => [
      html`<p>${formatTime(r.from)} to ${formatTime(r.to)}: ${r.checked.orders} orders and ${r.checked.localPayouts} payouts compared with ${r.checked.captures} captures, ${r.checked.refunds} refunds and ${r.checked.payouts} payouts at the provider.</p>`,
      r.discrepancies.length === 0
        ? html`<p class="empty">No discrepancy.</p>`
        : html`<table><thead><tr><th>Kind</th><th>Order or payout</th><th>Amount</th><th>What is wrong</th></tr></thead>
<tbody>${r.discrepancies.map((d) => discrepancyRow(d, locale))}</tbody></table>`,
    ]),
  );
}

/** A decimal ratio as an integer of millionths, for the chart's scale only (the tooltip shows the exact text). */
function ratioMillionths(ratio: string): bigint {
  const m = /^(\d+)(?:\.(\d{0,6})\d*)?$/.exec(ratio);
  return m === null ? 0n : BigInt(`${m[1] ?? '0'}${(m[2] ?? '').padEnd(6, '0')}`);
}

function currencyCharts(currency: string, days: readonly DailyFigures[], locale: string): SafeHtml {
  const money = (pick: (d: DailyFigures) => bigint) =>
    days.map((d) => ({ label: d.day, value: pick(d), display: formatMinor(pick(d), currency, locale) }));
  return html`<div class="charts" data-currency="${currency}"><h3>${currency}</h3>
${chart({ title: `GMV by day (${currency})`, kind: 'bars', series: 'gmv', points: money((d) => d.gmv) })}
${chart({
  title: `Take rate by day (${currency})`,
  kind: 'line',
  series: 'take',
  points: days.map((d) => ({ label: d.day, value: ratioMillionths(d.takeRate), display: formatRatio(d.takeRate) })),
})}
${chart({ title: `Escrow outstanding at day end (${currency})`, kind: 'bars', series: 'escrow', points: money((d) => d.escrowOutstanding) })}
</div>`;
}

function chartsPanel(state: ConsoleState, locale: string): SafeHtml {
  const read = state.daily;
  return panel(
    'charts',
    `GMV, take rate and escrow by day (the days with figures in the last ${state.chartDays}, UTC)`,
    read.ok ? 'idle' : 'warn',
    shown(read, (figures) => {
      const byCurrency = new Map<string, DailyFigures[]>();
      for (const f of figures) byCurrency.set(f.currency, [...(byCurrency.get(f.currency) ?? []), f]);
      if (byCurrency.size === 0) return html`<p class="empty">No figures in these days.</p>`;
      return [...byCurrency].map(([currency, days]) =>
        currencyCharts(
          currency,
          [...days].sort((a, b) => a.day.localeCompare(b.day)),
          locale,
        ),
      );
    }),
  );
}

/** The console's panels as one HTML fragment (the page puts it in place), every value escaped. */
export function renderPanels(state: ConsoleState, locale: string): SafeHtml {
  return html`<p class="as-of">As of <time>${formatTime(state.asOf)}</time></p>
<div class="grid">${sagasPanel(state)}${stuckPanel(state, locale)}${breakerPanel(state)}${backlogPanel(state)}${reconciliationPanel(state, locale)}</div>
${chartsPanel(state, locale)}`;
}
