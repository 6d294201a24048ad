import {
  type Authorization,
  type AuthorizeRequest,
  type Capture,
  type CaptureRequest,
  MarketkitError,
  type PaymentOperation,
  type PaymentProvider,
  type PayoutRequest,
  type ProviderPayout,
  type Refund,
  type RefundRequest,
  type VoidRequest,
} from '@marketkit/core';
import type { SandboxCallback, SandboxEffects, SandboxFault } from './sandbox-faults.js';

interface Auth {
  amount: bigint;
  status: 'authorized' | 'captured' | 'voided';
}
interface Cap {
  amount: bigint;
  refunded: bigint;
}
type Outcome =
  | { ok: true; value: unknown; fingerprint: string }
  | { ok: false; error: MarketkitError; fingerprint: string };

const OPS: readonly PaymentOperation[] = ['authorize', 'capture', 'void', 'refund', 'payout'];

/** Options of {@link SandboxPaymentProvider}. */
export interface SandboxOptions {
  /** Delay before every call answers, in ms. */
  readonly latencyMs?: number;
}

/**
 * An in-memory payment provider for tests and demos, with the semantics of a real one — idempotency keys,
 * authorizations, partial captures and refunds, payouts — and fault injection. Payment methods `tok_decline`
 * are always declined. Share one instance across processes with `serveSandbox` + `httpPaymentProvider`.
 *
 * @example
 * ```ts
 * const psp = new SandboxPaymentProvider();
 * psp.injectFault('capture', 'errorAfterApply'); // the next capture moves money but reports a timeout
 * const market = createMarketplace({ adapter, payments: psp });
 * expect(psp.effects().counts.capture).toBe(1);   // after retries: captured exactly once
 * ```
 */
export class SandboxPaymentProvider implements PaymentProvider {
  readonly name = 'sandbox';
  readonly #auths = new Map<string, Auth>();
  readonly #caps = new Map<string, Cap>();
  readonly #outcomes = new Map<string, Outcome>();
  readonly #faults = new Map<PaymentOperation, SandboxFault[]>();
  readonly #callbacks: ((c: SandboxCallback) => void)[] = [];
  readonly #counts = Object.fromEntries(OPS.map((o) => [o, 0])) as Record<PaymentOperation, number>;
  readonly #calls = Object.fromEntries(OPS.map((o) => [o, 0])) as Record<PaymentOperation, number>;
  #paidOut = 0n;
  #seq = 0;
  readonly #latencyMs: number;

  constructor(options: SandboxOptions = {}) {
    this.#latencyMs = options.latencyMs ?? 0;
  }

  /** Makes the next `times` calls of `op` fail with `fault` (queued after faults already injected). */
  injectFault(op: PaymentOperation, fault: SandboxFault, times = 1): void {
    const queue = this.#faults.get(op) ?? [];
    for (let i = 0; i < times; i++) queue.push(fault);
    this.#faults.set(op, queue);
  }

  /** Drops injected faults not yet used (of `op`, or of every operation). */
  clearFaults(op?: PaymentOperation): void {
    if (op === undefined) this.#faults.clear();
    else this.#faults.delete(op);
  }

  /** Registers a callback (webhook) receiver. */
  onCallback(handler: (callback: SandboxCallback) => void): void {
    this.#callbacks.push(handler);
  }

  /** What has happened so far. */
  effects(): SandboxEffects {
    let captured = 0n;
    let refunded = 0n;
    for (const c of this.#caps.values()) {
      captured += c.amount;
      refunded += c.refunded;
    }
    let open = 0n;
    for (const a of this.#auths.values()) if (a.status === 'authorized') open += a.amount;
    return {
      counts: { ...this.#counts },
      calls: { ...this.#calls },
      capturedMinor: captured,
      refundedMinor: refunded,
      paidOutMinor: this.#paidOut,
      openAuthorizedMinor: open,
    };
  }

  authorize(r: AuthorizeRequest): Promise<Authorization> {
    return this.#call('authorize', r, () => {
      if (r.paymentMethod === 'tok_decline') throw declined('authorize', 'The card was declined.');
      const authorizationId = this.#id('auth');
      this.#auths.set(authorizationId, { amount: r.amountMinor, status: 'authorized' });
      return { value: { authorizationId }, objectId: authorizationId, amount: r.amountMinor };
    });
  }

  capture(r: CaptureRequest): Promise<Capture> {
    return this.#call('capture', r, () => {
      const auth = this.#auths.get(r.authorizationId);
      if (auth === undefined || auth.status !== 'authorized')
        throw declined('capture', `Authorization ${r.authorizationId} cannot be captured.`);
      if (r.amountMinor > auth.amount) throw declined('capture', 'Capture exceeds the authorization.');
      auth.status = 'captured';
      const captureId = this.#id('cap');
      this.#caps.set(captureId, { amount: r.amountMinor, refunded: 0n });
      return { value: { captureId }, objectId: captureId, amount: r.amountMinor };
    });
  }

  void(r: VoidRequest): Promise<void> {
    return this.#call('void', r, () => {
      const auth = this.#auths.get(r.authorizationId);
      if (auth === undefined || auth.status === 'captured')
        throw declined('void', `Authorization ${r.authorizationId} cannot be voided.`);
      auth.status = 'voided';
      return { value: undefined, objectId: r.authorizationId, amount: auth.amount };
    });
  }

  refund(r: RefundRequest): Promise<Refund> {
    return this.#call('refund', r, () => {
      const cap = this.#caps.get(r.captureId);
      if (cap === undefined || cap.refunded + r.amountMinor > cap.amount)
        throw declined('refund', 'Refund exceeds the capture.');
      cap.refunded += r.amountMinor;
      const refundId = this.#id('ref');
      return { value: { refundId }, objectId: refundId, amount: r.amountMinor };
    });
  }

  payout(r: PayoutRequest): Promise<ProviderPayout> {
    return this.#call('payout', r, () => {
      this.#paidOut += r.amountMinor;
      const payoutId = this.#id('po');
      return { value: { payoutId }, objectId: payoutId, amount: r.amountMinor };
    });
  }

  async #call<T>(
    op: PaymentOperation,
    request: { readonly idempotencyKey: string },
    apply: () => { value: unknown; objectId: string; amount: bigint },
  ): Promise<T> {
    if (this.#latencyMs > 0) await new Promise((r) => setTimeout(r, this.#latencyMs));
    this.#calls[op]++;
    const key = `${op}:${request.idempotencyKey}`;
    const fingerprint = JSON.stringify(request, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v));
    const prior = this.#outcomes.get(key);
    if (prior !== undefined) return replay<T>(prior, fingerprint, op, request.idempotencyKey);
    const fault = this.#faults.get(op)?.shift();
    if (fault === 'decline') throw declined(op, 'Declined by an injected fault.');
    if (fault === 'error')
      throw new MarketkitError('PROVIDER_ERROR', {
        message: `Sandbox ${op} failed (injected).`,
        details: { operation: op },
      });
    if (fault === 'timeout')
      throw new MarketkitError('PROVIDER_TIMEOUT', {
        message: `Sandbox ${op} timed out (injected).`,
        details: { operation: op },
      });
    let done: { value: unknown; objectId: string; amount: bigint };
    try {
      done = apply();
    } catch (error) {
      if (error instanceof MarketkitError && error.code === 'PAYMENT_DECLINED')
        this.#outcomes.set(key, { ok: false, error, fingerprint });
      throw error;
    }
    this.#counts[op]++;
    this.#outcomes.set(key, { ok: true, value: done.value, fingerprint });
    const callback: SandboxCallback = {
      id: this.#id('evt'),
      type: `payment.${op}`,
      idempotencyKey: request.idempotencyKey,
      objectId: done.objectId,
      amountMinor: done.amount.toString(),
    };
    for (const h of this.#callbacks) {
      h(callback);
      if (fault === 'duplicateCallback') h(callback);
    }
    if (fault === 'errorAfterApply') {
      throw new MarketkitError('PROVIDER_TIMEOUT', {
        message: `Sandbox ${op} applied, then timed out (injected).`,
        details: { operation: op },
      });
    }
    return done.value as T;
  }

  #id(prefix: string): string {
    this.#seq++;
    return `${prefix}_${this.#seq.toString().padStart(8, '0')}`;
  }
}

function declined(operation: PaymentOperation, message: string): MarketkitError<'PAYMENT_DECLINED'> {
  return new MarketkitError('PAYMENT_DECLINED', { message, details: { operation } });
}

function replay<T>(prior: Outcome, fingerprint: string, op: PaymentOperation, key: string): T {
  if (prior.fingerprint !== fingerprint) {
    throw new MarketkitError('IDEMPOTENCY_KEY_REUSED', {
      message: 'Sandbox: idempotency key reused with another request.',
      details: { key, operation: op },
    });
  }
  if (!prior.ok) throw prior.error;
  return prior.value as T;
}
