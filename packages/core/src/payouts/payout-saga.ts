import { z } from 'zod';
import type { Clock } from '../clock/clock.js';
import { MarketkitError } from '../errors/marketkit-error.js';
import type { OutboxEventInput } from '../events/event-types.js';
import { decodeJson } from '../jobs/json-column.js';
import type { Ledger } from '../ledger/ledger.js';
import { amountNotRepresentable } from '../money/int64-amount.js';
import { ESCROW_CODES, escrowAccounts } from '../orders/escrow-accounts.js';
import type { PaymentProvider } from '../payments/payment-provider.js';
import { classifyProviderError, PROVIDER_CALL_RETRY } from '../payments/provider-retry.js';
import { defineSaga, type SagaDefinition } from '../sagas/saga-definition.js';
import type { MarketkitTransaction } from '../storage/storage.js';
import { storedPayoutDestination } from './payout-destinations.js';

/** The name of the payout saga in the marketplace's saga registry. */
export const PAYOUT_SAGA = 'marketkit.payout';

/** The saga id of payout `payoutId`: one saga per payout, so requesting it again never starts a second. */
export const payoutSagaId = (payoutId: string): string => `payout:${payoutId}`;

/** The payout saga's input (stored with it; bigints as strings). */
export const payoutSagaInput = z.object({
  payoutId: z.string(),
  sellerId: z.string(),
  currency: z.string(),
  amountMinor: z.coerce.bigint(),
  /** Absent: the seller's stored destination, read by the hold in the transaction that records the payout. */
  destination: z.string().optional(),
});
type PayoutSagaInput = z.output<typeof payoutSagaInput>;

/** What the payout saga needs. */
export interface PayoutSagaDeps {
  readonly ledger: Ledger;
  readonly clock: Clock;
  readonly payments: () => PaymentProvider;
  readonly emit: (trx: MarketkitTransaction, events: readonly OutboxEventInput[]) => Promise<void>;
}

const event = (type: string, p: PayoutSagaInput): OutboxEventInput => ({
  type: `payout.${type}`,
  aggregateType: 'payout',
  aggregateId: p.payoutId,
  payload: { payoutId: p.payoutId, sellerId: p.sellerId, currency: p.currency, amountMinor: p.amountMinor },
});

/**
 * A seller payout as a durable saga:
 * 1. `hold` (local): the destination (the input's, else the seller's stored one: `PAYOUT_DESTINATION_MISSING`
 *    without either), a pending ledger transfer from the seller's balance to clearing (refused with
 *    `INSUFFICIENT_FUNDS` beyond the available balance, so concurrent payouts can never overdraw it), the payout
 *    row and `payout.requested`, in one commit. Compensation: void the hold, mark the payout failed,
 *    `payout.failed`.
 * 2. `send` (external): the provider's payout with the payout id as idempotency key, so a re-run after a crash
 *    or a timeout never pays twice. A decline compensates step 1.
 * 3. `settle` (local): post the hold, mark the payout paid, `payout.paid`.
 */
export function payoutSaga(deps: PayoutSagaDeps): SagaDefinition<typeof payoutSagaInput> {
  return defineSaga(PAYOUT_SAGA, {
    input: payoutSagaInput,
    steps: [
      {
        name: 'hold',
        kind: 'local',
        retry: { attempts: 5, minTimeoutMs: 50, maxTimeoutMs: 5000 },
        async run({ trx, input }) {
          const destination = input.destination ?? (await storedPayoutDestination(trx, input.sellerId))?.destination;
          if (destination === undefined) {
            throw new MarketkitError('PAYOUT_DESTINATION_MISSING', {
              message: `Payout for ${input.sellerId}: no destination given and none stored for the seller.`,
              details: { sellerId: input.sellerId },
            });
          }
          const [hold] = await deps.ledger.createTransfersIn(trx, [
            {
              id: `${input.payoutId}:hold`,
              debitAccountId: escrowAccounts.seller(input.sellerId, input.currency),
              creditAccountId: escrowAccounts.clearing(input.currency),
              amount: input.amountMinor,
              currency: input.currency,
              code: ESCROW_CODES.payout,
              reference: input.payoutId,
              flags: { pending: true },
            },
          ]);
          if (hold?.result !== 'ok') {
            const short = hold?.result === 'exceedsCredits' || hold?.result === 'debitAccountNotFound';
            const message = `Payout of ${input.amountMinor} for ${input.sellerId} refused: ${hold?.result}`;
            if (hold?.result === 'overflowsCredits' || hold?.result === 'overflowsDebits') {
              throw amountNotRepresentable(input.amountMinor, input.currency, `${message} (a total past 2^63 - 1)`);
            }
            if (!short) throw new MarketkitError('INTERNAL', { message });
            throw new MarketkitError('INSUFFICIENT_FUNDS', {
              message,
              details: {
                accountId: escrowAccounts.seller(input.sellerId, input.currency),
                amountMinor: String(input.amountMinor),
              },
            });
          }
          const now = deps.clock.now();
          await deps.emit(trx, [event('requested', input)]);
          await trx
            .insertInto('payouts')
            .values({
              id: input.payoutId,
              seller_id: input.sellerId,
              currency: input.currency,
              amount_minor: input.amountMinor,
              destination,
              status: 'requested',
              provider_payout_id: null,
              failure: null,
              created_at: now,
              updated_at: now,
            })
            .execute();
          return { destination };
        },
        async compensate({ trx, input, sagaId }) {
          const [voided] = await deps.ledger.createTransfersIn(trx, [
            { id: `${input.payoutId}:void`, pendingId: `${input.payoutId}:hold`, flags: { voidPending: true } },
          ]);
          if (voided?.result !== 'ok' && voided?.result !== 'exists') {
            throw new MarketkitError('INTERNAL', {
              message: `Payout ${input.payoutId}: voiding the hold failed: ${voided?.result}`,
            });
          }
          const saga = await trx
            .selectFrom('saga_instances')
            .select('last_error')
            .where('id', '=', sagaId)
            .executeTakeFirst();
          const reason = saga?.last_error == null ? null : (decodeJson(saga.last_error) as { message?: string });
          await deps.emit(trx, [event('failed', input)]);
          await trx
            .updateTable('payouts')
            .set({ status: 'failed', failure: reason?.message ?? 'failed', updated_at: deps.clock.now() })
            .where('id', '=', input.payoutId)
            .where('status', '=', 'requested')
            .execute();
        },
      },
      {
        name: 'send',
        kind: 'external',
        retry: PROVIDER_CALL_RETRY,
        classify: classifyProviderError,
        async run({ input, outputs }) {
          // The destination the hold recorded on the payout row (sagas of earlier releases stored none: theirs is in
          // the input).
          const held = outputs['hold'] as { destination?: string } | null;
          const destination = held?.destination ?? input.destination;
          if (destination === undefined) {
            throw new MarketkitError('INTERNAL', {
              message: `Payout ${input.payoutId}: the hold recorded no destination.`,
            });
          }
          const sent = await deps.payments().payout({
            idempotencyKey: input.payoutId,
            destination,
            amountMinor: input.amountMinor,
            currency: input.currency,
          });
          return { providerPayoutId: sent.payoutId };
        },
      },
      {
        name: 'settle',
        kind: 'local',
        retry: { attempts: 5, minTimeoutMs: 50, maxTimeoutMs: 5000 },
        async run({ trx, input, outputs }) {
          const sent = outputs['send'] as { providerPayoutId: string };
          const [posted] = await deps.ledger.createTransfersIn(trx, [
            { id: `${input.payoutId}:post`, pendingId: `${input.payoutId}:hold`, flags: { postPending: true } },
          ]);
          if (posted?.result !== 'ok' && posted?.result !== 'exists') {
            throw new MarketkitError('INTERNAL', {
              message: `Payout ${input.payoutId}: posting the hold failed: ${posted?.result}`,
            });
          }
          await deps.emit(trx, [event('paid', input)]);
          await trx
            .updateTable('payouts')
            .set({ status: 'paid', provider_payout_id: sent.providerPayoutId, updated_at: deps.clock.now() })
            .where('id', '=', input.payoutId)
            .where('status', '=', 'requested')
            .execute();
          return null;
        },
      },
    ],
  });
}
