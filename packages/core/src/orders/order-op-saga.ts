import { z } from 'zod';
import { MarketkitError } from '../errors/marketkit-error.js';
import { classifyProviderError, PROVIDER_CALL_RETRY } from '../payments/provider-retry.js';
import { defineSaga, type SagaDefinition } from '../sagas/saga-definition.js';
import type { MarketkitTransaction } from '../storage/storage.js';
import type { Order } from './order-types.js';

/** The name of the saga that runs an order transition calling the payment provider (refunds, voids, splits). */
export const ORDER_OP_SAGA = 'marketkit.order-transition';

const actorSchema = z.object({ role: z.enum(['buyer', 'seller', 'operator', 'system']), id: z.string() });

/** The saga's input: the transition as the caller fired it. */
export const orderOpInput = z.object({
  orderId: z.string(),
  transition: z.string(),
  actor: actorSchema,
  reason: z.string().nullable(),
  amountMinor: z.coerce.bigint().optional(),
  buyerPercent: z.number().optional(),
});
/** A transition the saga runs. */
export type OrderOp = z.output<typeof orderOpInput>;

/** What the `hold` step recorded: the order event's sequence number and the escrow balance it saw. */
export interface OrderOpHold {
  readonly seq: number;
  readonly escrowMinor: string;
}

/** The work of each step, implemented by the orders engine. */
export interface OrderOpSteps {
  /**
   * Locks the order, checks the actor, the state and the guards, and marks the order busy with this saga's
   * transition (`CONCURRENCY_CONFLICT` if it is busy with another).
   */
  hold(trx: MarketkitTransaction, op: OrderOp, sagaId: string): Promise<OrderOpHold>;
  /** Clears the busy mark `hold` set, if it is still there: the transition did not happen. */
  release(trx: MarketkitTransaction, op: OrderOp, hold: OrderOpHold): Promise<void>;
  /** The transition's provider calls, with keys derived from the order and `hold.seq`. */
  callProvider(op: OrderOp, hold: OrderOpHold): Promise<{ refundedMinor: bigint }>;
  /** Commits the transition's effects, new state and order event, if the order is still busy with `hold.seq`. */
  commit(
    trx: MarketkitTransaction,
    op: OrderOp,
    hold: OrderOpHold,
    refundedMinor: bigint,
    sagaId: string,
  ): Promise<Order | undefined>;
}

/**
 * An order transition that calls the payment provider, as a durable saga: `hold` (busy mark, in one commit with
 * the saga's start) → `provider` (refund / void, keyed by order and event sequence) → `commit` (effects, state,
 * order event and outbox event in one commit). A decline compensates `hold` (the busy mark is cleared; the order
 * stays where it was); a crash or a timeout is retried by any worker, without refunding twice.
 */
export function orderOpSaga(steps: OrderOpSteps): SagaDefinition<typeof orderOpInput> {
  return defineSaga(ORDER_OP_SAGA, {
    input: orderOpInput,
    steps: [
      {
        name: 'hold',
        kind: 'local',
        retry: { attempts: 5, minTimeoutMs: 50, maxTimeoutMs: 5000 },
        run: ({ trx, input, sagaId }) => steps.hold(trx, input, sagaId),
        compensate: ({ trx, input, outputs }) => steps.release(trx, input, outputs['hold'] as OrderOpHold),
      },
      {
        name: 'provider',
        kind: 'external',
        retry: PROVIDER_CALL_RETRY,
        classify: classifyProviderError,
        async run({ input, outputs }) {
          const out = await steps.callProvider(input, outputs['hold'] as OrderOpHold);
          return { refundedMinor: out.refundedMinor.toString() };
        },
        // Compensating a provider call that went through (its commit failed for good) would mean un-refunding:
        // park the saga for an operator instead. A declined or failed call moved nothing.
        async compensate({ outputs, input }) {
          if (outputs['provider'] === undefined) return;
          throw new MarketkitError('INTERNAL', {
            message: `Order ${input.orderId}: ${input.transition} went through at the provider but its effects could not be committed; resolve it by hand.`,
          });
        },
      },
      {
        name: 'commit',
        kind: 'local',
        retry: { attempts: 5, minTimeoutMs: 50, maxTimeoutMs: 5000 },
        async run({ trx, input, outputs, sagaId }) {
          const provider = outputs['provider'] as { refundedMinor: string };
          await steps.commit(trx, input, outputs['hold'] as OrderOpHold, BigInt(provider.refundedMinor), sagaId);
          return null;
        },
      },
    ],
  });
}
