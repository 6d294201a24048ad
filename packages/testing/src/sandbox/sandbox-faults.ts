import type { PaymentOperation } from '@marketkit/core';

/**
 * A fault the sandbox injects into the next call(s) of an operation:
 * - `decline`: refused (`PAYMENT_DECLINED`), nothing happens;
 * - `error`: fails (`PROVIDER_ERROR`), nothing happens;
 * - `timeout`: fails (`PROVIDER_TIMEOUT`), nothing happens;
 * - `errorAfterApply`: the effect is applied and recorded under the key, but the caller sees `PROVIDER_TIMEOUT`
 *   (the money moved; a retry with the same key must find it);
 * - `duplicateCallback`: succeeds and delivers its callback twice.
 */
export type SandboxFault = 'decline' | 'error' | 'timeout' | 'errorAfterApply' | 'duplicateCallback';

/** A callback (webhook) the sandbox delivers after an effect, as a provider would. */
export interface SandboxCallback {
  readonly id: string;
  /** `payment.customerAction` when the customer completed or failed a 3-D Secure action (`objectId`: the authorization). */
  readonly type: `payment.${PaymentOperation}` | 'payment.customerAction';
  readonly idempotencyKey: string;
  readonly objectId: string;
  readonly amountMinor: string;
}

/** What the sandbox has done, for exactly-once assertions. */
export interface SandboxEffects {
  /** Applied effects per operation (a replayed key is not counted again). */
  readonly counts: Readonly<Record<PaymentOperation, number>>;
  /** Calls per operation, replays and failures included. */
  readonly calls: Readonly<Record<PaymentOperation, number>>;
  readonly capturedMinor: bigint;
  readonly refundedMinor: bigint;
  readonly paidOutMinor: bigint;
  /** Held (authorized, or awaiting the customer's action) and not yet captured, voided or failed. */
  readonly openAuthorizedMinor: bigint;
}
