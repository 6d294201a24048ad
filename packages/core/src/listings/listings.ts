import { sql } from 'kysely';
import type { Clock } from '../clock/clock.js';
import { MarketkitError } from '../errors/marketkit-error.js';
import { parseInput } from '../errors/validation-error.js';
import type { Idempotency } from '../idempotency/idempotency.js';
import type { ResultCodec } from '../idempotency/idempotency-types.js';
import { LISTING_OPERATIONS } from '../idempotency/keyed-operations.js';
import type { IdFactory } from '../ids/id-factory.js';
import { int64Amount } from '../money/int64-amount.js';
import { MAX_MAINTENANCE_LIMIT, parseRowLimit } from '../storage/row-limit.js';
import type { MarketkitTransaction, Storage } from '../storage/storage.js';
import { LISTING_CODEC } from './listing-codec.js';
import { encodeCommission, listingFromRow } from './listing-rows.js';
import {
  keyOptionsSchema,
  listingIdSchema,
  listingInputSchema,
  listingReadOptionsSchema,
  listingsOptionsSchema,
  listingUpdateSchema,
  reserveInputSchema,
} from './listing-schemas.js';
import type {
  KeyOptions,
  Listing,
  ListingInput,
  ListingReadOptions,
  ListingUpdate,
  ReserveInput,
  StockReservation,
} from './listing-types.js';
import {
  findReservation,
  moveReservation,
  type ReservationMove,
  reserveStock,
  type StockStrategy,
} from './stock-store.js';
import { type StockVerification, verifyStock } from './stock-verification.js';

/** Options of {@link Listings}. */
export interface ListingsOptions {
  /** How contended stock is taken; see {@link StockStrategy}. Default `guardedUpdate`. */
  readonly stockStrategy?: StockStrategy;
}

/**
 * Listings and their stock. Under any interleaving of buyers, `sold + reserved + available = quantity` and
 * nothing is oversold.
 *
 * @example
 * ```ts
 * const listing = await market.listings.create({ sellerId: 'bob', title: 'Lamp', price: Money.of('40', 'USD'), quantity: 3 });
 * const hold = await market.listings.reserve({ listingId: listing.id, quantity: 1, ttlMs: 15 * 60_000 });
 * await market.listings.markSold(hold.id);
 * ```
 */
export class Listings {
  readonly #storage: Storage;
  readonly #clock: Clock;
  readonly #ids: IdFactory;
  readonly #strategy: StockStrategy;
  readonly #idempotency: Idempotency;

  constructor(storage: Storage, clock: Clock, ids: IdFactory, idempotency: Idempotency, options: ListingsOptions = {}) {
    this.#storage = storage;
    this.#clock = clock;
    this.#ids = ids;
    this.#idempotency = idempotency;
    this.#strategy = parseInput(listingsOptionsSchema, options, 'listings options').stockStrategy ?? 'guardedUpdate';
  }

  /**
   * Runs `work` in one transaction; under an idempotency key (scope: key + `actor` + `operation`), through
   * `Idempotency.execute`, so the key record, the writes and the stored result commit together.
   */
  #keyed<T>(
    key: string | undefined,
    scope: { readonly actor: string; readonly operation: string; readonly request: unknown },
    work: (trx: MarketkitTransaction) => Promise<T>,
    codec?: ResultCodec<T>,
    contended?: 'stock',
  ): Promise<T> {
    const retry = { retryUniqueViolations: true, ...(contended === undefined ? {} : { contended }) };
    if (key === undefined) return this.#storage.transaction(work, retry);
    return this.#idempotency.execute({ key, ...scope }, work, { ...retry, ...(codec === undefined ? {} : { codec }) });
  }

  /** The stock strategy in use. */
  get stockStrategy(): StockStrategy {
    return this.#strategy;
  }

  /**
   * Creates a listing. With a client-supplied `id`, creating it again returns the existing listing; with an
   * `idempotencyKey` (scoped to the seller), a repeat returns the stored result.
   */
  async create(input: ListingInput): Promise<Listing> {
    const p = parseInput(listingInputSchema, input, 'listing');
    int64Amount(p.price.minor, p.price.currency, 'price');
    const id = p.id ?? this.#ids('lst');
    const now = this.#clock.now();
    const request = {
      id: p.id ?? null,
      title: p.title,
      price: p.price.toJSON(),
      quantity: p.quantity,
      commission: p.commission === undefined ? null : encodeCommission(p.commission),
    };
    return this.#keyed(
      p.idempotencyKey,
      { actor: p.sellerId, operation: LISTING_OPERATIONS.create, request },
      async (trx) => {
        const existing = await trx.selectFrom('listings').selectAll().where('id', '=', id).executeTakeFirst();
        if (existing !== undefined) return listingFromRow(existing);
        const row = {
          id,
          seller_id: p.sellerId,
          title: p.title,
          price_minor: p.price.minor,
          currency: p.price.currency,
          quantity: p.quantity,
          commission: p.commission === undefined ? null : encodeCommission(p.commission),
          created_at: now,
          updated_at: now,
        };
        const inserted = await trx.insertInto('listings').values(row).returningAll().executeTakeFirstOrThrow();
        return listingFromRow(inserted);
      },
      LISTING_CODEC,
    );
  }

  /**
   * A listing, or `undefined`. Replica-safe (`eventual`): with read replicas it may lag the primary by the adapter's
   * bound, but shows this instance's own writes; `{ consistency: 'primary' }` reads the primary. Stock is checked
   * again, on the primary, when it is reserved. A malformed id or option is `VALIDATION_FAILED`.
   */
  async get(id: string, options?: ListingReadOptions): Promise<Listing | undefined> {
    const listingId = parseInput(listingIdSchema, id, 'listing id');
    const consistency = parseInput(listingReadOptionsSchema, options, 'listing read options')?.consistency;
    const row = await this.#storage.read(
      (db) => db.selectFrom('listings').selectAll().where('id', '=', listingId).executeTakeFirst(),
      consistency ?? 'eventual',
    );
    return row === undefined ? undefined : listingFromRow(row);
  }

  /**
   * Edits a listing if it is still at `expectedVersion` (optimistic concurrency). A stale version gets
   * `CONCURRENCY_CONFLICT` (retryable: reload and try again); a quantity below `sold + reserved` gets
   * `INSUFFICIENT_STOCK`. Stock movements do not bump the version, so buyers never make a seller's edit stale.
   */
  async update(id: string, update: ListingUpdate): Promise<Listing> {
    const listingId = parseInput(listingIdSchema, id, 'listing id');
    const u = parseInput(listingUpdateSchema, update, 'listing update');
    if (u.price !== undefined) int64Amount(u.price.minor, u.price.currency, 'price');
    const now = this.#clock.now();
    const { idempotencyKey, ...fields } = u;
    const request = { ...fields, price: fields.price?.toJSON() ?? null };
    const scope = { actor: `listing:${listingId}`, operation: LISTING_OPERATIONS.update, request };
    return this.#keyed(
      idempotencyKey,
      scope,
      async (trx) => {
        let q = trx
          .updateTable('listings')
          .set({
            version: sql`version + 1`,
            updated_at: now,
            ...(u.title === undefined ? {} : { title: u.title }),
            ...(u.price === undefined ? {} : { price_minor: u.price.minor, currency: u.price.currency }),
            ...(u.quantity === undefined ? {} : { quantity: u.quantity }),
            ...(u.status === undefined ? {} : { status: u.status }),
          })
          .where('id', '=', listingId)
          .where('version', '=', BigInt(u.expectedVersion));
        if (u.quantity !== undefined) q = q.where(sql<boolean>`sold + reserved <= ${u.quantity}`);
        const row = await q.returningAll().executeTakeFirst();
        if (row !== undefined) return listingFromRow(row);
        const current = await trx.selectFrom('listings').selectAll().where('id', '=', listingId).executeTakeFirst();
        if (current === undefined)
          throw new MarketkitError('NOT_FOUND', {
            message: `Listing ${listingId} does not exist.`,
            details: { resource: 'listing', id: listingId },
          });
        const listing = listingFromRow(current);
        if (listing.version !== u.expectedVersion) {
          throw new MarketkitError('CONCURRENCY_CONFLICT', {
            message: `Listing ${listingId} is at version ${listing.version}, not ${u.expectedVersion}.`,
            details: {
              reason: 'version',
              resource: 'listing',
              id: listingId,
              expectedVersion: String(u.expectedVersion),
              actualVersion: String(listing.version),
            },
          });
        }
        throw new MarketkitError('INSUFFICIENT_STOCK', {
          message: `Listing ${listingId} has ${listing.sold + listing.reserved} units sold or reserved; quantity ${u.quantity} is too low.`,
          // The units sold or reserved are what the new quantity must hold.
          details: { listingId, wanted: listing.sold + listing.reserved, available: u.quantity ?? listing.quantity },
        });
      },
      LISTING_CODEC,
    );
  }

  /**
   * Reserves units for `ttlMs`. Gets `INSUFFICIENT_STOCK` (and changes nothing) when fewer are available.
   * With `reservationId`, reserving again returns the existing reservation instead of taking more stock.
   */
  async reserve(input: ReserveInput): Promise<StockReservation> {
    const p = parseInput(reserveInputSchema, input, 'reservation');
    const id = p.reservationId ?? this.#ids('rsv');
    const { idempotencyKey, ...request } = p;
    return this.#keyed(
      idempotencyKey,
      { actor: `listing:${p.listingId}`, operation: LISTING_OPERATIONS.reserve, request },
      async (trx) => {
        if (p.reservationId !== undefined) {
          const existing = await findReservation(trx, id);
          if (existing !== undefined) return existing;
        }
        const ctx = { caps: this.#storage.adapter.capabilities, strategy: this.#strategy, now: this.#clock.now() };
        return reserveStock(trx, ctx, {
          id,
          listingId: p.listingId,
          quantity: p.quantity,
          ttlMs: p.ttlMs,
          orderId: p.orderId,
        });
      },
      undefined,
      'stock',
    );
  }

  /**
   * Converts an active reservation to sold. One past its expiry gets `RESERVATION_EXPIRED`, whether the expiry job
   * already swept it or not (then it is expired here, and its stock released).
   */
  async markSold(reservationId: string, options: KeyOptions = {}): Promise<StockReservation> {
    return this.#move(reservationId, 'sell', options);
  }

  /** Releases an active reservation (stock back). Releasing one already released or expired changes nothing. */
  async release(reservationId: string, options: KeyOptions = {}): Promise<StockReservation> {
    return this.#move(reservationId, 'release', options);
  }

  /** Puts the units of a sold reservation back on sale (a cancelled, refunded order). */
  async restock(reservationId: string, options: KeyOptions = {}): Promise<StockReservation> {
    return this.#move(reservationId, 'restock', options);
  }

  /**
   * Expires reservations past their expiry (at most `limit`, 1 to 10,000) and returns how many. Run by the worker. Reservations
   * an order holds are left to the order's process (its timed transition cancels the order and releases them).
   * `limit` is an integer from 1 to 10,000 (`VALIDATION_FAILED` otherwise).
   */
  async expireReservations(limit = 500): Promise<number> {
    parseRowLimit(limit, MAX_MAINTENANCE_LIMIT, 'expireReservations limit');
    const caps = this.#storage.adapter.capabilities;
    return this.#storage.transaction(async (trx) => {
      const now = this.#clock.now();
      let q = trx
        .selectFrom('stock_reservations')
        .select('id')
        .where('status', '=', 'active')
        .where('order_id', 'is', null)
        .where('expires_at', '<=', BigInt(now))
        .orderBy('id')
        .limit(limit);
      if (caps.skipLocked) q = q.forUpdate().skipLocked();
      let expired = 0;
      for (const { id } of await q.execute())
        if ((await moveReservation(trx, id, 'expire', now)) !== undefined) expired++;
      return expired;
    });
  }

  /**
   * Checks the stock invariants of every listing (counters equal the sums of reservations; sold + reserved ≤
   * quantity). Reads everything in one snapshot: for tests, audits and ops.
   */
  async verifyStock(): Promise<StockVerification> {
    return this.#storage.snapshot((trx) => verifyStock(trx));
  }

  async #move(
    reservationId: string,
    move: keyof typeof LISTING_OPERATIONS & ReservationMove,
    options: KeyOptions,
  ): Promise<StockReservation> {
    const id = parseInput(listingIdSchema, reservationId, 'reservation id');
    const { idempotencyKey } = parseInput(keyOptionsSchema, options, 'options');
    const scope = { actor: `reservation:${id}`, operation: LISTING_OPERATIONS[move], request: { reservationId: id } };
    const outcome = await this.#keyed(idempotencyKey, scope, async (trx) => {
      const now = this.#clock.now();
      const current = await findReservation(trx, id);
      if (current === undefined)
        throw new MarketkitError('NOT_FOUND', {
          message: `Reservation ${id} does not exist.`,
          details: { resource: 'reservation', id },
        });
      if (current.status === 'active' && current.expiresAt <= now && move !== 'release') {
        await moveReservation(trx, id, 'expire', now);
        return { expired: true as const, expiresAt: current.expiresAt };
      }
      const moved = await moveReservation(trx, id, move, now);
      return { expired: false as const, reservation: moved ?? current, moved: moved !== undefined };
    });
    if (outcome.expired) throw reservationExpired(id, outcome.expiresAt);
    // Already expired by the worker's sweep: selling it is refused as it is past its expiry and not yet swept.
    if (move === 'sell' && outcome.reservation.status === 'expired') {
      throw reservationExpired(id, outcome.reservation.expiresAt);
    }
    if (!outcome.moved && !isSettled(outcome.reservation.status, move)) {
      throw new MarketkitError('INVALID_TRANSITION', {
        message: `Reservation ${id} is ${outcome.reservation.status}; cannot ${move}.`,
        details: { resource: 'reservation', id, state: outcome.reservation.status, transition: move },
      });
    }
    return outcome.reservation;
  }
}

function reservationExpired(reservationId: string, expiresAt: number): MarketkitError<'RESERVATION_EXPIRED'> {
  return new MarketkitError('RESERVATION_EXPIRED', {
    message: `Reservation ${reservationId} expired.`,
    details: { reservationId, expiresAt },
  });
}

/** A move that finds the reservation already where it would have put it is an idempotent no-op. */
function isSettled(status: StockReservation['status'], move: ReservationMove): boolean {
  if (move === 'sell') return status === 'sold';
  if (move === 'release') return status === 'released' || status === 'expired';
  if (move === 'restock') return status === 'released';
  return status === 'expired';
}
