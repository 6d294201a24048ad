import type { LocalOrder, LocalPayout } from './local-payment-records.js';
import { type OrderPaymentKey, parseOrderPaymentKey } from './order-payment-keys.js';
import type {
  AuthorizationEffect,
  CaptureEffect,
  PaymentEffect,
  PayoutEffect,
  RefundEffect,
} from './payment-effects.js';
import { PAYMENT_DISCREPANCY_KINDS, type PaymentDiscrepancy } from './payment-reconciliation.js';

/** Both sides of one reconciliation, as read. */
export interface MatchInput {
  readonly from: number;
  readonly to: number;
  readonly asOf: number;
  /** How long an order may await payment (its reservation window), ms. */
  readonly reservationMs: number;
  /** The state an order waits for the customer in (3-D Secure), and how much longer it may then hold its payment. */
  readonly customerAction?: { readonly state: string; readonly windowMs: number };
  readonly terminalStates: ReadonlySet<string>;
  /** Effects the provider listed in the window, and those looked up by key. */
  readonly effects: readonly PaymentEffect[];
  /** Ids of the effects listed in the window. */
  readonly inWindow: ReadonlySet<string>;
  /** The orders and payouts compared: those with a record or a provider effect in the window. */
  readonly orderIds: ReadonlySet<string>;
  readonly payoutIds: ReadonlySet<string>;
  readonly orders: ReadonlyMap<string, LocalOrder>;
  readonly payouts: ReadonlyMap<string, LocalPayout>;
}

/** An order's effects at the provider, by what their keys say. */
interface OrderEffects {
  captures: CaptureEffect[];
  /** Refunds the order records (`<order>:<seq>:refund:<effect>`), by `seq`. */
  refunds: Map<number, RefundEffect[]>;
  /** Refunds giving back a capture the order did not record. */
  compensating: RefundEffect[];
}

/** The key of an effect, read as an order's: authorizations also by the `reference` they carry. */
export function effectOrderKey(e: PaymentEffect): OrderPaymentKey | undefined {
  const parsed = e.type === 'payout' ? undefined : parseOrderPaymentKey(e.idempotencyKey);
  if (parsed !== undefined || e.type !== 'authorization' || e.reference === null) return parsed;
  return { orderId: e.reference, step: 'authorize' };
}

/** A stable identity of an effect (ids are unique per type at a provider). */
export const effectIdentity = (e: PaymentEffect): string => `${e.type}:${e.id}`;

/** Compares both sides and returns every discrepancy, sorted. */
export function matchPayments(m: MatchInput): PaymentDiscrepancy[] {
  const out: PaymentDiscrepancy[] = [];
  const byOrder = new Map<string, OrderEffects>();
  const payoutsByKey = new Map<string, PayoutEffect[]>();
  const within = (at: number) => at >= m.from && at < m.to;
  const listed = (e: PaymentEffect) => m.inWindow.has(effectIdentity(e));
  for (const e of m.effects) {
    if (e.type === 'payout') {
      payoutsByKey.set(e.idempotencyKey, [...(payoutsByKey.get(e.idempotencyKey) ?? []), e]);
      continue;
    }
    const key = effectOrderKey(e);
    if (e.type === 'authorization') {
      if (e.status === 'open') checkOpenAuthorization(m, e, key?.orderId, out);
      continue;
    }
    if (key === undefined) {
      if (listed(e)) out.push(unknownEffect(e));
      continue;
    }
    const entry: OrderEffects = byOrder.get(key.orderId) ?? { captures: [], refunds: new Map(), compensating: [] };
    byOrder.set(key.orderId, entry);
    if (e.type === 'capture' && key.step === 'capture') entry.captures.push(e);
    else if (e.type === 'refund' && key.step === 'refund')
      entry.refunds.set(key.seq, [...(entry.refunds.get(key.seq) ?? []), e]);
    else if (e.type === 'refund' && key.step === 'compensatingRefund') entry.compensating.push(e);
    else if (listed(e)) out.push(unknownEffect(e));
  }
  const empty: OrderEffects = { captures: [], refunds: new Map(), compensating: [] };
  for (const orderId of m.orderIds) {
    const order = m.orders.get(orderId);
    const effects = byOrder.get(orderId) ?? empty;
    matchCaptures(orderId, order, effects, { within, listed }, out);
    matchRefunds(orderId, order, effects, { within, listed }, out);
    if (order?.paid === true && order.captureId === null) {
      out.push({
        kind: 'paid_without_capture',
        message: `Order ${orderId} went through payment (it is ${order.state}) but records no capture id.`,
        orderId,
        ...(order.capture === undefined ? {} : { localId: order.capture.id, amountMinor: order.capture.amountMinor }),
        currency: order.currency,
      });
    }
  }
  for (const payoutId of m.payoutIds) matchPayout(payoutId, m.payouts.get(payoutId), payoutsByKey.get(payoutId), out);
  return out.sort(compareDiscrepancies);
}

interface Windows {
  readonly within: (at: number) => boolean;
  readonly listed: (e: PaymentEffect) => boolean;
}

function matchCaptures(
  orderId: string,
  order: LocalOrder | undefined,
  effects: OrderEffects,
  w: Windows,
  out: PaymentDiscrepancy[],
): void {
  const local = order?.capture;
  if (effects.captures.length === 0 && local !== undefined && w.within(local.at)) {
    out.push({
      kind: 'capture_missing_at_provider',
      message: `Order ${orderId}'s escrow records a capture of ${local.amountMinor} the provider does not have.`,
      orderId,
      key: `${orderId}:capture`,
      localId: local.id,
      amountMinor: local.amountMinor,
      currency: local.currency,
      at: local.at,
    });
  }
  for (const capture of effects.captures) {
    const given = effects.compensating.filter((r) => r.captureId === capture.id);
    if (local === undefined) {
      const net = capture.amountMinor - given.reduce((sum, r) => sum + r.amountMinor, 0n);
      if (net !== 0n && (w.listed(capture) || given.some(w.listed))) {
        out.push({
          ...effectFields(capture, orderId),
          kind: 'capture_not_recorded',
          message: `The provider captured ${net} ${capture.currency} for order ${orderId} (not refunded) that no escrow records.`,
          amountMinor: net,
        });
      }
      continue;
    }
    if (!w.listed(capture) && !w.within(local.at)) continue;
    if (
      capture.amountMinor !== local.amountMinor ||
      capture.currency !== local.currency ||
      (order?.captureId != null && order.captureId !== capture.id)
    ) {
      out.push({
        ...effectFields(capture, orderId),
        kind: 'capture_mismatch',
        message: `Order ${orderId}: escrow records a capture of ${local.amountMinor} ${local.currency} (${order?.captureId}), the provider ${capture.amountMinor} ${capture.currency} (${capture.id}).`,
        localId: local.id,
        amountMinor: local.amountMinor,
        providerAmountMinor: capture.amountMinor,
      });
    }
    for (const refund of given) {
      out.push({
        ...effectFields(refund, orderId),
        kind: 'refund_not_recorded',
        message: `The provider refunded ${refund.amountMinor} of order ${orderId}'s recorded capture; the order does not record it.`,
      });
    }
  }
}

function matchRefunds(
  orderId: string,
  order: LocalOrder | undefined,
  effects: OrderEffects,
  w: Windows,
  out: PaymentDiscrepancy[],
): void {
  const seqs = new Set([...effects.refunds.keys(), ...(order?.refunds.keys() ?? [])]);
  for (const seq of seqs) {
    const provider = effects.refunds.get(seq) ?? [];
    const local = order?.refunds.get(seq);
    if (!provider.some(w.listed) && !(local !== undefined && w.within(local.at))) continue;
    if (local === undefined) {
      for (const refund of provider) {
        out.push({
          ...effectFields(refund, orderId),
          kind: 'refund_not_recorded',
          message: `The provider refunded ${refund.amountMinor} ${refund.currency} for order ${orderId}; the order does not record it.`,
        });
      }
    } else if (provider.length === 0) {
      out.push({
        kind: 'refund_missing_at_provider',
        message: `Order ${orderId} records a refund of ${local.amountMinor} (event ${seq}) the provider does not have.`,
        orderId,
        localId: local.id,
        amountMinor: local.amountMinor,
        currency: local.currency,
        at: local.at,
      });
    } else {
      const total = provider.reduce((sum, r) => sum + r.amountMinor, 0n);
      const first = provider[0] as RefundEffect;
      const otherCapture = provider.some((r) => r.captureId !== order?.captureId);
      if (total !== local.amountMinor || provider.some((r) => r.currency !== local.currency) || otherCapture) {
        out.push({
          ...effectFields(first, orderId),
          kind: 'refund_mismatch',
          message: `Order ${orderId} records a refund of ${local.amountMinor} ${local.currency} (event ${seq}); the provider refunded ${total} ${first.currency}${otherCapture ? ' of another capture' : ''}.`,
          localId: local.id,
          amountMinor: local.amountMinor,
          providerAmountMinor: total,
        });
      }
    }
  }
}

function matchPayout(
  payoutId: string,
  local: LocalPayout | undefined,
  provider: readonly PayoutEffect[] | undefined,
  out: PaymentDiscrepancy[],
): void {
  const sent = provider ?? [];
  if (sent.length > 0 && (local === undefined || local.status === 'failed')) {
    for (const p of sent) {
      out.push({
        ...effectFields(p),
        kind: 'payout_not_recorded',
        message: `The provider paid out ${p.amountMinor} ${p.currency} under key ${payoutId}; ${local === undefined ? 'no payout has that id' : 'the payout is recorded as failed'}.`,
        payoutId,
      });
    }
  } else if (sent.length === 0 && local?.status === 'paid') {
    out.push({
      kind: 'payout_missing_at_provider',
      message: `Payout ${payoutId} of ${local.amountMinor} ${local.currency} is paid, but the provider has no payout with its key.`,
      payoutId,
      key: payoutId,
      localId: payoutId,
      amountMinor: local.amountMinor,
      currency: local.currency,
      at: local.createdAt,
    });
  } else if (local?.status === 'paid') {
    const total = sent.reduce((sum, p) => sum + p.amountMinor, 0n);
    const first = sent[0] as PayoutEffect;
    const ids = sent.map((p) => p.id);
    if (
      total !== local.amountMinor ||
      sent.some((p) => p.currency !== local.currency) ||
      local.providerPayoutId === null ||
      !ids.includes(local.providerPayoutId)
    ) {
      out.push({
        ...effectFields(first),
        kind: 'payout_mismatch',
        message: `Payout ${payoutId} records ${local.amountMinor} ${local.currency} (${local.providerPayoutId}); the provider paid ${total} ${first.currency} (${ids.join(', ')}).`,
        payoutId,
        localId: payoutId,
        amountMinor: local.amountMinor,
        providerAmountMinor: total,
      });
    }
  }
}

function checkOpenAuthorization(
  m: MatchInput,
  auth: AuthorizationEffect,
  orderId: string | undefined,
  out: PaymentDiscrepancy[],
): void {
  const order = orderId === undefined ? undefined : m.orders.get(orderId);
  const extra = order !== undefined && order.state === m.customerAction?.state ? m.customerAction.windowMs : 0;
  const stale = m.asOf - auth.createdAt > m.reservationMs + extra;
  const terminal = order !== undefined && m.terminalStates.has(order.state);
  if (!stale && !terminal) return;
  const why = terminal
    ? `its order ${orderId} is ${order?.state}`
    : order === undefined
      ? `no order ${orderId ?? `for key ${auth.idempotencyKey}`} exists`
      : `it is older than the reservation window (${m.reservationMs} ms)`;
  out.push({
    ...effectFields(auth, order === undefined ? undefined : orderId),
    kind: 'authorization_left_open',
    message: `Authorization ${auth.id} of ${auth.amountMinor} ${auth.currency} is still open at the provider, but ${why}.`,
  });
}

function unknownEffect(e: CaptureEffect | RefundEffect): PaymentDiscrepancy {
  return {
    ...effectFields(e),
    kind: e.type === 'capture' ? 'capture_not_recorded' : 'refund_not_recorded',
    message: `The provider made a ${e.type} of ${e.amountMinor} ${e.currency} under key ${e.idempotencyKey}, which no order of this marketplace derives.`,
  };
}

function effectFields(e: PaymentEffect, orderId?: string) {
  return {
    ...(orderId === undefined ? {} : { orderId }),
    providerObjectId: e.id,
    key: e.idempotencyKey,
    amountMinor: e.amountMinor,
    currency: e.currency,
    at: e.createdAt,
  };
}

function compareDiscrepancies(a: PaymentDiscrepancy, b: PaymentDiscrepancy): number {
  const byKind = PAYMENT_DISCREPANCY_KINDS.indexOf(a.kind) - PAYMENT_DISCREPANCY_KINDS.indexOf(b.kind);
  if (byKind !== 0) return byKind;
  const subject = (d: PaymentDiscrepancy) =>
    `${d.orderId ?? d.payoutId ?? ''}\u0000${d.key ?? ''}\u0000${d.providerObjectId ?? ''}`;
  return subject(a) < subject(b) ? -1 : subject(a) > subject(b) ? 1 : 0;
}
