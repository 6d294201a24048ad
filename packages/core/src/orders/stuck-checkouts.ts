import type { Kysely } from 'kysely';
import { Money } from '../money/money.js';
import type { MarketkitDatabase } from '../schema/database.js';
import { toBigInt, toNumber } from '../storage/int64.js';
import { customerActionState, customerActionWindowMs } from './process/customer-action-state.js';
import type { ProcessDefinition } from './process/process-definition.js';
import { reservationWindowMs } from './process/reservation-window.js';

/**
 * An order still awaiting its payment after its window closed: in the process's initial state longer than the
 * reservation window since checkout, or waiting for the customer (3-D Secure) longer than the customer-action window
 * (the reservation window when the process sets none). A worker's timed transitions normally move such an order on
 * within a poll; one listed here means no worker runs, or its checkout saga is parked for an operator.
 *
 * @example
 * ```ts
 * const [oldest]: StuckCheckout[] = await market.orders.stuckCheckouts({ limit: 1 });
 * if (oldest !== undefined) console.warn(`${oldest.orderId} overdue by ${oldest.overdueMs} ms`);
 * ```
 */
export interface StuckCheckout {
  readonly orderId: string;
  readonly state: string;
  readonly buyerId: string;
  readonly sellerId: string;
  readonly listingId: string;
  readonly amount: Money;
  /** When the buyer checked out (ms since the epoch). */
  readonly createdAt: number;
  /** When its window closed (ms since the epoch). */
  readonly deadline: number;
  /** How long ago the window closed, in ms of the marketplace's clock. */
  readonly overdueMs: number;
}

/** Orders awaiting payment past their window at `now`, oldest checkout first, at most `limit`. */
export async function readStuckCheckouts(
  db: Kysely<MarketkitDatabase>,
  process: ProcessDefinition,
  now: number,
  limit: number,
): Promise<StuckCheckout[]> {
  const reservation = reservationWindowMs(process);
  const waiting = customerActionState(process);
  const customerWindow = customerActionWindowMs(process) ?? reservation;
  const rows = await db
    .selectFrom('orders')
    .select(['id', 'state', 'buyer_id', 'seller_id', 'listing_id', 'amount_minor', 'currency'])
    .select(['created_at', 'state_entered_at'])
    .where((eb) =>
      eb.or([
        eb.and([eb('state', '=', process.initial), eb('created_at', '<=', BigInt(now - reservation))]),
        ...(waiting === undefined
          ? []
          : [eb.and([eb('state', '=', waiting), eb('state_entered_at', '<=', BigInt(now - customerWindow))])]),
      ]),
    )
    .orderBy('created_at')
    .orderBy('id')
    .limit(limit)
    .execute();
  return rows.map((r) => {
    const createdAt = toNumber(r.created_at);
    const deadline =
      r.state === process.initial ? createdAt + reservation : toNumber(r.state_entered_at) + customerWindow;
    return {
      orderId: r.id,
      state: r.state,
      buyerId: r.buyer_id,
      sellerId: r.seller_id,
      listingId: r.listing_id,
      amount: Money.fromMinor(toBigInt(r.amount_minor), r.currency),
      createdAt,
      deadline,
      overdueMs: now - deadline,
    };
  });
}
