import { z } from 'zod';
import { hasErrorCode } from '../errors/marketkit-error.js';
import { defaultClassify, type RetryPolicy } from '../jobs/retry-policy.js';
import { classifyProviderError } from '../payments/provider-retry.js';
import { defineSaga, type SagaDefinition } from '../sagas/saga-definition.js';
import type { MarketkitTransaction } from '../storage/storage.js';

/** The name of the saga every checkout runs as. */
export const CHECKOUT_SAGA = 'marketkit.checkout';

/** The id of order `orderId`'s checkout saga: one per order, so a retried checkout finds it. */
export const checkoutSagaId = (orderId: string): string => `checkout:${orderId}`;

/** The saga's input: the checkout as the buyer asked for it. */
export const checkoutSagaInput = z.object({
  orderId: z.string(),
  buyerId: z.string(),
  listingId: z.string(),
  quantity: z.number().int().positive(),
  paymentMethod: z.string(),
});
/** A checkout the saga runs. */
export type CheckoutSagaInput = z.output<typeof checkoutSagaInput>;

/** What the authorize step records. */
export interface AuthorizeOutput {
  readonly authorizationId: string;
}
/** What the capture step records. */
export interface CaptureOutput {
  readonly captureId: string;
}

/**
 * How the checkout's provider steps retry: with capped backoff for about as long as a default reservation lasts
 * (≈ 15 minutes); the reservation timer cancels the order after that, and the saga then compensates.
 */
export const CHECKOUT_PROVIDER_RETRY: RetryPolicy = Object.freeze({
  attempts: 12,
  minTimeoutMs: 1000,
  maxTimeoutMs: 60_000,
  factor: 2,
});

const LOCAL_RETRY: RetryPolicy = Object.freeze({ attempts: 5, minTimeoutMs: 50, maxTimeoutMs: 5000 });

/** The work of each step, implemented by the orders engine. */
export interface CheckoutSagaSteps {
  /** Creates the order with its reservation, escrow accounts and order event 1 (the same order existing is fine). */
  create(trx: MarketkitTransaction, input: CheckoutSagaInput): Promise<void>;
  /**
   * Authorizes the payment (key `<order>:authorize`) and records the authorization on the order; the recorded one
   * when there is one. `INVALID_TRANSITION` when the order no longer awaits payment.
   */
  authorize(input: CheckoutSagaInput): Promise<AuthorizeOutput>;
  /** Captures the authorization (key `<order>:capture`), whatever the order's state: money safety first. */
  capture(input: CheckoutSagaInput, authorizationId: string): Promise<CaptureOutput>;
  /**
   * Moves the order to paid with the capture in escrow (and records the caller's idempotency key, if the checkout
   * was started in this process with one). Done already with this capture: nothing. `INVALID_TRANSITION` when the
   * order left checkout otherwise (the reservation expired meanwhile).
   */
  confirm(trx: MarketkitTransaction, input: CheckoutSagaInput, captureId: string, sagaId: string): Promise<void>;
  /**
   * The compensation: cancels the order if it still awaits payment (`cancelUnpaid`: its recorded authorization
   * voided, stock released); then, unless the order records a capture, reverses whatever the provider holds for
   * this checkout that the order does not account for (the authorization voided, or a capture that went through
   * refunded in full, keyed by the order), with an `order.paymentReversed` event. Returns what it did, for the log.
   */
  cancel(
    input: CheckoutSagaInput,
    sagaId: string,
    outputs: Readonly<Record<string, unknown>>,
  ): Promise<CheckoutCompensation>;
}

/** What the checkout saga's compensation did, as its step log records it. */
export interface CheckoutCompensation {
  /** Whether it cancelled the order (it was still awaiting payment). */
  readonly cancelled: boolean;
  /** What it reversed at the provider that the order does not record, or `null`. */
  readonly reversal: {
    readonly action: 'voided' | 'refunded';
    readonly authorizationId: string;
    readonly captureId?: string;
    readonly refundId?: string;
    readonly amountMinor: string;
  } | null;
}

/**
 * A checkout as a durable saga: `order` (reserve stock, create the order) → `authorize` → `capture` → `confirm`
 * (escrow, order event, outbox event, idempotency result in one commit). A decline, or a confirmation that cannot
 * commit (the order left checkout meanwhile), compensates: the order is cancelled if it still awaits payment, the
 * stock released, and nothing the order does not record stays at the provider: its authorization is voided, or a
 * capture that went through refunded (`order.paymentReversed`, and the step log, say which). Timeouts and crashes are retried by any worker with the same keys, so
 * nothing is charged twice. The hot path writes the same rows from its compiled statements (see `CheckoutFlow`).
 */
export function checkoutSaga(steps: CheckoutSagaSteps): SagaDefinition<typeof checkoutSagaInput> {
  return defineSaga(CHECKOUT_SAGA, {
    input: checkoutSagaInput,
    steps: [
      {
        name: 'order',
        kind: 'local',
        retry: LOCAL_RETRY,
        async run({ trx, input }) {
          await steps.create(trx, input);
          return null;
        },
      },
      {
        name: 'authorize',
        kind: 'external',
        retry: CHECKOUT_PROVIDER_RETRY,
        classify: classifyProviderError,
        run: ({ input }) => steps.authorize(input),
        compensate: ({ input, sagaId, outputs }) => steps.cancel(input, sagaId, outputs),
      },
      {
        name: 'capture',
        kind: 'external',
        retry: CHECKOUT_PROVIDER_RETRY,
        classify: classifyProviderError,
        run: ({ input, outputs }) => steps.capture(input, (outputs['authorize'] as AuthorizeOutput).authorizationId),
      },
      {
        name: 'confirm',
        kind: 'local',
        retry: LOCAL_RETRY,
        // The caller's idempotency key taken over (LEASE_LOST from its hook): retry, a worker confirms without it.
        classify: (error) => (hasErrorCode(error, 'LEASE_LOST') ? 'retryable' : defaultClassify(error)),
        async run({ trx, input, outputs, sagaId }) {
          await steps.confirm(trx, input, (outputs['capture'] as CaptureOutput).captureId, sagaId);
          return null;
        },
      },
    ],
  });
}
