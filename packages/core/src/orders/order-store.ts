import type { Kysely, Selectable } from 'kysely';
import { MarketkitError } from '../errors/marketkit-error.js';
import { CHECKOUT_OPERATION } from '../idempotency/keyed-operations.js';
import type { MarketkitDatabase } from '../schema/database.js';
import type { MarketkitTransaction } from '../storage/storage.js';
import type { StorageCapabilities } from '../storage/storage-adapter.js';
import { escrowMinor } from './escrow.js';
import { mayRead } from './order-read-access.js';
import { orderFromRow } from './order-rows.js';
import type { OrdersTable } from './order-tables.js';
import type { Actor, Order } from './order-types.js';

/** Loads an order and, where the backend has row locks, locks it for the rest of the transaction. */
export async function lockOrder(
  trx: MarketkitTransaction,
  caps: StorageCapabilities,
  orderId: string,
): Promise<Selectable<OrdersTable>> {
  let q = trx.selectFrom('orders').selectAll().where('id', '=', orderId);
  if (caps.rowLocks) q = q.forUpdate();
  const row = await q.executeTakeFirst();
  if (row === undefined) throw orderNotFound(orderId);
  return row;
}

/**
 * `NOT_FOUND` for an order that does not exist, and for one the reader may not see: one error for both, so a
 * refusal says nothing about whether the order exists.
 */
export function orderNotFound(orderId: string): MarketkitError {
  return new MarketkitError('NOT_FOUND', {
    message: `Order ${orderId} does not exist.`,
    details: { resource: 'order', id: orderId },
  });
}

/**
 * The next sequence number of an order's event log. Every transition appends one event and bumps the order's
 * version in the same commit, and checkout writes event 1 at version 0, so the log holds `version + 1` events.
 */
export function nextEventSeq(order: Selectable<OrdersTable>): number {
  return Number(order.version) + 2;
}

/**
 * The order `orderId` when it exists for the same request (buyer, listing, quantity), `undefined` when it does not
 * exist; throws `IDEMPOTENCY_KEY_REUSED` when it exists for another request.
 */
export async function sameOrder(
  trx: Kysely<MarketkitDatabase>,
  orderId: string,
  p: {
    readonly buyerId: string;
    readonly listingId: string;
    readonly quantity: number;
    readonly idempotencyKey?: string | undefined;
  },
): Promise<Selectable<OrdersTable> | undefined> {
  const existing = await trx.selectFrom('orders').selectAll().where('id', '=', orderId).executeTakeFirst();
  if (existing === undefined) return undefined;
  if (
    existing.buyer_id !== p.buyerId ||
    existing.listing_id !== p.listingId ||
    Number(existing.quantity) !== p.quantity
  ) {
    // The key is the caller's idempotency key, or the order id a caller chose.
    const key = p.idempotencyKey ?? orderId;
    throw new MarketkitError('IDEMPOTENCY_KEY_REUSED', {
      message: `The idempotency key ${key} was already used for orders.checkout with a different request.`,
      details: { key, actor: p.buyerId, operation: CHECKOUT_OPERATION },
    });
  }
  return existing;
}

/**
 * `CONCURRENCY_CONFLICT` for an order busy with another operation: the one its busy mark (`pending_op`) names, if
 * it still carries one.
 */
export function orderBusy(order: Selectable<OrdersTable>, message: string): MarketkitError<'CONCURRENCY_CONFLICT'> {
  const op =
    order.pending_op === null ? undefined : (JSON.parse(order.pending_op) as { transition: string; sagaId: string });
  return new MarketkitError('CONCURRENCY_CONFLICT', {
    message,
    details: {
      reason: 'busy',
      resource: 'order',
      id: order.id,
      ...(op === undefined ? {} : { operation: op.transition, sagaId: op.sagaId }),
    },
  });
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

/**
 * An order with its escrow balance, read through `db` (a transaction or the pool), or `undefined` when it does not
 * exist or, given `actor`, when the actor may not read it ({@link mayRead}).
 */
export async function readOrder(
  db: Kysely<MarketkitDatabase>,
  orderId: string,
  actor?: Actor,
): Promise<Order | undefined> {
  const row = await db.selectFrom('orders').selectAll().where('id', '=', orderId).executeTakeFirst();
  if (row === undefined || (actor !== undefined && !mayRead(actor, partiesOf(row)))) return undefined;
  return orderFromRow(row, await escrowMinor(db, orderId));
}

/** Whether order `orderId` exists and `actor` may read it ({@link mayRead}). */
export async function orderReadableBy(db: Kysely<MarketkitDatabase>, orderId: string, actor: Actor): Promise<boolean> {
  const row = await db
    .selectFrom('orders')
    .select(['buyer_id', 'seller_id'])
    .where('id', '=', orderId)
    .executeTakeFirst();
  return row !== undefined && mayRead(actor, partiesOf(row));
}

function partiesOf(row: { readonly buyer_id: string; readonly seller_id: string }) {
  return { buyerId: row.buyer_id, sellerId: row.seller_id };
}
