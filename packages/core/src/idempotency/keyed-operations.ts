/**
 * The operation names Marketkit's own calls store their idempotency keys under, and the `actor` each key is scoped
 * to: what `market.idempotency.inspect({ key, actor, operation })` needs to read a key's record. The calls use
 * these names, docs/idempotency.md is generated from {@link KEYED_OPERATIONS}, and a test runs every call with a
 * key and finds its record under the documented name and actor.
 */

/** The operation checkout keys are stored under (`idempotency.inspect({ operation: 'orders.checkout', … })`). */
export const CHECKOUT_OPERATION = 'orders.checkout';

/**
 * The operation a transition's keys are stored under: `orders.<transition>`.
 *
 * @example
 * ```ts
 * transitionOperation('ship'); // 'orders.ship'
 * ```
 */
export function transitionOperation<T extends string>(transition: T): `orders.${T}` {
  return `orders.${transition}`;
}

/**
 * The operations the listing calls store their keys under. `listings.markSold` stores its keys under
 * `listings.sell` (the name of the reservation's move), as it always has.
 */
export const LISTING_OPERATIONS = Object.freeze({
  create: 'listings.create',
  update: 'listings.update',
  reserve: 'listings.reserve',
  sell: 'listings.sell',
  release: 'listings.release',
  restock: 'listings.restock',
} as const);

/**
 * The operation a payout's key is named by in errors (`IDEMPOTENCY_KEY_REUSED`, `IDEMPOTENCY_CONFLICT`). A payout
 * key is not an idempotency record: the payout id is derived from seller and key, and the payout saga
 * (`payout:<payoutId>`) is the record, which never expires.
 */
export const PAYOUT_OPERATION = 'payouts.request';

/** One row of {@link KEYED_OPERATIONS}. */
export interface KeyedOperation {
  /** The operation name, or its pattern (`orders.<transition>`). */
  readonly operation: string;
  /** The call that takes the key. */
  readonly call: string;
  /** The `actor` the key is scoped to, as `idempotency.inspect` takes it. */
  readonly actor: string;
  /** Where the key lives when it is not an idempotency record. */
  readonly note?: string;
}

/**
 * Every operation a Marketkit call stores an idempotency key under, with the actor the key is scoped to.
 *
 * @example
 * ```ts
 * const { actor, operation } = KEYED_OPERATIONS.find((o) => o.call.startsWith('listings.reserve'))!;
 * ```
 */
export const KEYED_OPERATIONS: readonly KeyedOperation[] = Object.freeze([
  { operation: CHECKOUT_OPERATION, call: 'orders.checkout(input)', actor: 'the buyer id' },
  {
    operation: transitionOperation('<transition>'),
    call: 'orders.transition(id, name, input)',
    actor: 'the acting user’s id',
  },
  { operation: LISTING_OPERATIONS.create, call: 'listings.create(input)', actor: 'the seller id' },
  {
    operation: LISTING_OPERATIONS.update,
    call: 'listings.update(id, { …, idempotencyKey })',
    actor: '`listing:<listingId>`',
  },
  {
    operation: LISTING_OPERATIONS.reserve,
    call: 'listings.reserve({ …, idempotencyKey })',
    actor: '`listing:<listingId>`',
  },
  ...(
    [
      ['markSold', 'sell'],
      ['release', 'release'],
      ['restock', 'restock'],
    ] as const
  ).map(([method, move]) => ({
    operation: LISTING_OPERATIONS[move],
    call: `listings.${method}(reservationId, { idempotencyKey })`,
    actor: '`reservation:<reservationId>`',
  })),
  {
    operation: PAYOUT_OPERATION,
    call: 'payouts.request({ …, idempotencyKey })',
    actor: 'the seller id',
    note: 'no idempotency record: the payout id is derived from seller and key, its saga `payout:<payoutId>` is the record, and it never expires',
  },
]);
