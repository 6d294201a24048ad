import { type Selectable, sql } from 'kysely';
import { MarketkitError } from '../errors/marketkit-error.js';
import type { MarketkitTransaction } from '../storage/storage.js';
import type { StorageCapabilities } from '../storage/storage-adapter.js';
import type { OrdersTable } from './order-tables.js';
import type { Actor } from './order-types.js';

/** Loads an order and, where the backend has row locks, locks it for the rest of the transaction. */
export async function lockOrder(
  trx: MarketkitTransaction,
  caps: StorageCapabilities,
  orderId: string,
): Promise<Selectable<OrdersTable>> {
  let q = trx.selectFrom('orders').selectAll().where('id', '=', orderId);
  if (caps.rowLocks) q = q.forUpdate();
  const row = await q.executeTakeFirst();
  if (row === undefined)
    throw new MarketkitError('NOT_FOUND', { message: `Order ${orderId} does not exist.`, details: { orderId } });
  return row;
}

/** The next sequence number of an order's event log. */
export async function nextEventSeq(trx: MarketkitTransaction, orderId: string): Promise<number> {
  const row = await trx
    .selectFrom('order_events')
    .select(sql<string>`coalesce(max(seq), 0)`.as('seq'))
    .where('order_id', '=', orderId)
    .executeTakeFirst();
  return Number(row?.seq ?? 0) + 1;
}

/** Appends one entry to the order's history. Entries are never updated or deleted. */
export async function appendOrderEvent(
  trx: MarketkitTransaction,
  e: {
    orderId: string;
    seq: number;
    transition: string;
    from: string | null;
    to: string;
    actor: Actor;
    reason: string | null;
    data: Record<string, unknown> | null;
    at: number;
  },
): Promise<void> {
  await trx
    .insertInto('order_events')
    .values({
      id: `${e.orderId}:${e.seq}`,
      order_id: e.orderId,
      seq: e.seq,
      transition: e.transition,
      from_state: e.from,
      to_state: e.to,
      actor_role: e.actor.role,
      actor_id: e.actor.id,
      reason: e.reason,
      data:
        e.data === null ? null : JSON.stringify(e.data, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v)),
      at: e.at,
    })
    .execute();
}
