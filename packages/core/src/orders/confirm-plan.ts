import type { Selectable } from 'kysely';
import type { OutboxEventInput } from '../events/event-types.js';
import { Money } from '../money/money.js';
import { toBigInt } from '../storage/int64.js';
import type { ConfirmCommand } from './checkout-statements.js';
import type { Escrow } from './escrow.js';
import { orderEvent } from './order-outbox-event.js';
import { orderFromRow } from './order-rows.js';
import { nextEventSeq } from './order-store.js';
import type { OrdersTable } from './order-tables.js';
import type { Order } from './order-types.js';

/** What a compiled confirmation writes, worked out before it runs. */
export interface ConfirmPlan {
  /** The order row after the confirmation. */
  readonly after: Selectable<OrdersTable>;
  /** The order as `get()` will read it after the confirmation. */
  readonly result: Order;
  /** The amount captured into escrow, in minor units (escrow holds exactly this afterwards). */
  readonly amount: bigint;
  /** The sequence number of the order event. */
  readonly seq: number;
  /** The capture transfer's values for the ledger's compiled transfer (named `capture`) and its outbox events. */
  readonly capture: { readonly values: Record<string, unknown>; readonly events: readonly OutboxEventInput[] };
  /** The `order.<transition>` outbox event. */
  readonly orderEvent: OutboxEventInput;
}

const COMPILED_EFFECTS: ReadonlySet<string> = new Set(['captureToEscrow', 'markStockSold', 'freezeEscrow']);

/**
 * The plan of a confirmation written without the generic effects code (one statement, or templated steps), or
 * `undefined` when it cannot be: the transition has guards or effects other than capturing into escrow, marking
 * the stock sold and freezing escrow, the order has an operation in flight or no authorization, or the ledger
 * cannot write the capture so.
 */
export function planConfirm(escrow: Escrow, c: ConfirmCommand): ConfirmPlan | undefined {
  const { order, transition: t, now } = c;
  if (!t.effects.includes('captureToEscrow') || t.effects.some((e) => !COMPILED_EFFECTS.has(e))) return undefined;
  if (t.guards.length > 0 || order.pending_op !== null || order.authorization_id === null) return undefined;
  const amount = Money.fromMinor(toBigInt(order.amount_minor), order.currency);
  const view = { id: order.id, sellerId: order.seller_id, currency: order.currency };
  const capture = escrow.captureValues(view, amount, now, 'capture');
  if (capture === undefined) return undefined;
  const seq = nextEventSeq(order);
  const after: Selectable<OrdersTable> = {
    ...order,
    capture_id: c.captureId,
    frozen: t.effects.includes('freezeEscrow') ? 1n : toBigInt(order.frozen),
    state: t.to,
    state_entered_at: BigInt(now),
    updated_at: BigInt(now),
    pending_op: null,
    pending_op_expires_at: null,
    version: toBigInt(order.version) + 1n,
  };
  return {
    after,
    result: orderFromRow(after, amount.minor),
    amount: amount.minor,
    seq,
    capture,
    orderEvent: orderEvent(order.id, seq, t.name, order.state, t.to, c.actor, {}),
  };
}
