import { z } from 'zod';
import { actorSchema } from './order-schemas.js';
import type { Actor } from './order-types.js';

/**
 * What a per-order or per-party read (`orders.get`, `orders.history`, `payouts.get`) takes besides the id.
 *
 * The host authenticates actors and Marketkit authorizes them: pass `actor`, the user the host has authenticated,
 * and the read shows only what that user may see (see {@link mayRead}); a record they may not see is refused
 * with `NOT_FOUND`, exactly as one that does not exist, so its existence does not leak. Without `actor` the read
 * is a trusted in-process read that sees everything: for the host's own code (jobs, reports, back office), never
 * for input that came from a user. The HTTP layer always passes one.
 */
export interface ReadOptions {
  /** Who reads. Absent: a trusted read that sees every record. */
  readonly actor?: Actor;
  /**
   * `eventual` (default): with read replicas, `orders.get` and `orders.history` may come from one that lags the
   * primary within the adapter's bound (this instance's own writes included). `primary`: from the primary, e.g. for
   * a user whose last write went through another process (see docs/storage.md, "Read replicas"). Reads that always
   * run on the primary (`payouts.get`) satisfy either.
   */
  readonly consistency?: 'eventual' | 'primary';
}

/** Validates {@link ReadOptions} (optional as a whole). @internal */
export const readOptionsSchema = z
  .strictObject({ actor: actorSchema.optional(), consistency: z.enum(['eventual', 'primary']).optional() })
  .optional();

/**
 * The parties of a record: the buyer and the seller it belongs to. An order has both; a payout has only a seller.
 */
export interface ReadParties {
  readonly buyerId?: string;
  readonly sellerId?: string;
}

/**
 * Whether `actor` may read a record with these parties: its buyer (as a `buyer`, by id), its seller (as a `seller`,
 * by id), any `operator`, and `system`. A buyer or seller who is not that party may not, nor may a user in a role
 * whose party the record does not have (a buyer reading a payout). This is the one rule every actor-scoped read
 * of core applies; an HTTP layer reuses it for its own reads.
 *
 * @example
 * ```ts
 * mayRead({ role: 'seller', id: 'bob' }, { buyerId: order.buyerId, sellerId: order.sellerId }); // bob's order: true
 * mayRead({ role: 'buyer', id: 'mallory' }, order); // not hers: false
 * ```
 */
export function mayRead(actor: Actor, parties: ReadParties): boolean {
  switch (actor.role) {
    case 'operator':
    case 'system':
      return true;
    case 'buyer':
      return parties.buyerId !== undefined && actor.id === parties.buyerId;
    case 'seller':
      return parties.sellerId !== undefined && actor.id === parties.sellerId;
  }
}
