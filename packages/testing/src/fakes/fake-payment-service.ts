import { MarketkitError } from '@marketkit/core';

/**
 * A fault the fake injects into the next call(s) of an operation:
 * - `fail`: `PROVIDER_ERROR` (retryable), nothing happens;
 * - `decline`: `PAYMENT_DECLINED` (permanent), nothing happens, and the key keeps answering so;
 * - `timeout`: answers after `hangMs` with `PROVIDER_TIMEOUT`, nothing happens;
 * - `failAfterApply`: the effect is applied and recorded under the key, but the caller sees `PROVIDER_TIMEOUT`.
 */
export type FakeFault = 'fail' | 'decline' | 'timeout' | 'failAfterApply';

/** The operations of the fake. */
export type FakeOperation = 'charge' | 'refund';

/** Charges `amountMinor` to `account`, at most once per idempotency key. */
export interface FakeChargeRequest {
  readonly idempotencyKey: string;
  readonly account: string;
  readonly amountMinor: bigint;
}

/** Refunds the charge made under `chargeKey`, at most once per idempotency key; nothing to refund is not an error. */
export interface FakeRefundRequest {
  readonly idempotencyKey: string;
  readonly chargeKey: string;
}

/** A charge the fake made (or replayed for its key). */
export interface FakeCharge {
  readonly chargeId: string;
  readonly amountMinor: bigint;
}

/** A refund the fake made (or replayed for its key). */
export interface FakeRefund {
  /** `null` when there was nothing to refund (the charge never happened, or was refunded under another key). */
  readonly refundId: string | null;
  readonly amountMinor: bigint;
}

/** What every client of the fake offers: the service calls and the named fault points. */
export interface PaymentServiceClient {
  /** Charges once per idempotency key; a replayed key returns the first outcome. */
  charge(request: FakeChargeRequest): Promise<FakeCharge>;
  /** Refunds once per idempotency key; a replayed key returns the first outcome. */
  refund(request: FakeRefundRequest): Promise<FakeRefund>;
  /**
   * A named fault point (DBOS's `debugpoint`): returns at once unless the test armed a gate of that name, in
   * which case it blocks until the test releases it. `info` reaches the test (e.g. the caller's pid).
   */
  checkpoint(name: string, info?: Readonly<Record<string, string>>): Promise<void>;
}

/** An armed fault point: `reached` resolves with the caller's info when a caller blocks on it. */
export interface Gate {
  readonly reached: Promise<Readonly<Record<string, string>>>;
  /** Lets the blocked caller (and any later one) go on. */
  release(): void;
}

/** What the fake has done, for exactly-once assertions. */
export interface FakeEffects {
  /** Charges applied (a replayed key is not counted again). */
  readonly charges: number;
  /** Refunds that gave money back. */
  readonly refunds: number;
  readonly chargedMinor: bigint;
  readonly refundedMinor: bigint;
  /** Calls per operation, replays and failures included. */
  readonly calls: Readonly<Record<FakeOperation, number>>;
}

type Outcome =
  | { readonly ok: true; readonly value: FakeCharge | FakeRefund }
  | { readonly ok: false; readonly error: MarketkitError };

/** Options of {@link FakePaymentService}. */
export interface FakePaymentServiceOptions {
  /** How long a `timeout` fault hangs before answering. Default 20 ms. */
  readonly hangMs?: number;
  /** Delay of every call. Default 0. */
  readonly latencyMs?: number;
}

/**
 * An in-memory external payment service for saga tests: it honours idempotency keys (a key applies its effect at
 * most once and replays its first answer), and fails on demand: before the effect, after it, by timing out, or by
 * declining. Named gates let a test stop a caller at an exact point (to kill its process there). Share one
 * instance with worker processes through {@link serveFakePaymentService}.
 *
 * @example
 * ```ts
 * const psp = new FakePaymentService();
 * psp.injectFault('charge', 'failAfterApply'); // charged, but the caller sees a timeout
 * await expect(psp.charge({ idempotencyKey: 'k', account: 'a', amountMinor: 5n })).rejects.toThrow();
 * await psp.charge({ idempotencyKey: 'k', account: 'a', amountMinor: 5n }); // replays: still one charge
 * psp.effects().charges; // 1
 * ```
 */
export class FakePaymentService implements PaymentServiceClient {
  readonly #outcomes = new Map<string, Outcome>();
  /** Applied charges by the key that made them, with what is left to refund. */
  readonly #charges = new Map<string, { id: string; amount: bigint; refunded: boolean }>();
  readonly #faults = new Map<FakeOperation, FakeFault[]>();
  readonly #gates = new Map<string, { info: (i: Readonly<Record<string, string>>) => void; wait: Promise<void> }[]>();
  readonly #calls: Record<FakeOperation, number> = { charge: 0, refund: 0 };
  readonly #hangMs: number;
  readonly #latencyMs: number;
  #refunds = 0;
  #charged = 0n;
  #refunded = 0n;
  #seq = 0;

  constructor(options: FakePaymentServiceOptions = {}) {
    this.#hangMs = options.hangMs ?? 20;
    this.#latencyMs = options.latencyMs ?? 0;
  }

  /** Makes the next `times` calls of `op` fail with `fault` (queued after faults already injected). */
  injectFault(op: FakeOperation, fault: FakeFault, times = 1): void {
    const queue = this.#faults.get(op) ?? [];
    for (let i = 0; i < times; i++) queue.push(fault);
    this.#faults.set(op, queue);
  }

  /** Drops the faults not yet used. */
  clearFaults(): void {
    this.#faults.clear();
  }

  /** Arms the fault point `name`: the next `checkpoint(name)` blocks until `release()`. */
  arm(name: string): Gate {
    let release!: () => void;
    let report!: (i: Readonly<Record<string, string>>) => void;
    const wait = new Promise<void>((r) => {
      release = r;
    });
    const reached = new Promise<Readonly<Record<string, string>>>((r) => {
      report = r;
    });
    const list = this.#gates.get(name) ?? [];
    list.push({ info: report, wait });
    this.#gates.set(name, list);
    return { reached, release };
  }

  async checkpoint(name: string, info: Readonly<Record<string, string>> = {}): Promise<void> {
    const gate = this.#gates.get(name)?.shift();
    if (gate === undefined) return;
    gate.info(info);
    await gate.wait;
  }

  async charge(request: FakeChargeRequest): Promise<FakeCharge> {
    return (await this.#call('charge', request.idempotencyKey, () => {
      const id = `ch_${++this.#seq}`;
      this.#charges.set(request.idempotencyKey, { id, amount: request.amountMinor, refunded: false });
      this.#charged += request.amountMinor;
      return { chargeId: id, amountMinor: request.amountMinor };
    })) as FakeCharge;
  }

  async refund(request: FakeRefundRequest): Promise<FakeRefund> {
    return (await this.#call('refund', request.idempotencyKey, () => {
      const charge = this.#charges.get(request.chargeKey);
      if (charge === undefined || charge.refunded) return { refundId: null, amountMinor: 0n };
      charge.refunded = true;
      this.#refunds++;
      this.#refunded += charge.amount;
      return { refundId: `re_${++this.#seq}`, amountMinor: charge.amount };
    })) as FakeRefund;
  }

  /** What the fake has done so far, for exactly-once assertions. */
  effects(): FakeEffects {
    return {
      charges: this.#charges.size,
      refunds: this.#refunds,
      chargedMinor: this.#charged,
      refundedMinor: this.#refunded,
      calls: { ...this.#calls },
    };
  }

  /** The amount charged under `idempotencyKey` and not refunded (0n if none). */
  netCharged(idempotencyKey: string): bigint {
    const c = this.#charges.get(idempotencyKey);
    return c === undefined || c.refunded ? 0n : c.amount;
  }

  async #call(op: FakeOperation, key: string, apply: () => FakeCharge | FakeRefund): Promise<FakeCharge | FakeRefund> {
    this.#calls[op]++;
    if (this.#latencyMs > 0) await sleep(this.#latencyMs);
    const replay = this.#outcomes.get(key);
    if (replay !== undefined) {
      if (replay.ok) return replay.value;
      throw replay.error;
    }
    const fault = this.#faults.get(op)?.shift();
    if (fault === 'fail')
      throw new MarketkitError('PROVIDER_ERROR', {
        message: `fake ${op} failed (injected)`,
        details: { operation: op },
      });
    if (fault === 'timeout') {
      await sleep(this.#hangMs);
      throw new MarketkitError('PROVIDER_TIMEOUT', {
        message: `fake ${op} timed out (injected)`,
        details: { operation: op },
      });
    }
    if (fault === 'decline') {
      const error = new MarketkitError('PAYMENT_DECLINED', {
        message: `fake ${op} declined (injected)`,
        details: { operation: op },
      });
      this.#outcomes.set(key, { ok: false, error });
      throw error;
    }
    const value = apply();
    this.#outcomes.set(key, { ok: true, value });
    if (fault === 'failAfterApply') {
      throw new MarketkitError('PROVIDER_TIMEOUT', {
        message: `fake ${op} applied, then timed out (injected)`,
        details: { operation: op },
      });
    }
    return value;
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
