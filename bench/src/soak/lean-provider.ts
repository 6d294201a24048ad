/**
 * The soak's payment provider: in-memory like the sandbox, but it keeps nothing per call. Ids are derived from the
 * idempotency key (so a replayed key gets the same id without a stored outcome), and only running totals are kept.
 * The sandbox records every effect for reconciliation, as a real provider's database does, so over a long run it
 * grows by design; a memory soak of Marketkit must not count that growth as Marketkit's.
 */
import {
  type Authorization,
  type AuthorizeRequest,
  type Capture,
  type CaptureRequest,
  MarketkitError,
  type PaymentProvider,
  type PayoutRequest,
  type ProviderPayout,
  type Refund,
  type RefundRequest,
  type VoidRequest,
} from '@marketkit/core';

/** Running totals of what the provider did (replays of a key counted again: keys are not remembered). */
export interface LeanTotals {
  capturedMinor: bigint;
  refundedMinor: bigint;
  paidOutMinor: bigint;
  calls: number;
  declines: number;
  timeouts: number;
}

/**
 * Declines `tok_decline` authorizations; fails the first attempt of one payout in `payoutTimeoutEvery` (by a
 * counter) with `PROVIDER_TIMEOUT`, before applying it, so a worker retries it later with the same key. The keys
 * that failed once are held until their retry (bounded by the payouts waiting for one).
 */
export class LeanPaymentProvider implements PaymentProvider {
  readonly name = 'lean';
  readonly totals: LeanTotals = {
    capturedMinor: 0n,
    refundedMinor: 0n,
    paidOutMinor: 0n,
    calls: 0,
    declines: 0,
    timeouts: 0,
  };
  readonly #failedOnce = new Set<string>();
  #payouts = 0;

  constructor(private readonly payoutTimeoutEvery = 0) {}

  /** Payout keys that failed once and have not been retried yet. */
  get awaitingRetry(): number {
    return this.#failedOnce.size;
  }

  async authorize(r: AuthorizeRequest): Promise<Authorization> {
    this.totals.calls++;
    if (r.paymentMethod === 'tok_decline') {
      this.totals.declines++;
      throw new MarketkitError('PAYMENT_DECLINED', {
        message: 'The card was declined.',
        details: { operation: 'authorize' },
      });
    }
    return { authorizationId: `auth_${r.idempotencyKey}` };
  }

  async capture(r: CaptureRequest): Promise<Capture> {
    this.totals.calls++;
    this.totals.capturedMinor += r.amountMinor;
    return { captureId: `cap_${r.idempotencyKey}` };
  }

  async void(_r: VoidRequest): Promise<void> {
    this.totals.calls++;
  }

  async refund(r: RefundRequest): Promise<Refund> {
    this.totals.calls++;
    this.totals.refundedMinor += r.amountMinor;
    return { refundId: `ref_${r.idempotencyKey}` };
  }

  async payout(r: PayoutRequest): Promise<ProviderPayout> {
    this.totals.calls++;
    if (this.#failedOnce.delete(r.idempotencyKey)) {
      // the retry of a payout that timed out: applied now
    } else if (this.payoutTimeoutEvery > 0 && ++this.#payouts % this.payoutTimeoutEvery === 0) {
      this.#failedOnce.add(r.idempotencyKey);
      this.totals.timeouts++;
      throw new MarketkitError('PROVIDER_TIMEOUT', {
        message: 'Lean provider: injected payout timeout.',
        details: { operation: 'payout' },
      });
    }
    this.totals.paidOutMinor += r.amountMinor;
    return { payoutId: `po_${r.idempotencyKey}` };
  }
}
