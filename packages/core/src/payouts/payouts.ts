import type { Selectable } from 'kysely';
import { z } from 'zod';
import type { Clock } from '../clock/clock.js';
import { MarketkitError } from '../errors/marketkit-error.js';
import { storableText } from '../errors/storable-text.js';
import { parseInput } from '../errors/validation-error.js';
import { PAYOUT_OPERATION } from '../idempotency/keyed-operations.js';
import { markReplayed } from '../idempotency/replay-mark.js';
import type { IdFactory } from '../ids/id-factory.js';
import { keyDerivedId } from '../ids/key-derived-id.js';
import { currencyCodeSchema } from '../money/currency.js';
import { minorUnitsJson } from '../money/minor-units-json.js';
import { mayRead, type ReadOptions, readOptionsSchema } from '../orders/order-read-access.js';
import type { Actor } from '../orders/order-types.js';
import { sagaLastError } from '../sagas/saga-error.js';
import type { Sagas } from '../sagas/sagas.js';
import { toBigInt, toNumber } from '../storage/int64.js';
import type { Storage } from '../storage/storage.js';
import {
  type PayoutDestination,
  type PayoutDestinationInput,
  payoutDestinationInputSchema,
  payoutDestinationSchema,
  payoutRefSchema,
  storedPayoutDestination,
  upsertPayoutDestination,
} from './payout-destinations.js';
import { PAYOUT_SAGA, payoutSagaId, payoutSagaInput } from './payout-saga.js';
import type { PayoutsTable } from './payout-tables.js';

/** A payout as stored. */
export interface Payout {
  readonly id: string;
  readonly sellerId: string;
  readonly currency: string;
  readonly amountMinor: bigint;
  readonly destination: string;
  readonly status: 'requested' | 'paid' | 'failed';
  readonly providerPayoutId: string | null;
  readonly failure: string | null;
  readonly createdAt: number;
}

/** What `payouts.request` takes. */
export interface PayoutInput {
  /** Client-supplied id: requesting again with the same id resumes or returns that payout. */
  readonly payoutId?: string;
  readonly sellerId: string;
  readonly currency: string;
  readonly amountMinor: bigint;
  /**
   * The provider's token for the seller's bank account (Stripe Connect: the seller's `acct_…`). Omitted: the
   * seller's destination stored with `payouts.setDestination`, read in the transaction that records the payout
   * (`PAYOUT_DESTINATION_MISSING` when there is none).
   */
  readonly destination?: string;
  /**
   * Stripe-style idempotency key, scoped to the seller: without `payoutId`, the payout id is derived from the
   * seller and the key, so the same key always names the same payout (its stored outcome is returned; another
   * amount or currency is `IDEMPOTENCY_KEY_REUSED`). Unlike checkout keys these never expire: a payout id is
   * never reused for a second payout.
   */
  readonly idempotencyKey?: string;
}

const id = payoutRefSchema;
/**
 * Zod schema of a {@link PayoutInput}, what `market.payouts.request` checks its input with: ids of 1–100 printable
 * ASCII characters without spaces, an ISO 4217 currency, `amountMinor` a bigint from 1 to 2^63−1, an optional
 * destination and key of 1–255 characters. For a JSON body see {@link payoutInputJsonSchema}.
 */
export const payoutInputSchema = z.strictObject({
  payoutId: id.optional(),
  sellerId: id,
  currency: currencyCodeSchema,
  amountMinor: z.bigint().min(1n).max(9_223_372_036_854_775_807n),
  destination: payoutDestinationSchema.optional(),
  idempotencyKey: storableText().min(1).max(255).optional(),
});

/**
 * {@link payoutInputSchema} for JSON: `amountMinor` is an integer string (`"5000"`) read as a bigint and checked by
 * the same rule, so both accept the same values.
 *
 * @example
 * ```ts
 * const body = payoutInputJsonSchema.omit({ sellerId: true, idempotencyKey: true }).parse(req.body);
 * await market.payouts.request({ ...body, sellerId: user.id });
 * ```
 */
export const payoutInputJsonSchema = payoutInputSchema.extend({
  amountMinor: minorUnitsJson(payoutInputSchema.shape.amountMinor),
});

/**
 * Seller payouts through the payment provider, each run as a durable saga (`marketkit.payout`, see
 * `payoutSaga`): the amount is first held on the seller's balance with a pending ledger transfer (so
 * concurrent payouts can never exceed the available balance), then sent with an idempotency key equal to the
 * payout id, then posted — or voided if the provider declines. A payout interrupted by a crash or a provider
 * timeout is retried with backoff by any worker, without paying twice; operators see stuck ones with
 * `market.sagas.listFailed()`.
 *
 * @example
 * ```ts
 * await market.payouts.request({ sellerId: 'bob', currency: 'USD', amountMinor: 50_00n, destination: 'ba_123' });
 * ```
 */
export class Payouts {
  readonly #storage: Storage;
  readonly #ids: IdFactory;
  readonly #sagas: Sagas;
  readonly #clock: Clock;

  constructor(storage: Storage, ids: IdFactory, sagas: Sagas, clock: Clock) {
    this.#storage = storage;
    this.#ids = ids;
    this.#sagas = sagas;
    this.#clock = clock;
  }

  /**
   * Stores the seller's payout destination (the provider's token for their bank account; Stripe Connect: their
   * connected account `acct_…`), replacing any earlier one. Payouts requested without `destination` go there;
   * payouts already requested keep the destination they recorded. Malformed input is `VALIDATION_FAILED`.
   *
   * @example
   * ```ts
   * await market.payouts.setDestination({ sellerId: 'bob', destination: 'acct_1Bob' });
   * await market.payouts.request({ sellerId: 'bob', currency: 'USD', amountMinor: 50_00n }); // to acct_1Bob
   * ```
   */
  async setDestination(input: PayoutDestinationInput): Promise<PayoutDestination> {
    const parsed = parseInput(payoutDestinationInputSchema, input, 'payout destination');
    const now = this.#clock.now();
    await this.#storage.transaction((trx) => upsertPayoutDestination(trx, parsed, now));
    return { ...parsed, updatedAt: now };
  }

  /**
   * The seller's stored payout destination, or `undefined` when none was set. A malformed id is
   * `VALIDATION_FAILED`.
   *
   * @example
   * ```ts
   * const stored = await market.payouts.getDestination('bob'); // { sellerId: 'bob', destination: 'acct_1Bob', … }
   * ```
   */
  async getDestination(sellerId: string): Promise<PayoutDestination | undefined> {
    const sid = parseInput(id, sellerId, 'seller id');
    return this.#storage.run((db) => storedPayoutDestination(db, sid));
  }

  /**
   * Pays `amountMinor` out of the seller's balance to `destination` (else the seller's stored one) and resolves once
   * the provider paid it. Throws `PAYOUT_DESTINATION_MISSING` when there is neither, and
   * `INSUFFICIENT_FUNDS` beyond the available balance; then nothing is recorded (no hold, no payout, no saga), so
   * the refusal is not replayed: the same `payoutId` (or key) requested again once the funds are there goes
   * through. Any other failure of that first transaction (a retryable storage error) likewise records nothing and is
   * thrown for the caller to retry. `PAYMENT_DECLINED`
   * (the hold is voided, the payout `failed`) when the provider refuses. On a retryable provider error it throws
   * that error while the payout stays `requested` and workers retry it with backoff. Requesting the same
   * `payoutId` (or key) again returns the payout as it stands, marked as a replay (`isReplayed`), or the same error;
   * with another seller, currency or amount it throws `IDEMPOTENCY_KEY_REUSED`.
   */
  async request(input: PayoutInput): Promise<Payout> {
    const { idempotencyKey, ...p } = parseInput(payoutInputSchema, input, 'payout');
    const payoutId =
      p.payoutId ?? (idempotencyKey === undefined ? this.#ids('po') : keyDerivedId('po', p.sellerId, idempotencyKey));
    const sagaId = payoutSagaId(payoutId);
    const sagaInput = { ...p, payoutId };
    // inlineOnly: a request the hold refuses (INSUFFICIENT_FUNDS, above all) stores nothing, not even its saga.
    const outcome = await this.#sagas.run(PAYOUT_SAGA, sagaInput, { id: sagaId, inlineOnly: true });
    const saga = await this.#sagas.get(sagaId);
    if (saga === undefined) throw new MarketkitError('INTERNAL', { message: `Payout saga ${sagaId} vanished.` });
    if (outcome === 'released') {
      const stored = payoutSagaInput.parse(saga.input);
      if (stored.sellerId !== p.sellerId || stored.amountMinor !== p.amountMinor || stored.currency !== p.currency) {
        throw new MarketkitError('IDEMPOTENCY_KEY_REUSED', {
          message: `The idempotency key ${idempotencyKey ?? payoutId} was already used for ${PAYOUT_OPERATION} with a different request.`,
          details: { key: idempotencyKey ?? payoutId, actor: p.sellerId, operation: PAYOUT_OPERATION },
        });
      }
    }
    const payout = await this.get(payoutId);
    // A payout id already requested (outcome `released`: its saga existed) answers as a replay, `isReplayed` says so.
    const answer = (p: Payout) => (outcome === 'released' ? markReplayed(p) : p);
    if (saga.status === 'completed' && payout !== undefined) return answer(payout);
    if (saga.lastError !== null) {
      const error = sagaLastError(saga);
      throw outcome === 'released' ? markReplayed(error) : error;
    }
    if (payout !== undefined) return answer(payout); // another caller is running it right now
    throw new MarketkitError('IDEMPOTENCY_CONFLICT', {
      message: `Payout ${payoutId} is being requested by another call.`,
      details: { key: idempotencyKey ?? payoutId, actor: p.sellerId, operation: PAYOUT_OPERATION },
    });
  }

  /**
   * A payout.
   *
   * With `actor` (see {@link ReadOptions}: the host authenticates actors and Marketkit authorizes them), the read is
   * that actor's: the payout's seller (by id), any operator and the system get it; anyone else, buyers included,
   * gets `NOT_FOUND`, exactly the error a payout that does not exist gets. Without `actor`, a trusted in-process
   * read: any payout, or `undefined` when it does not exist. A malformed id or actor is `VALIDATION_FAILED`.
   *
   * @example
   * ```ts
   * const payout = await market.payouts.get(payoutId, { actor: { role: 'seller', id: session.userId } });
   * ```
   */
  get(payoutId: string, options: { readonly actor: Actor }): Promise<Payout>;
  get(payoutId: string, options?: ReadOptions): Promise<Payout | undefined>;
  async get(payoutId: string, options?: ReadOptions): Promise<Payout | undefined> {
    const pid = parseInput(id, payoutId, 'payout id');
    const actor = parseInput(readOptionsSchema, options, 'read options')?.actor;
    const row = await this.#storage.run((db) =>
      db.selectFrom('payouts').selectAll().where('id', '=', pid).executeTakeFirst(),
    );
    if (row !== undefined && (actor === undefined || mayRead(actor, { sellerId: row.seller_id }))) {
      return payoutFromRow(row);
    }
    if (actor === undefined) return undefined;
    throw new MarketkitError('NOT_FOUND', {
      message: `Payout ${pid} does not exist.`,
      details: { resource: 'payout', id: pid },
    });
  }
}

function payoutFromRow(r: Selectable<PayoutsTable>): Payout {
  return {
    id: r.id,
    sellerId: r.seller_id,
    currency: r.currency,
    amountMinor: toBigInt(r.amount_minor),
    destination: r.destination,
    status: r.status,
    providerPayoutId: r.provider_payout_id,
    failure: r.failure,
    createdAt: toNumber(r.created_at),
  };
}
