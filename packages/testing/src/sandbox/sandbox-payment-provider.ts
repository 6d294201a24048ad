import {
  type Authorization,
  type AuthorizationState,
  type AuthorizeRequest,
  type Capture,
  type CaptureRequest,
  type Clock,
  MarketkitError,
  type PaymentEffect,
  type PaymentEffectsPage,
  type PaymentEffectsQuery,
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
  currency: string;
  status: 'requires_action' | 'authorized' | 'captured' | 'voided' | 'failed';
}

/** The payment method whose authorizations need the customer's action (3-D Secure) before they can be captured. */
export const SANDBOX_3DS_PAYMENT_METHOD = 'pm_sandbox_3ds';
interface Cap {
  amount: bigint;
  currency: string;
  refunded: bigint;
}
/** An effect as the sandbox logs it; an authorization's status is read from `#auths` when listed. */
type Logged = PaymentEffect;
type Outcome =
  | { ok: true; value: unknown; fingerprint: string }
  | { ok: false; error: MarketkitError; fingerprint: string };

const OPS: readonly PaymentOperation[] = ['authorize', 'capture', 'void', 'refund', 'payout'];

/** Options of {@link SandboxPaymentProvider}. */
export interface SandboxOptions {
  /** Delay before every call answers, in ms. */
  readonly latencyMs?: number;
  /** Where the times of listed effects come from (e.g. the marketplace's `ManualClock`). Default: `Date.now`. */
  readonly clock?: Clock;
}

/**
 * An in-memory payment provider for tests and demos, with the semantics of a real one — idempotency keys,
 * authorizations, partial captures and refunds, payouts — and fault injection. Payment methods `tok_decline`
 * are always declined. Payment method `pm_sandbox_3ds` needs the customer's action (3-D Secure): its authorization
 * answers with a `customerAction` and stays `requires_action` (not capturable) until the test calls
 * {@link SandboxPaymentProvider.completeCustomerAction}. Share one instance across processes with `serveSandbox` + `httpPaymentProvider`.
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
  readonly #log: Logged[] = [];
  #paidOut = 0n;
  #seq = 0;
  readonly #latencyMs: number;
  readonly #clock: Clock;

  constructor(options: SandboxOptions = {}) {
    this.#latencyMs = options.latencyMs ?? 0;
    this.#clock = options.clock ?? { now: () => Date.now() };
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
    for (const a of this.#auths.values())
      if (a.status === 'authorized' || a.status === 'requires_action') open += a.amount;
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
      checkAmount('authorize', r.amountMinor, 0n);
      if (r.paymentMethod === 'tok_decline') throw declined('authorize', 'The card was declined.');
      const authorizationId = this.#id('auth');
      const needsAction = r.paymentMethod === SANDBOX_3DS_PAYMENT_METHOD;
      this.#auths.set(authorizationId, {
        amount: r.amountMinor,
        currency: r.currency,
        status: needsAction ? 'requires_action' : 'authorized',
      });
      this.#logEffect({ type: 'authorization', id: authorizationId, status: 'open', reference: r.reference }, r);
      const value: Authorization = needsAction
        ? { authorizationId, customerAction: { clientSecret: `${authorizationId}_secret_sandbox` } }
        : { authorizationId };
      return { value, objectId: authorizationId, amount: r.amountMinor };
    });
  }

  capture(r: CaptureRequest): Promise<Capture> {
    return this.#call('capture', r, () => {
      checkAmount('capture', r.amountMinor, 0n);
      const auth = this.#auths.get(r.authorizationId);
      if (auth === undefined || auth.status !== 'authorized')
        throw declined('capture', `Authorization ${r.authorizationId} cannot be captured.`);
      checkCurrency('capture', r.currency, auth.currency);
      if (r.amountMinor > auth.amount) throw declined('capture', 'Capture exceeds the authorization.');
      auth.status = 'captured';
      const captureId = this.#id('cap');
      this.#caps.set(captureId, { amount: r.amountMinor, currency: r.currency, refunded: 0n });
      this.#logEffect({ type: 'capture', id: captureId, authorizationId: r.authorizationId }, r);
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

  /**
   * The authorization's status: `requires_action` until the customer acts, `authorized` once capturable (and after
   * its capture), `failed` when the action failed, `canceled` once voided. `PROVIDER_ERROR` for an unknown id.
   */
  async authorizationStatus(authorizationId: string): Promise<AuthorizationState> {
    if (this.#latencyMs > 0) await new Promise((r) => setTimeout(r, this.#latencyMs));
    const auth = this.#auths.get(authorizationId);
    if (auth === undefined)
      throw new MarketkitError('PROVIDER_ERROR', {
        message: `Sandbox: no authorization ${authorizationId}.`,
        details: { operation: 'authorizationStatus' },
      });
    if (auth.status === 'captured') return 'authorized';
    return auth.status === 'voided' ? 'canceled' : auth.status;
  }

  /**
   * The test's hook for the customer's side of 3-D Secure: the customer completes (`succeeded`: the authorization
   * becomes capturable) or fails (`failed`) the action of a `requires_action` authorization, and the sandbox delivers
   * a `payment.customerAction` callback (the provider's webhook). An authorization no longer awaiting the action
   * (voided meanwhile, say) keeps its status, and no callback is delivered. Returns the status after.
   */
  completeCustomerAction(authorizationId: string, outcome: 'succeeded' | 'failed'): AuthorizationState {
    const auth = this.#auths.get(authorizationId);
    if (auth === undefined) throw new Error(`Sandbox: no authorization ${authorizationId}.`);
    if (auth.status === 'requires_action') {
      auth.status = outcome === 'succeeded' ? 'authorized' : 'failed';
      const callback: SandboxCallback = {
        id: this.#id('evt'),
        type: 'payment.customerAction',
        idempotencyKey: '',
        objectId: authorizationId,
        amountMinor: auth.amount.toString(),
      };
      for (const h of this.#callbacks) h(callback);
    }
    if (auth.status === 'captured') return 'authorized';
    return auth.status === 'voided' ? 'canceled' : auth.status;
  }

  refund(r: RefundRequest): Promise<Refund> {
    return this.#call('refund', r, () => {
      checkAmount('refund', r.amountMinor, 1n);
      const cap = this.#caps.get(r.captureId);
      if (cap === undefined || cap.refunded + r.amountMinor > cap.amount)
        throw declined('refund', 'Refund exceeds the capture.');
      checkCurrency('refund', r.currency, cap.currency);
      cap.refunded += r.amountMinor;
      const refundId = this.#id('ref');
      this.#logEffect({ type: 'refund', id: refundId, captureId: r.captureId }, r);
      return { value: { refundId }, objectId: refundId, amount: r.amountMinor };
    });
  }

  payout(r: PayoutRequest): Promise<ProviderPayout> {
    return this.#call('payout', r, () => {
      checkAmount('payout', r.amountMinor, 1n);
      this.#paidOut += r.amountMinor;
      const payoutId = this.#id('po');
      this.#logEffect({ type: 'payout', id: payoutId, destination: r.destination }, r);
      return { value: { payoutId }, objectId: payoutId, amount: r.amountMinor };
    });
  }

  /**
   * Lists the effects made (authorizations with their current status, captures, refunds, payouts), oldest first:
   * those made in `[from, to)` by the sandbox's clock and/or with one of `keys`, `limit` per page.
   */
  async listEffects(query: PaymentEffectsQuery): Promise<PaymentEffectsPage> {
    const start = query.cursor === undefined ? 0 : Number(query.cursor);
    if (!Number.isInteger(start) || start < 0 || !(query.limit >= 1)) {
      throw new MarketkitError('VALIDATION_FAILED', {
        message: 'Sandbox: bad cursor or limit.',
        details: {
          issues: [{ path: ['cursor'], message: 'a cursor this sandbox gave out, and a limit of 1 or more' }],
        },
      });
    }
    const keys = query.keys === undefined ? undefined : new Set(query.keys);
    const matches = (e: Logged) =>
      (query.from === undefined || e.createdAt >= query.from) &&
      (query.to === undefined || e.createdAt < query.to) &&
      (keys === undefined || keys.has(e.idempotencyKey));
    const effects: PaymentEffect[] = [];
    for (let i = start; i < this.#log.length; i++) {
      const e = this.#log[i] as Logged;
      if (!matches(e)) continue;
      if (effects.length === query.limit) return { effects, nextCursor: String(i) };
      effects.push(e.type === 'authorization' ? { ...e, status: this.#authStatus(e.id) } : { ...e });
    }
    return { effects, nextCursor: null };
  }

  #authStatus(id: string): 'open' | 'captured' | 'voided' {
    const status = this.#auths.get(id)?.status;
    if (status === 'failed') return 'voided'; // nothing held
    return status === 'authorized' || status === 'requires_action' || status === undefined ? 'open' : status;
  }

  #logEffect(
    effect:
      | Pick<Extract<PaymentEffect, { type: 'authorization' }>, 'type' | 'id' | 'status' | 'reference'>
      | Pick<Extract<PaymentEffect, { type: 'capture' }>, 'type' | 'id' | 'authorizationId'>
      | Pick<Extract<PaymentEffect, { type: 'refund' }>, 'type' | 'id' | 'captureId'>
      | Pick<Extract<PaymentEffect, { type: 'payout' }>, 'type' | 'id' | 'destination'>,
    r: { readonly idempotencyKey: string; readonly amountMinor: bigint; readonly currency: string },
  ): void {
    this.#log.push({
      ...effect,
      idempotencyKey: r.idempotencyKey,
      amountMinor: r.amountMinor,
      currency: r.currency,
      createdAt: this.#clock.now(),
    } as Logged);
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

/** A request whose amount is below `min` (negative; or zero for a refund or payout) is invalid, applied never. */
function checkAmount(operation: PaymentOperation, amountMinor: bigint, min: bigint): void {
  if (typeof amountMinor === 'bigint' && amountMinor >= min) return;
  throw new MarketkitError('VALIDATION_FAILED', {
    message: `Sandbox ${operation}: the amount must be at least ${min} minor units.`,
    details: { issues: [{ path: ['amountMinor'], message: `at least ${min}` }] },
  });
}

/** A capture or refund in another currency than what it takes from is invalid. */
function checkCurrency(operation: PaymentOperation, currency: string, expected: string): void {
  if (currency === expected) return;
  throw new MarketkitError('VALIDATION_FAILED', {
    message: `Sandbox ${operation}: currency ${currency} is not ${expected}, the currency of what it takes from.`,
    details: { issues: [{ path: ['currency'], message: `must be ${expected}` }] },
  });
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
