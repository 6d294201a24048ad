import { decodeJson } from '../jobs/json-column.js';
import type { MarketkitTransaction } from '../storage/storage.js';
import { type CaptureOutput, CHECKOUT_SAGA, checkoutSagaId } from './checkout-saga.js';

/** The result of `orders.verifyCheckouts()`: `ok` when no problem was found. */
export interface CheckoutVerification {
  readonly ok: boolean;
  readonly problems: readonly string[];
  readonly checkoutsChecked: number;
}

/**
 * Checks that every order's checkout saga agrees with the order: each order has one; a completed saga confirmed
 * the order with the capture it recorded; a compensated one left the order out of checkout with nothing captured;
 * an order still in checkout has a saga that is live (or parked for an operator), never one that ended; and no
 * saga past its first step lacks its order.
 */
export async function verifyCheckouts(trx: MarketkitTransaction, initialState: string): Promise<CheckoutVerification> {
  const orders = await trx.selectFrom('orders').select(['id', 'state', 'capture_id']).orderBy('id').execute();
  const sagas = await trx
    .selectFrom('saga_instances')
    .select(['id', 'status', 'step_index', 'outputs'])
    .where('name', '=', CHECKOUT_SAGA)
    .execute();
  const byId = new Map(sagas.map((s) => [s.id, s]));
  const problems: string[] = [];
  for (const o of orders) {
    const saga = byId.get(checkoutSagaId(o.id));
    byId.delete(checkoutSagaId(o.id));
    if (saga === undefined) {
      problems.push(`order ${o.id}: no checkout saga`);
      continue;
    }
    const where = `order ${o.id} (${o.state}), checkout saga ${saga.status}`;
    const inCheckout = o.state === initialState;
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
