import { EventEmitter } from 'eventemitter3';
import CircuitBreaker from 'opossum';
import { isMarketkitError, MarketkitError } from '../errors/marketkit-error.js';
import { errorFields, type Logger } from '../logging/logger.js';
import type { PaymentOperation, PaymentProvider } from './payment-provider.js';
import { classifyProviderError } from './provider-retry.js';

/**
 * Options of the circuit breaker around the payment provider (`createMarketplace({ providerBreaker })`). Giving the
 * object turns the breaker on; each field has a default. The breaker counts the calls of this process, in real time
 * (not the marketplace's clock): it is a per-process guard, and each process opens and closes its own.
 *
 * @example
 * ```ts
 * createMarketplace({ adapter, payments, providerBreaker: { threshold: 20, windowMs: 30_000, resetTimeoutMs: 15_000 } });
 * ```
 */
export interface ProviderBreakerOptions {
  /** How many provider calls the window must hold before the breaker may open, 1 to 10 000. Default 10. */
  readonly threshold?: number;
  /** The share of those calls, in percent (1–100), that must have failed retryably for it to open. Default 50. */
  readonly errorPercentage?: number;
  /** The rolling window the calls are counted over, in ms (100 to 2^31-1). Default 10 000. */
  readonly windowMs?: number;
  /** How long it stays open before it lets one probe call through (half-open), in ms (1 to 2^31-1). Default 30 000. */
  readonly resetTimeoutMs?: number;
}

/** The breaker's state: `closed` (calls go through), `open` (calls fail fast), `halfOpen` (one probe goes through). */
export type ProviderBreakerState = 'closed' | 'open' | 'halfOpen';

/** The in-process events a {@link ProviderBreaker} announces when its state changes. */
export type ProviderBreakerEventType = 'provider.breakerOpened' | 'provider.breakerHalfOpen' | 'provider.breakerClosed';

/** A change of the breaker's state, as its listeners receive it. */
export interface ProviderBreakerEvent {
  /** What changed. */
  readonly type: ProviderBreakerEventType;
  /** The provider's `name`. */
  readonly provider: string;
  /** When, in ms since the epoch (this process's clock). */
  readonly at: number;
  /** On `provider.breakerOpened`: how long until it lets a probe through. */
  readonly retryAfterMs?: number;
}

/** The defaults of {@link ProviderBreakerOptions}. */
export const PROVIDER_BREAKER_DEFAULTS: Required<ProviderBreakerOptions> = Object.freeze({
  threshold: 10,
  errorPercentage: 50,
  windowMs: 10_000,
  resetTimeoutMs: 30_000,
});

const OPS: readonly PaymentOperation[] = ['authorize', 'capture', 'void', 'refund', 'payout'];
type Thunk = () => Promise<unknown>;

/**
 * A circuit breaker (opossum) around a payment provider. Every call the engine makes (authorize, capture, void,
 * refund, payout) goes through it; a call that fails retryably (`classifyProviderError`: outages, timeouts) counts
 * as a failure, a refusal (`PAYMENT_DECLINED`) as an answer. When the failures of the window reach the threshold it
 * opens: calls fail fast with `PROVIDER_UNAVAILABLE` (retryable, `retryAfterMs`), without reaching the provider.
 * After `resetTimeoutMs` it is half-open: the next call is a probe, and its answer closes it (or opens it again).
 * `listEffects` (reconciliation, run by an operator) is not guarded.
 *
 * Per process: each process that embeds the marketplace has its own breaker and its own counts.
 *
 * @example
 * ```ts
 * market.payments.breaker?.on('provider.breakerOpened', (e) => alert(`${e.provider} down; retry in ${e.retryAfterMs} ms`));
 * ```
 */
export class ProviderBreaker {
  /** The provider whose calls go through the breaker. */
  readonly provider: PaymentProvider;
  readonly #breaker: CircuitBreaker<[Thunk], unknown>;
  readonly #options: Required<ProviderBreakerOptions>;
  readonly #emitter = new EventEmitter<Record<ProviderBreakerEventType, [ProviderBreakerEvent]>>();
  readonly #name: string;
  #openedAt = 0;

  constructor(provider: PaymentProvider, options: ProviderBreakerOptions = {}, logger?: Logger) {
    this.#name = provider.name;
    this.#options = Object.freeze({ ...PROVIDER_BREAKER_DEFAULTS, ...options });
    const o = this.#options;
    this.#breaker = new CircuitBreaker<[Thunk], unknown>((thunk: Thunk) => thunk(), {
      timeout: false, // the provider's own timeouts say PROVIDER_TIMEOUT; a breaker timeout would leave a call running
      resetTimeout: o.resetTimeoutMs,
      rollingCountTimeout: o.windowMs,
      rollingCountBuckets: 10,
      volumeThreshold: o.threshold,
      // opossum opens above the percentage; ours opens at it (100 % must still be reachable).
      errorThresholdPercentage: o.errorPercentage - 0.001,
      errorFilter: (error: unknown) => classifyProviderError(error) === 'permanent',
      name: `payments:${provider.name}`,
    });
    const announce = (type: ProviderBreakerEventType, extra: { retryAfterMs?: number } = {}) => {
      const event: ProviderBreakerEvent = { type, provider: this.#name, at: Date.now(), ...extra };
      if (type === 'provider.breakerOpened')
        logger?.warn({ provider: this.#name, retryAfterMs: extra.retryAfterMs }, 'payment provider breaker opened');
      else logger?.info({ provider: this.#name }, `payment provider breaker ${type.slice('provider.breaker'.length)}`);
      for (const fn of this.#emitter.listeners(type)) {
        try {
          fn(event);
        } catch (error) {
          logger?.error({ provider: this.#name, event: type, ...errorFields(error) }, 'a breaker listener threw');
        }
      }
    };
    this.#breaker.on('open', () => {
      this.#openedAt = Date.now();
      announce('provider.breakerOpened', { retryAfterMs: o.resetTimeoutMs });
    });
    this.#breaker.on('halfOpen', () => announce('provider.breakerHalfOpen'));
    this.#breaker.on('close', () => announce('provider.breakerClosed'));
    const guarded = Object.fromEntries(
      OPS.map((op) => [
        op,
        (request: never) =>
          this.#call(op, () => (provider[op] as (r: never) => Promise<unknown>).call(provider, request)),
      ]),
    ) as unknown as Pick<PaymentProvider, PaymentOperation>;
    this.provider = Object.freeze({
      name: provider.name,
      ...guarded,
      ...(provider.listEffects === undefined ? {} : { listEffects: provider.listEffects.bind(provider) }),
      // A read the 3-D Secure wait polls: without it, a payment needing the customer failed behind a breaker.
      ...(provider.authorizationStatus === undefined
        ? {}
        : { authorizationStatus: provider.authorizationStatus.bind(provider) }),
    });
  }

  /** The current state. */
  get state(): ProviderBreakerState {
    if (this.#breaker.opened) return 'open';
    return this.#breaker.halfOpen ? 'halfOpen' : 'closed';
  }

  /** The options in force, defaults filled in. */
  get options(): Required<ProviderBreakerOptions> {
    return this.#options;
  }

  /** Calls `handler` on each change of state to `type`, in this process. Returns a function that removes it. */
  on(type: ProviderBreakerEventType, handler: (event: ProviderBreakerEvent) => void): () => void {
    this.#emitter.on(type, handler);
    return () => {
      this.#emitter.off(type, handler);
    };
  }

  /**
   * Throws `PROVIDER_UNAVAILABLE` for `operation` while the breaker is open (not while it is half-open: a new call may
   * be the probe). Checkout calls it before it writes anything, so a refused checkout changes nothing.
   */
  assertAvailable(operation: string): void {
    if (this.#breaker.opened) throw this.#unavailable(operation);
  }

  /** Stops the breaker's timers (the marketplace's `close()`). */
  shutdown(): void {
    this.#breaker.shutdown();
    this.#emitter.removeAllListeners();
  }

  async #call(op: PaymentOperation, thunk: Thunk): Promise<never> {
    try {
      return (await this.#breaker.fire(thunk)) as never;
    } catch (error) {
      if (!isMarketkitError(error) && CircuitBreaker.isOurError(error as Error)) throw this.#unavailable(op, error);
      throw error;
    }
  }

  #unavailable(operation: string, cause?: unknown): MarketkitError<'PROVIDER_UNAVAILABLE'> {
    const o = this.#options;
    // Open: until the reset timer fires. Half-open with a probe in flight: a short wait for its answer.
    const retryAfterMs = this.#breaker.opened
      ? Math.max(0, this.#openedAt + o.resetTimeoutMs - Date.now())
      : Math.min(1000, o.resetTimeoutMs);
    return new MarketkitError('PROVIDER_UNAVAILABLE', {
      message: `The payment provider ${this.#name} is unavailable (circuit open); ${operation} was not attempted.`,
      details: { provider: this.#name, operation, retryAfterMs },
      ...(cause === undefined ? {} : { cause }),
    });
  }
}
