import {
  classifyProviderError,
  isMarketkitError,
  type MarketkitError,
  type PaymentEffect,
  type PaymentOperation,
  type PaymentProvider,
} from '@marketkit/core';
import { describe, expect, it } from 'vitest';

/**
 * The fault hooks a provider's test double offers, so the suite can check how failures are classified. Each hook
 * arms the *next* call of `operation` on `provider` (the one `makeProvider` returned); a hook left out skips its
 * tests, with the reason in their titles.
 */
export interface ProviderFaults<P extends PaymentProvider = PaymentProvider> {
  /** The next call fails as when the provider is down (5xx, connection refused); nothing is applied. */
  unavailable?(provider: P, operation: PaymentOperation): void | Promise<void>;
  /** The next call gets no answer in time; nothing is applied. */
  timeout?(provider: P, operation: PaymentOperation): void | Promise<void>;
  /** The next call is applied, then its answer is lost (the caller sees a timeout). */
  appliedThenLost?(provider: P, operation: PaymentOperation): void | Promise<void>;
  /** Drops faults armed and not yet used; called after each fault test. */
  clear?(provider: P): void | Promise<void>;
}

/** Options of {@link runProviderConformance}. */
export interface ProviderConformanceOptions<P extends PaymentProvider = PaymentProvider> {
  /** Shown in the suite's title, e.g. `sandbox`. */
  readonly name: string;
  /**
   * The provider under test, called at the start of every test. It may return the same instance each time: every
   * test uses idempotency keys of its own (a random run id in them), and lists effects by those keys only.
   */
  makeProvider(): P | Promise<P>;
  /** The fault hooks of the provider's test double; without them the classification tests are skipped. */
  readonly faults?: ProviderFaults<P>;
  /** Payment method tokens: one the provider approves, and one it always declines (the decline test needs it). */
  readonly paymentMethods?: { readonly approved: string; readonly declined?: string };
  /** The currency of every call. Default `USD`. */
  readonly currency?: string;
  /** A payout destination the provider accepts. Default `ba_test`. */
  readonly payoutDestination?: string;
}

async function rejectionOf(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    () => {
      throw new Error('expected the call to be refused, but it succeeded');
    },
    (error: unknown) => error,
  );
}

/** Checks a refusal: a Marketkit error with `code`, not retryable, which core classifies as permanent. */
function expectRefused(error: unknown, code: string): MarketkitError {
  expect(isMarketkitError(error), `expected a MarketkitError ${code}, got ${String(error)}`).toBe(true);
  const e = error as MarketkitError;
  expect(e.code, e.message).toBe(code);
  expect(e.retryable).toBe(false);
  expect(classifyProviderError(e)).toBe('permanent');
  return e;
}

/** Checks a request refused as invalid: `VALIDATION_FAILED` or `PAYMENT_DECLINED`, either final. */
function expectFinal(error: unknown): MarketkitError {
  expect(isMarketkitError(error), `expected a MarketkitError, got ${String(error)}`).toBe(true);
  const e = error as MarketkitError;
  expect(['VALIDATION_FAILED', 'PAYMENT_DECLINED'], `${e.code}: ${e.message}`).toContain(e.code);
  return expectRefused(e, e.code);
}

/** Checks a failure worth retrying with the same key: a Marketkit error core classifies as retryable. */
function expectRetryable(error: unknown): MarketkitError {
  expect(isMarketkitError(error), `expected a retryable MarketkitError, got ${String(error)}`).toBe(true);
  const e = error as MarketkitError;
  expect(e.retryable, `${e.code}: ${e.message}`).toBe(true);
  expect(classifyProviderError(e)).toBe('retryable');
  return e;
}

/** Every effect made with one of `keys`, following `nextCursor` with pages of `limit`. */
async function effectsOf(provider: PaymentProvider, keys: readonly string[], limit = 100): Promise<PaymentEffect[]> {
  const out: PaymentEffect[] = [];
  let cursor: string | undefined;
  for (let page = 0; page < 1000; page++) {
    const got = await provider.listEffects!({ keys, limit, ...(cursor === undefined ? {} : { cursor }) });
    expect(got.effects.length).toBeLessThanOrEqual(limit);
    out.push(...got.effects);
    if (got.nextCursor === null) return out;
    cursor = got.nextCursor;
  }
  throw new Error('listEffects: more than 1000 pages for a handful of keys');
}

const skipped = (why: string | undefined) => (why === undefined ? '' : ` (skipped: ${why})`);

/**
 * Registers the payment provider conformance suite with vitest: the contract of the `PaymentProvider` port that
 * Marketkit's exactly-once money movement rests on. Idempotency keys (the same key gives the same result and applies
 * the effect once; the same key with another amount is refused), partial captures, a capture above the
 * authorization refused, one capture per authorization, a void after a capture refused, races of one key and of
 * refunds against one capture, refunds never above what was captured (partial refunds
 * added up), declines classified as final (`PAYMENT_DECLINED`), outages and timeouts classified as retryable and
 * safe to retry with the same key (through the `faults` hooks of the provider's test double), and `listEffects`
 * listing every effect once with its key, across pages. Tests needing a capability the provider does not declare
 * (`listEffects`, a declined payment method, a fault hook) are skipped, with the reason in their titles.
 *
 * Call it at the top level of a test file.
 *
 * @example
 * ```ts
 * // sandbox.conformance.test.ts
 * import { SandboxPaymentProvider } from '@marketkit/testing';
 * import { runProviderConformance } from '@marketkit/testing/provider-conformance';
 * runProviderConformance({
 *   name: 'sandbox',
 *   makeProvider: () => new SandboxPaymentProvider(),
 *   paymentMethods: { approved: 'tok_visa', declined: 'tok_decline' },
 *   faults: {
 *     unavailable: (psp, op) => psp.injectFault(op, 'error'),
 *     timeout: (psp, op) => psp.injectFault(op, 'timeout'),
 *     appliedThenLost: (psp, op) => psp.injectFault(op, 'errorAfterApply'),
 *     clear: (psp) => psp.clearFaults(),
 *   },
 * });
 * ```
 */
export function runProviderConformance<P extends PaymentProvider>(options: ProviderConformanceOptions<P>): void {
  const currency = options.currency ?? 'USD';
  const approved = options.paymentMethods?.approved ?? 'tok_visa';
  const declined = options.paymentMethods?.declined;
  const destination = options.payoutDestination ?? 'ba_test';
  const faults = options.faults;
  const run = `${Date.now().toString(36)}${Math.random().toString(36).slice(2, 8)}`;
  let n = 0;

  describe(`payment provider conformance: ${options.name}`, async () => {
    const probe = await options.makeProvider();
    const canList = typeof probe.listEffects === 'function';
    const noList = canList ? undefined : 'the provider has no listEffects';

    /**
     * A fresh provider and a key factory for one test. Keys are `<order>:<step>`, as Marketkit's orders make them, and
     * every authorization's `reference` is the test's order id (a provider may find effects by reference).
     */
    const setup = async () => {
      const provider = await options.makeProvider();
      const base = `mkconf-${run}-${n++}`;
      return { provider, key: (step: string) => `${base}:${step}` };
    };
    /** The order id of a key `<order>:<step>`. */
    const orderOf = (key: string) => key.slice(0, key.lastIndexOf(':'));
    const authorize = (provider: P, key: string, amountMinor: bigint) =>
      provider.authorize({
        idempotencyKey: key,
        amountMinor,
        currency,
        paymentMethod: approved,
        reference: orderOf(key),
      });
    const captured = async (provider: P, key: (s: string) => string, amountMinor: bigint) => {
      const { authorizationId } = await authorize(provider, key('authorize'), amountMinor);
      const { captureId } = await provider.capture({
        idempotencyKey: key('capture'),
        authorizationId,
        amountMinor,
        currency,
      });
      return { authorizationId, captureId };
    };
    /** The test's effects by type, when the provider lists them. */
    const listed = async (provider: P, keys: readonly string[]) => (canList ? effectsOf(provider, keys) : undefined);

    it('the same key twice gives the same result, applied once, for every operation', async () => {
      const { provider, key } = await setup();
      const a1 = await authorize(provider, key('authorize'), 1000n);
      expect(await authorize(provider, key('authorize'), 1000n)).toEqual(a1);
      const capture = {
        idempotencyKey: key('capture'),
        authorizationId: a1.authorizationId,
        amountMinor: 1000n,
        currency,
      };
      const c1 = await provider.capture(capture);
      expect(await provider.capture(capture)).toEqual(c1);
      const refund = { idempotencyKey: key('refund'), captureId: c1.captureId, amountMinor: 300n, currency };
      const r1 = await provider.refund(refund);
      expect(await provider.refund(refund)).toEqual(r1);
      const payout = { idempotencyKey: key('payout'), destination, amountMinor: 500n, currency };
      const p1 = await provider.payout(payout);
      expect(await provider.payout(payout)).toEqual(p1);
      const other = await authorize(provider, key('authorize-2'), 200n);
      const voided = { idempotencyKey: key('void'), authorizationId: other.authorizationId };
      await provider.void(voided);
      await provider.void(voided);
      const effects = await listed(provider, ['authorize', 'capture', 'refund', 'payout', 'authorize-2'].map(key));
      if (effects !== undefined) {
        expect(effects.map((e) => [e.type, e.idempotencyKey, e.amountMinor])).toEqual([
          ['authorization', key('authorize'), 1000n],
          ['capture', key('capture'), 1000n],
          ['refund', key('refund'), 300n],
          ['payout', key('payout'), 500n],
          ['authorization', key('authorize-2'), 200n],
        ]);
        expect(effects.find((e) => e.idempotencyKey === key('authorize-2'))).toMatchObject({ status: 'voided' });
      }
    });

    it('the same key with another amount is refused (IDEMPOTENCY_KEY_REUSED), and nothing more is applied', async () => {
      const { provider, key } = await setup();
      const { authorizationId } = await authorize(provider, key('authorize'), 1000n);
      expectRefused(await rejectionOf(authorize(provider, key('authorize'), 1001n)), 'IDEMPOTENCY_KEY_REUSED');
      const { captureId } = await provider.capture({
        idempotencyKey: key('capture'),
        authorizationId,
        amountMinor: 400n,
        currency,
      });
      expectRefused(
        await rejectionOf(
          provider.capture({ idempotencyKey: key('capture'), authorizationId, amountMinor: 500n, currency }),
        ),
        'IDEMPOTENCY_KEY_REUSED',
      );
      await provider.refund({ idempotencyKey: key('refund'), captureId, amountMinor: 100n, currency });
      expectRefused(
        await rejectionOf(provider.refund({ idempotencyKey: key('refund'), captureId, amountMinor: 200n, currency })),
        'IDEMPOTENCY_KEY_REUSED',
      );
      const effects = await listed(provider, ['authorize', 'capture', 'refund'].map(key));
      if (effects !== undefined)
        expect(effects.map((e) => [e.type, e.amountMinor])).toEqual([
          ['authorization', 1000n],
          ['capture', 400n],
          ['refund', 100n],
        ]);
    });

    it('races: concurrent calls with one key apply one effect; concurrent refunds never pass the capture', async () => {
      const { provider, key } = await setup();
      const auths = await Promise.all(Array.from({ length: 8 }, () => authorize(provider, key('authorize'), 1000n)));
      expect(new Set(auths.map((a) => a.authorizationId)).size).toBe(1);
      const { authorizationId } = auths[0]!;
      const { captureId } = await provider.capture({
        idempotencyKey: key('capture'),
        authorizationId,
        amountMinor: 1000n,
        currency,
      });
      const outcomes = await Promise.allSettled(
        Array.from({ length: 5 }, (_, i) =>
          provider.refund({ idempotencyKey: key(`refund-${i}`), captureId, amountMinor: 300n, currency }),
        ),
      );
      const made = outcomes.filter((o) => o.status === 'fulfilled').length;
      expect(made).toBeLessThanOrEqual(3);
      for (const o of outcomes) if (o.status === 'rejected') expectRefused(o.reason, 'PAYMENT_DECLINED');
      const effects = await listed(provider, [key('authorize'), ...[0, 1, 2, 3, 4].map((i) => key(`refund-${i}`))]);
      if (effects !== undefined) {
        expect(effects.filter((e) => e.type === 'authorization')).toHaveLength(1);
        const refunds = effects.filter((e) => e.type === 'refund');
        expect(refunds).toHaveLength(made);
        expect(refunds.reduce((sum, e) => sum + e.amountMinor, 0n)).toBeLessThanOrEqual(1000n);
      }
    });

    it('captures part of an authorization, once: a second capture of it is refused', async () => {
      const { provider, key } = await setup();
      const { authorizationId } = await authorize(provider, key('authorize'), 1000n);
      const { captureId } = await provider.capture({
        idempotencyKey: key('capture'),
        authorizationId,
        amountMinor: 600n,
        currency,
      });
      expect(typeof captureId).toBe('string');
      const again = provider.capture({
        idempotencyKey: key('capture-2'),
        authorizationId,
        amountMinor: 400n,
        currency,
      });
      expectRefused(await rejectionOf(again), 'PAYMENT_DECLINED');
      const effects = await listed(provider, [key('authorize'), key('capture'), key('capture-2')]);
      if (effects !== undefined) {
        expect(effects.filter((e) => e.type === 'capture')).toMatchObject([{ amountMinor: 600n, authorizationId }]);
        expect(effects.find((e) => e.type === 'authorization')).toMatchObject({
          amountMinor: 1000n,
          status: 'captured',
        });
      }
    });

    it('refuses a capture above the authorization (PAYMENT_DECLINED), which leaves the authorization capturable', async () => {
      const { provider, key } = await setup();
      const { authorizationId } = await authorize(provider, key('authorize'), 1000n);
      const over = provider.capture({
        idempotencyKey: key('capture-over'),
        authorizationId,
        amountMinor: 1001n,
        currency,
      });
      expectRefused(await rejectionOf(over), 'PAYMENT_DECLINED');
      await provider.capture({ idempotencyKey: key('capture'), authorizationId, amountMinor: 1000n, currency });
      const effects = await listed(provider, [key('authorize'), key('capture-over'), key('capture')]);
      if (effects !== undefined)
        expect(effects.filter((e) => e.type === 'capture').map((e) => [e.idempotencyKey, e.amountMinor])).toEqual([
          [key('capture'), 1000n],
        ]);
    });

    // Zero authorizations and captures are the provider's to allow (a free listing's checkout makes them).
    it('refuses negative amounts, empty refunds and payouts, and a currency other than the authorization’s or the capture’s', async () => {
      const { provider, key } = await setup();
      const other = currency === 'EUR' ? 'USD' : 'EUR';
      expectFinal(await rejectionOf(authorize(provider, key('authorize-neg'), -100n)));
      const { authorizationId } = await authorize(provider, key('authorize'), 1000n);
      const capture = (step: string, amountMinor: bigint, cur = currency) =>
        provider.capture({ idempotencyKey: key(step), authorizationId, amountMinor, currency: cur });
      expectFinal(await rejectionOf(capture('capture-neg', -1n)));
      expectFinal(await rejectionOf(capture('capture-cur', 1000n, other)));
      const { captureId } = await capture('capture', 1000n);
      const refund = (step: string, amountMinor: bigint, cur = currency) =>
        provider.refund({ idempotencyKey: key(step), captureId, amountMinor, currency: cur });
      expectFinal(await rejectionOf(refund('refund-neg', -500n)));
      expectFinal(await rejectionOf(refund('refund-zero', 0n)));
      expectFinal(await rejectionOf(refund('refund-cur', 100n, other)));
      await refund('refund', 1000n);
      expectRefused(await rejectionOf(refund('refund-more', 1n)), 'PAYMENT_DECLINED');
      const payout = (amountMinor: bigint) =>
        provider.payout({ idempotencyKey: key(`payout${amountMinor}`), destination, amountMinor, currency });
      expectFinal(await rejectionOf(payout(0n)));
      expectFinal(await rejectionOf(payout(-1n)));
      const effects = await listed(
        provider,
        [
          'authorize-neg',
          'capture-neg',
          'capture-cur',
          'refund-neg',
          'refund-zero',
          'refund-cur',
          'refund-more',
          'payout0',
          'payout-1',
        ].map(key),
      );
      if (effects !== undefined) expect(effects).toEqual([]);
    });

    it('refuses a void after a capture, and a capture after a void (PAYMENT_DECLINED)', async () => {
      const { provider, key } = await setup();
      const { authorizationId } = await captured(provider, key, 700n);
      expectRefused(
        await rejectionOf(provider.void({ idempotencyKey: key('void'), authorizationId })),
        'PAYMENT_DECLINED',
      );
      const other = await authorize(provider, key('authorize-2'), 300n);
      await provider.void({ idempotencyKey: key('void-2'), authorizationId: other.authorizationId });
      expectRefused(
        await rejectionOf(
          provider.capture({
            idempotencyKey: key('capture-2'),
            authorizationId: other.authorizationId,
            amountMinor: 300n,
            currency,
          }),
        ),
        'PAYMENT_DECLINED',
      );
      const effects = await listed(provider, ['authorize', 'authorize-2', 'capture-2'].map(key));
      if (effects !== undefined)
        expect(effects.map((e) => [e.type, e.idempotencyKey, e.type === 'authorization' ? e.status : null])).toEqual([
          ['authorization', key('authorize'), 'captured'],
          ['authorization', key('authorize-2'), 'voided'],
        ]);
    });

    it('never refunds more than was captured: partial refunds add up, and the one past the capture is refused', async () => {
      const { provider, key } = await setup();
      const { captureId } = await captured(provider, key, 1000n);
      const refund = (step: string, amountMinor: bigint) =>
        provider.refund({ idempotencyKey: key(step), captureId, amountMinor, currency });
      await refund('refund-1', 400n);
      await refund('refund-2', 400n);
      expectRefused(await rejectionOf(refund('refund-3', 300n)), 'PAYMENT_DECLINED');
      await refund('refund-4', 200n);
      expectRefused(await rejectionOf(refund('refund-5', 1n)), 'PAYMENT_DECLINED');
      await refund('refund-1', 400n); // a replay moves nothing more
      const effects = await listed(
        provider,
        [1, 2, 3, 4, 5].map((i) => key(`refund-${i}`)),
      );
      if (effects !== undefined) {
        expect(effects.every((e) => e.type === 'refund' && e.captureId === captureId)).toBe(true);
        expect(effects.reduce((sum, e) => sum + e.amountMinor, 0n)).toBe(1000n);
        expect(effects.map((e) => e.idempotencyKey)).toEqual(['refund-1', 'refund-2', 'refund-4'].map(key));
      }
    });

    it.skipIf(declined === undefined)(
      `declines are final: PAYMENT_DECLINED, not retryable, and the same key gives the same decline${skipped(declined === undefined ? 'no paymentMethods.declined' : undefined)}`,
      async () => {
        const { provider, key } = await setup();
        const call = () =>
          provider.authorize({
            idempotencyKey: key('authorize'),
            amountMinor: 1000n,
            currency,
            paymentMethod: declined as string,
            reference: orderOf(key('authorize')),
          });
        expectRefused(await rejectionOf(call()), 'PAYMENT_DECLINED');
        expectRefused(await rejectionOf(call()), 'PAYMENT_DECLINED');
        const effects = await listed(provider, [key('authorize')]);
        if (effects !== undefined) expect(effects).toEqual([]);
      },
    );

    /**
     * Each operation in turn fails with the armed fault, is classified retryable, and is retried with the same key:
     * the effects listed afterwards are one per key, whether or not the failed call had applied its effect.
     */
    const faultTest = (hook: keyof Omit<ProviderFaults, 'clear'>, title: string) => {
      const arm = faults?.[hook];
      const body = async () => {
        const { provider, key } = await setup();
        /** Arms the fault on `op`, checks the call fails retryably, then retries it with the same key. */
        const retried = async <T>(op: PaymentOperation, call: () => Promise<T>): Promise<T> => {
          await arm!(provider, op);
          expectRetryable(await rejectionOf(call()));
          return call();
        };
        try {
          const { authorizationId } = await retried('authorize', () => authorize(provider, key('authorize'), 1000n));
          const capture = { idempotencyKey: key('capture'), authorizationId, amountMinor: 1000n, currency };
          const { captureId } = await retried('capture', () => provider.capture(capture));
          const refund = { idempotencyKey: key('refund'), captureId, amountMinor: 1000n, currency };
          await retried('refund', () => provider.refund(refund));
          const payout = { idempotencyKey: key('payout'), destination, amountMinor: 100n, currency };
          await retried('payout', () => provider.payout(payout));
          const other = await authorize(provider, key('authorize-2'), 10n);
          await retried('void', () =>
            provider.void({ idempotencyKey: key('void'), authorizationId: other.authorizationId }),
          );
          const effects = await listed(provider, ['authorize', 'capture', 'refund', 'payout', 'authorize-2'].map(key));
          if (effects !== undefined)
            expect(effects.map((e) => [e.type, e.idempotencyKey, e.amountMinor])).toEqual([
              ['authorization', key('authorize'), 1000n],
              ['capture', key('capture'), 1000n],
              ['refund', key('refund'), 1000n],
              ['payout', key('payout'), 100n],
              ['authorization', key('authorize-2'), 10n],
            ]);
        } finally {
          await faults?.clear?.(provider);
        }
      };
      it.skipIf(arm === undefined)(
        `${title}${skipped(arm === undefined ? `no faults.${hook} hook` : undefined)}`,
        body,
      );
    };
    faultTest(
      'unavailable',
      'an outage is retryable (classifyProviderError), and a retry with the same key applies once',
    );
    faultTest('timeout', 'a timeout is retryable, and a retry with the same key applies the effect once');
    faultTest('appliedThenLost', 'a call applied but unanswered is retryable, and a retry with the same key finds it');

    it.skipIf(!canList)(
      `listEffects lists every effect once with its key, across pages, and filters by key${skipped(noList)}`,
      async () => {
        const { provider, key } = await setup();
        const { captureId } = await captured(provider, key, 900n);
        await provider.refund({ idempotencyKey: key('refund'), captureId, amountMinor: 100n, currency });
        await provider.payout({ idempotencyKey: key('payout'), destination, amountMinor: 50n, currency });
        const keys = ['authorize', 'capture', 'refund', 'payout'].map(key);
        const one = await effectsOf(provider, keys, 1);
        const all = await effectsOf(provider, keys, 100);
        expect(one).toEqual(all);
        expect(all.map((e) => [e.type, e.idempotencyKey, e.amountMinor, e.currency])).toEqual([
          ['authorization', key('authorize'), 900n, currency],
          ['capture', key('capture'), 900n, currency],
          ['refund', key('refund'), 100n, currency],
          ['payout', key('payout'), 50n, currency],
        ]);
        // Effects are told apart by type and id, as reconciliation does: a capture may share its authorization's id
        // (Stripe's capture is the PaymentIntent it captured, and its id is the captureId the provider returned).
        expect(new Set(all.map((e) => `${e.type}:${e.id}`)).size).toBe(4);
        expect(all.find((e) => e.type === 'refund')).toMatchObject({ captureId });
        expect(all.find((e) => e.type === 'payout')).toMatchObject({ destination });
        const only = await effectsOf(provider, [key('refund')]);
        expect(only.map((e) => e.idempotencyKey)).toEqual([key('refund')]);
      },
    );
  });
}
