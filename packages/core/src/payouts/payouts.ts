import type { Selectable } from 'kysely';
import { z } from 'zod';
import type { Clock } from '../clock/clock.js';
import { isMarketkitError, MarketkitError } from '../errors/marketkit-error.js';
import { parseInput } from '../errors/validation-error.js';
import type { OutboxEventInput } from '../events/event-types.js';
import type { IdFactory } from '../ids/id-factory.js';
import type { Ledger } from '../ledger/ledger.js';
import { currencyCodeSchema } from '../money/currency.js';
import { ESCROW_CODES, escrowAccounts } from '../orders/escrow-accounts.js';
import type { PaymentProvider } from '../payments/payment-provider.js';
import { toBigInt, toNumber } from '../storage/int64.js';
import type { MarketkitTransaction, Storage } from '../storage/storage.js';
import type { PayoutsTable } from './payout-tables.js';

type Emit = (trx: MarketkitTransaction, events: readonly OutboxEventInput[]) => Promise<void>;

const payoutEvent = (
  type: string,
  r: { id: string; seller_id: string; currency: string },
  amountMinor: bigint,
): OutboxEventInput => ({
  type: `payout.${type}`,
  aggregateType: 'payout',
  aggregateId: r.id,
  payload: { payoutId: r.id, sellerId: r.seller_id, currency: r.currency, amountMinor },
});

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
  /** The provider's token for the seller's bank account. */
  readonly destination: string;
}

const id = z
  .string()
  .min(1)
  .max(100)
  .regex(/^[\x21-\x7e]+$/);
const payoutSchema = z.strictObject({
  payoutId: id.optional(),
  sellerId: id,
  currency: currencyCodeSchema,
  amountMinor: z.bigint().min(1n).max(9_223_372_036_854_775_807n),
  destination: z.string().min(1).max(255),
});

/**
 * Seller payouts through the payment provider. The amount is first held on the seller's balance with a
 * pending ledger transfer (so concurrent payouts can never exceed the available balance), then sent with an
 * idempotency key equal to the payout id, then posted — or voided if the provider refuses. A payout interrupted
 * by a crash is finished by `resume()` without paying twice.
 *
 * @example
 * ```ts
 * await market.payouts.request({ sellerId: 'bob', currency: 'USD', amountMinor: 50_00n, destination: 'ba_123' });
 * ```
 */
export class Payouts {
  readonly #storage: Storage;
  readonly #clock: Clock;
  readonly #ids: IdFactory;
  readonly #ledger: Ledger;
  readonly #payments: () => PaymentProvider;
  readonly #emit: Emit;

  constructor(
    storage: Storage,
    clock: Clock,
    ids: IdFactory,
    ledger: Ledger,
    payments: () => PaymentProvider,
    emit: Emit,
  ) {
    this.#emit = emit;
    this.#storage = storage;
    this.#clock = clock;
    this.#ids = ids;
    this.#ledger = ledger;
    this.#payments = payments;
  }

  /** Pays `amountMinor` out of the seller's balance. `INSUFFICIENT_FUNDS` (nothing held) if it exceeds what is available. */
  async request(input: PayoutInput): Promise<Payout> {
    const p = parseInput(payoutSchema, input, 'payout');
    const payoutId = p.payoutId ?? this.#ids('po');
    const row = await this.#storage.transaction(
      async (trx) => {
        const existing = await trx.selectFrom('payouts').selectAll().where('id', '=', payoutId).executeTakeFirst();
        if (existing !== undefined) {
          if (
            existing.seller_id !== p.sellerId ||
            toBigInt(existing.amount_minor) !== p.amountMinor ||
            existing.currency !== p.currency
          ) {
            throw new MarketkitError('IDEMPOTENCY_KEY_REUSED', {
              message: `Payout ${payoutId} exists with a different request.`,
            });
          }
          return existing;
        }
        const [hold] = await this.#ledger.createTransfersIn(trx, [
          {
            id: `${payoutId}:hold`,
            debitAccountId: escrowAccounts.seller(p.sellerId, p.currency),
            creditAccountId: escrowAccounts.clearing(p.currency),
            amount: p.amountMinor,
            currency: p.currency,
            code: ESCROW_CODES.payout,
            reference: payoutId,
            flags: { pending: true },
          },
        ]);
        if (hold?.result !== 'ok') {
          throw new MarketkitError(
            hold?.result === 'exceedsCredits' || hold?.result === 'debitAccountNotFound'
              ? 'INSUFFICIENT_FUNDS'
              : 'INTERNAL',
            {
              message: `Payout of ${p.amountMinor} for ${p.sellerId} refused: ${hold?.result}`,
              details: { result: hold?.result },
            },
          );
        }
        const now = this.#clock.now();
        await this.#emit(trx, [
          payoutEvent('requested', { id: payoutId, seller_id: p.sellerId, currency: p.currency }, p.amountMinor),
        ]);
        return trx
          .insertInto('payouts')
          .values({
            id: payoutId,
            seller_id: p.sellerId,
            currency: p.currency,
            amount_minor: p.amountMinor,
            destination: p.destination,
            status: 'requested',
            provider_payout_id: null,
            failure: null,
            created_at: now,
            updated_at: now,
          })
          .returningAll()
          .executeTakeFirstOrThrow();
      },
      { retryUniqueViolations: true },
    );
    return this.#send(row);
  }

  /** A payout, or `undefined`. */
  async get(payoutId: string): Promise<Payout | undefined> {
    const row = await this.#storage.run((db) =>
      db.selectFrom('payouts').selectAll().where('id', '=', payoutId).executeTakeFirst(),
    );
    return row === undefined ? undefined : payoutFromRow(row);
  }

  /** Finishes payouts still `requested` (a crash or a provider timeout interrupted them); returns how many finished. */
  async resume(limit = 100): Promise<number> {
    const rows = await this.#storage.run((db) =>
      db.selectFrom('payouts').selectAll().where('status', '=', 'requested').orderBy('id').limit(limit).execute(),
    );
    let done = 0;
    for (const row of rows) {
      try {
        await this.#send(row);
        done++;
      } catch (error) {
        if (!isMarketkitError(error) || !error.retryable) throw error;
      }
    }
    return done;
  }

  async #send(row: Selectable<PayoutsTable>): Promise<Payout> {
    if (row.status !== 'requested') return payoutFromRow(row);
    const amountMinor = toBigInt(row.amount_minor);
    let outcome: { ok: true; providerId: string } | { ok: false; failure: string };
    try {
      const sent = await this.#payments().payout({
        idempotencyKey: row.id,
        destination: row.destination,
        amountMinor,
        currency: row.currency,
      });
      outcome = { ok: true, providerId: sent.payoutId };
    } catch (error) {
      if (!isMarketkitError(error) || error.code !== 'PAYMENT_DECLINED') throw error;
      outcome = { ok: false, failure: error.message };
    }
    const updated = await this.#storage.transaction(async (trx) => {
      const flags = outcome.ok ? { postPending: true } : { voidPending: true };
      await this.#ledger.createTransfersIn(trx, [
        { id: `${row.id}:${outcome.ok ? 'post' : 'void'}`, pendingId: `${row.id}:hold`, flags },
      ]);
      await this.#emit(trx, [payoutEvent(outcome.ok ? 'paid' : 'failed', row, amountMinor)]);
      return trx
        .updateTable('payouts')
        .set({
          status: outcome.ok ? 'paid' : 'failed',
          provider_payout_id: outcome.ok ? outcome.providerId : null,
          failure: outcome.ok ? null : outcome.failure,
          updated_at: this.#clock.now(),
        })
        .where('id', '=', row.id)
        .where('status', '=', 'requested')
        .returningAll()
        .executeTakeFirst();
    });
    const final =
      updated ??
      (await this.#storage.run((db) =>
        db.selectFrom('payouts').selectAll().where('id', '=', row.id).executeTakeFirstOrThrow(),
      ));
    if (final.status === 'failed') {
      throw new MarketkitError('PAYMENT_DECLINED', {
        message: `Payout ${row.id} was declined: ${final.failure}`,
        details: { payoutId: row.id },
      });
    }
    return payoutFromRow(final);
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
