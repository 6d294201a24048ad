import { ESCROW_CODES } from '../orders/escrow-accounts.js';
import { toBigInt, toNumber } from '../storage/int64.js';
import type { MarketkitTransaction } from '../storage/storage.js';

/** A ledger transfer that records money the provider moved for an order (its capture, or one refund). */
export interface LocalTransfer {
  readonly id: string;
  readonly amountMinor: bigint;
  readonly currency: string;
  readonly at: number;
}

/** An order as reconciliation compares it: the row, and the escrow transfers of its capture and refunds. */
export interface LocalOrder {
  readonly id: string;
  readonly state: string;
  readonly amountMinor: bigint;
  readonly currency: string;
  readonly captureId: string | null;
  readonly createdAt: number;
  /** The highest order event sequence number a transition of this order may have used (in flight included). */
  readonly maxSeq: number;
  /** The escrow transfer `<order>:capture`, when escrow was funded. */
  readonly capture: LocalTransfer | undefined;
  /** The escrow refund transfers `<order>:refund:<seq>`, by `seq`. */
  readonly refunds: ReadonlyMap<number, LocalTransfer>;
  /** True when a transition that captures into escrow (`confirmPayment`) moved the order: it is paid or later. */
  readonly paid: boolean;
}

/** A payout as reconciliation compares it. */
export interface LocalPayout {
  readonly id: string;
  readonly amountMinor: bigint;
  readonly currency: string;
  readonly status: 'requested' | 'paid' | 'failed';
  readonly providerPayoutId: string | null;
  readonly createdAt: number;
}

/** The ids of the orders and payouts with a record in the window `[from, to)`. */
export interface LocalWindow {
  readonly orderIds: ReadonlySet<string>;
  readonly payoutIds: ReadonlySet<string>;
}

const CHUNK = 500;
const MONEY_CODES = [BigInt(ESCROW_CODES.capture), BigInt(ESCROW_CODES.refund)];

function chunks<T>(items: readonly T[]): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += CHUNK) out.push(items.slice(i, i + CHUNK));
  return out;
}

/**
 * The orders and payouts with a record in `[from, to)`: an order event (a checkout, a transition), an escrow capture or
 * refund transfer, a payout requested or settled.
 */
export async function localWindow(trx: MarketkitTransaction, from: number, to: number): Promise<LocalWindow> {
  const [lo, hi] = [BigInt(from), BigInt(to)];
  const transfers = await trx
    .selectFrom('transfers')
    .select('reference')
    .where('code', 'in', MONEY_CODES)
    .where('created_at', '>=', lo)
    .where('created_at', '<', hi)
    .execute();
  const events = await trx
    .selectFrom('order_events')
    .select('order_id')
    .distinct()
    .where('at', '>=', lo)
    .where('at', '<', hi)
    .execute();
  const payouts = await trx
    .selectFrom('payouts')
    .select('id')
    .where((eb) =>
      eb.or([
        eb.and([eb('created_at', '>=', lo), eb('created_at', '<', hi)]),
        eb.and([eb('updated_at', '>=', lo), eb('updated_at', '<', hi)]),
      ]),
    )
    .execute();
  const orderIds = new Set<string>();
  for (const t of transfers) if (t.reference !== null) orderIds.add(t.reference);
  for (const e of events) orderIds.add(e.order_id);
  return { orderIds, payoutIds: new Set(payouts.map((p) => p.id)) };
}

/** The orders `ids` (those that exist) with their escrow capture and refund transfers. */
export async function loadLocalOrders(
  trx: MarketkitTransaction,
  ids: readonly string[],
  captureTransitions: readonly string[],
): Promise<Map<string, LocalOrder>> {
  const out = new Map<string, LocalOrder>();
  for (const chunk of chunks(ids)) {
    const rows = await trx
      .selectFrom('orders')
      .select(['id', 'state', 'amount_minor', 'currency', 'capture_id', 'created_at', 'version'])
      .where('id', 'in', chunk)
      .execute();
    const transfers = await trx
      .selectFrom('transfers')
      .select(['id', 'reference', 'code', 'amount', 'currency', 'created_at'])
      .where('reference', 'in', chunk)
      .where('code', 'in', MONEY_CODES)
      .execute();
    const paid =
      captureTransitions.length === 0
        ? []
        : await trx
            .selectFrom('order_events')
            .select('order_id')
            .where('order_id', 'in', chunk)
            .where('transition', 'in', captureTransitions)
            .execute();
    const paidIds = new Set(paid.map((e) => e.order_id));
    for (const r of rows) {
      let capture: LocalTransfer | undefined;
      const refunds = new Map<number, LocalTransfer>();
      for (const t of transfers) {
        if (t.reference !== r.id) continue;
        const transfer = {
          id: t.id,
          amountMinor: toBigInt(t.amount),
          currency: t.currency,
          at: toNumber(t.created_at),
        };
        if (Number(t.code) === ESCROW_CODES.capture) capture = transfer;
        else {
          const seq = Number(t.id.slice(`${r.id}:refund:`.length));
          if (t.id.startsWith(`${r.id}:refund:`) && Number.isInteger(seq)) refunds.set(seq, transfer);
        }
      }
      out.set(r.id, {
        id: r.id,
        state: r.state,
        amountMinor: toBigInt(r.amount_minor),
        currency: r.currency,
        captureId: r.capture_id,
        createdAt: toNumber(r.created_at),
        maxSeq: Number(r.version) + 2,
        capture,
        refunds,
        paid: paidIds.has(r.id) || capture !== undefined,
      });
    }
  }
  return out;
}

/** The payouts `ids` that exist. */
export async function loadLocalPayouts(
  trx: MarketkitTransaction,
  ids: readonly string[],
): Promise<Map<string, LocalPayout>> {
  const out = new Map<string, LocalPayout>();
  for (const chunk of chunks(ids)) {
    const rows = await trx.selectFrom('payouts').selectAll().where('id', 'in', chunk).execute();
    for (const r of rows) {
      out.set(r.id, {
        id: r.id,
        amountMinor: toBigInt(r.amount_minor),
        currency: r.currency,
        status: r.status,
        providerPayoutId: r.provider_payout_id,
        createdAt: toNumber(r.created_at),
      });
    }
  }
  return out;
}
