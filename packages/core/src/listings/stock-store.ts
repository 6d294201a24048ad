import { sql } from 'kysely';
import { MarketkitError } from '../errors/marketkit-error.js';
import type { MarketkitTransaction } from '../storage/storage.js';
import type { StorageCapabilities } from '../storage/storage-adapter.js';
import { reservationFromRow } from './listing-rows.js';
import type { StockReservation } from './listing-types.js';

/**
 * How a reservation takes stock on a contended listing:
 * - `guardedUpdate`: one `UPDATE … SET reserved = reserved + q WHERE available >= q` (one round trip);
 * - `rowLock`: `SELECT … FOR UPDATE`, check, then `UPDATE` (two round trips, same lock).
 * Both are correct under any interleaving; `npm run bench -- checkout` measures which is faster.
 */
export type StockStrategy = 'guardedUpdate' | 'rowLock';

/** What a reservation needs besides its input. */
export interface StockContext {
  readonly caps: StorageCapabilities;
  readonly strategy: StockStrategy;
  readonly now: number;
}

/** The parsed input of a reservation, with its id decided. */
export interface ReserveCommand {
  readonly id: string;
  readonly listingId: string;
  readonly quantity: number;
  readonly ttlMs: number;
  readonly orderId: string | undefined;
}

/**
 * Takes `quantity` units of a listing for `ttlMs`, inside the caller's transaction.
 * Contract: under any number of concurrent callers, the units reserved plus sold never exceed the listing's
 * quantity; a caller that cannot get its units gets `INSUFFICIENT_STOCK` and changes nothing.
 */
export async function reserveStock(
  trx: MarketkitTransaction,
  ctx: StockContext,
  cmd: ReserveCommand,
): Promise<StockReservation> {
  const taken = ctx.strategy === 'rowLock' ? await takeWithRowLock(trx, ctx, cmd) : await takeGuarded(trx, ctx, cmd);
  if (!taken) await explainShortage(trx, cmd.listingId, cmd.quantity);
  const row = {
    id: cmd.id,
    listing_id: cmd.listingId,
    order_id: cmd.orderId ?? null,
    quantity: cmd.quantity,
    status: 'active' as const,
    expires_at: ctx.now + cmd.ttlMs,
    created_at: ctx.now,
    updated_at: ctx.now,
  };
  await trx.insertInto('stock_reservations').values(row).execute();
  return {
    id: cmd.id,
    listingId: cmd.listingId,
    orderId: row.order_id,
    quantity: cmd.quantity,
    status: 'active',
    expiresAt: row.expires_at,
  };
}

async function takeGuarded(trx: MarketkitTransaction, ctx: StockContext, cmd: ReserveCommand): Promise<boolean> {
  const res = await trx
    .updateTable('listings')
    .set({ reserved: sql`reserved + ${cmd.quantity}`, updated_at: ctx.now })
    .where('id', '=', cmd.listingId)
    .where('status', '=', 'active')
    .where(sql<boolean>`quantity - sold - reserved >= ${cmd.quantity}`)
    .executeTakeFirst();
  return res.numUpdatedRows > 0n;
}

async function takeWithRowLock(trx: MarketkitTransaction, ctx: StockContext, cmd: ReserveCommand): Promise<boolean> {
  let q = trx.selectFrom('listings').select(['quantity', 'sold', 'reserved', 'status']).where('id', '=', cmd.listingId);
  if (ctx.caps.rowLocks) q = q.forUpdate();
  const row = await q.executeTakeFirst();
  if (row === undefined || row.status !== 'active') return false;
  if (Number(row.quantity) - Number(row.sold) - Number(row.reserved) < cmd.quantity) return false;
  await trx
    .updateTable('listings')
    .set({ reserved: sql`reserved + ${cmd.quantity}`, updated_at: ctx.now })
    .where('id', '=', cmd.listingId)
    .execute();
  return true;
}

async function explainShortage(trx: MarketkitTransaction, listingId: string, wanted: number): Promise<never> {
  const row = await trx
    .selectFrom('listings')
    .select(['quantity', 'sold', 'reserved', 'status'])
    .where('id', '=', listingId)
    .executeTakeFirst();
  if (row === undefined)
    throw new MarketkitError('NOT_FOUND', {
      message: `Listing ${listingId} does not exist.`,
      details: { resource: 'listing', id: listingId },
    });
  const available = Number(row.quantity) - Number(row.sold) - Number(row.reserved);
  throw new MarketkitError('INSUFFICIENT_STOCK', {
    message:
      row.status === 'active'
        ? `Only ${available} of listing ${listingId} available; ${wanted} wanted.`
        : `Listing ${listingId} is closed.`,
    details: { listingId, wanted, available: row.status === 'active' ? available : 0 },
  });
}

/** Moves of a reservation: which status it leaves, which it enters, and how the listing's counters change. */
const MOVES = {
  sell: { from: 'active', to: 'sold', reserved: -1, sold: 1 },
  release: { from: 'active', to: 'released', reserved: -1, sold: 0 },
  expire: { from: 'active', to: 'expired', reserved: -1, sold: 0 },
  restock: { from: 'sold', to: 'released', reserved: 0, sold: -1 },
} as const;

/** A change of a reservation's status. */
export type ReservationMove = keyof typeof MOVES;

/**
 * Moves a reservation (active → sold | released | expired, or sold → released for a cancelled paid order) and
 * adjusts the listing's counters in the same transaction. Exactly one of any number of concurrent movers of
 * one reservation wins; the others see the new status. Returns the reservation after the move, or `undefined`
 * when it was not in the status the move leaves (nothing changed).
 */
export async function moveReservation(
  trx: MarketkitTransaction,
  reservationId: string,
  move: ReservationMove,
  now: number,
): Promise<StockReservation | undefined> {
  const m = MOVES[move];
  const row = await trx
    .updateTable('stock_reservations')
    .set({ status: m.to, updated_at: now })
    .where('id', '=', reservationId)
    .where('status', '=', m.from)
    .returningAll()
    .executeTakeFirst();
  if (row === undefined) return undefined;
  const q = Number(row.quantity);
  await trx
    .updateTable('listings')
    .set({
      reserved: sql`reserved + ${m.reserved * q}`,
      sold: sql`sold + ${m.sold * q}`,
      updated_at: now,
    })
    .where('id', '=', row.listing_id)
    .execute();
  return reservationFromRow(row);
}

/** Reads a reservation. */
export async function findReservation(trx: MarketkitTransaction, id: string): Promise<StockReservation | undefined> {
  const row = await trx.selectFrom('stock_reservations').selectAll().where('id', '=', id).executeTakeFirst();
  return row === undefined ? undefined : reservationFromRow(row);
}
