import { decodeJson } from '../jobs/json-column.js';
import type { MarketkitTransaction } from '../storage/storage.js';
import { type CaptureOutput, CHECKOUT_SAGA, checkoutSagaId } from './checkout-saga.js';
import { ESCROW_CODES } from './escrow-accounts.js';

/** The result of `orders.verifyCheckouts()`: `ok` when no problem was found. */
export interface CheckoutVerification {
  readonly ok: boolean;
  readonly problems: readonly string[];
  readonly checkoutsChecked: number;
}

/**
 * Checks that every order's checkout saga agrees with the order: each order has one; a completed saga confirmed
 * the order with the capture it recorded; a compensated one left the order out of checkout with nothing captured;
 * an order still in checkout has a saga that is live (or parked for an operator), never one that ended; no order is
 * paid or later (moved by one of `captureTransitions`, or its escrow funded) without a capture id; and no saga past
 * its first step lacks its order.
 */
export async function verifyCheckouts(
  trx: MarketkitTransaction,
  initialState: string | readonly string[],
  captureTransitions: readonly string[] = ['confirmPayment'],
): Promise<CheckoutVerification> {
  const orders = await trx.selectFrom('orders').select(['id', 'state', 'capture_id']).orderBy('id').execute();
  const paid = await paidOrderIds(trx, captureTransitions);
  const sagas = await trx
    .selectFrom('saga_instances')
    .select(['id', 'status', 'step_index', 'outputs'])
    .where('name', '=', CHECKOUT_SAGA)
    .execute();
  const byId = new Map(sagas.map((s) => [s.id, s]));
  const awaiting = new Set(typeof initialState === 'string' ? [initialState] : initialState);
  const problems: string[] = [];
  for (const o of orders) {
    const saga = byId.get(checkoutSagaId(o.id));
    byId.delete(checkoutSagaId(o.id));
    if (saga === undefined) {
      problems.push(`order ${o.id}: no checkout saga`);
      continue;
    }
    if (o.capture_id === null && paid.has(o.id)) problems.push(`order ${o.id} (${o.state}): paid without a capture id`);
    const where = `order ${o.id} (${o.state}), checkout saga ${saga.status}`;
    const inCheckout = awaiting.has(o.state);
    if (saga.status === 'completed') {
      const capture = (decodeJson(saga.outputs) as { capture?: CaptureOutput } | null)?.capture;
      if (inCheckout) problems.push(`${where}: the saga completed but the order is still in checkout`);
      if (capture === undefined || capture.captureId !== o.capture_id)
        problems.push(`${where}: the order's capture ${o.capture_id} is not the saga's ${capture?.captureId}`);
    } else if (saga.status === 'compensated') {
      if (inCheckout) problems.push(`${where}: the saga was compensated but the order is still in checkout`);
      if (o.capture_id !== null) problems.push(`${where}: the saga was compensated but the order holds a capture`);
    } else if (saga.status === 'resolved' && inCheckout) {
      problems.push(`${where}: an operator resolved the saga but the order is still in checkout`);
    }
  }
  for (const s of byId.values()) {
    if (Number(s.step_index) > 0 || s.status !== 'running')
      problems.push(`checkout saga ${s.id} (${s.status}): its order does not exist`);
  }
  return { ok: problems.length === 0, problems, checkoutsChecked: orders.length };
}

/** The orders a capturing transition moved, or whose escrow was funded: paid, or later. */
async function paidOrderIds(trx: MarketkitTransaction, captureTransitions: readonly string[]): Promise<Set<string>> {
  const funded = await trx
    .selectFrom('transfers')
    .select('reference')
    .where('code', '=', BigInt(ESCROW_CODES.capture))
    .execute();
  const moved =
    captureTransitions.length === 0
      ? []
      : await trx.selectFrom('order_events').select('order_id').where('transition', 'in', captureTransitions).execute();
  const ids = new Set(moved.map((e) => e.order_id));
  for (const t of funded) if (t.reference !== null) ids.add(t.reference);
  return ids;
}
