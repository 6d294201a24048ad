/**
 * The circuit breaker around the payment provider (`createMarketplace({ providerBreaker })`), with the fault sandbox:
 * once the provider keeps failing, new checkouts fail fast with PROVIDER_UNAVAILABLE and write nothing; checkouts
 * already in flight wait for the breaker instead of using up their attempts, and complete once the provider is back
 * (a half-open probe closes the breaker); no money moves twice; every change of state is announced in-process.
 */
import {
  createMarketplace,
  isMarketkitError,
  type Marketplace,
  Money,
  type ProviderBreakerEvent,
  type ProviderBreakerEventType,
  silentLogger,
} from '@marketkit/core';
import {
  checkMarketInvariants,
  ManualClock,
  SandboxPaymentProvider,
  type TestDatabase,
  testBackends,
} from '@marketkit/testing';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';

// Long enough for the open-state checks to finish before the breaker turns half-open on a loaded machine.
const RESET_MS = 1000;
const TYPES: readonly ProviderBreakerEventType[] = [
  'provider.breakerOpened',
  'provider.breakerHalfOpen',
  'provider.breakerClosed',
];

async function caught(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    () => {
      throw new Error('expected the call to fail, but it succeeded');
    },
    (error: unknown) => error,
  );
}

describe('providerBreaker options', () => {
  const adapter = { dialect: {}, classifyError: () => 'other' } as never;
  it.each([
    [{ threshold: 0 }, 'providerBreaker.threshold'],
    [{ errorPercentage: 101 }, 'providerBreaker.errorPercentage'],
    [{ windowMs: 10 }, 'providerBreaker.windowMs'],
    [{ resetTimeoutMs: 1.5 }, 'providerBreaker.resetTimeoutMs'],
    [{ thresold: 3 }, 'providerBreaker'],
  ])('rejects %o with VALIDATION_FAILED at %s', (providerBreaker, path) => {
    let error: unknown;
    try {
      createMarketplace({ adapter, payments: new SandboxPaymentProvider(), providerBreaker } as never);
    } catch (e) {
      error = e;
    }
    expect(isMarketkitError(error)).toBe(true);
    expect(error).toMatchObject({ code: 'VALIDATION_FAILED' });
    const issues = (error as { details: { issues: { path: (string | number)[] }[] } }).details.issues;
    expect(issues.map((i) => i.path.join('.'))).toContain(path);
  });
});

for (const backend of testBackends()) {
  describe(`provider circuit breaker on ${backend.name}`, () => {
    let database: TestDatabase;
    let market: Marketplace;
    let plain: Marketplace;
    const clock = new ManualClock();
    const psp = new SandboxPaymentProvider({ clock });
    const seen: ProviderBreakerEvent[] = [];
    let listingId: string;

    beforeAll(async () => {
      database = await backend.createDatabase();
      market = createMarketplace({
        adapter: database.adapter(),
        clock,
        payments: psp,
        providerBreaker: { threshold: 3, errorPercentage: 50, windowMs: 60_000, resetTimeoutMs: RESET_MS },
        logger: silentLogger,
      });
      plain = createMarketplace({ adapter: database.adapter(), clock, payments: psp });
      await market.migrate();
      for (const type of TYPES) market.payments.breaker?.on(type, (e) => seen.push(e));
      listingId = (
        await market.listings.create({ sellerId: 'bob', title: 'Lamp', price: Money.of('20.00', 'USD'), quantity: 50 })
      ).id;
    });
    afterAll(async () => {
      await market?.close();
      await plain?.close();
      await database?.drop();
    });

    const checkout = (orderId: string, idempotencyKey?: string) =>
      market.orders.checkout({
        orderId,
        buyerId: 'alice',
        listingId,
        quantity: 1,
        paymentMethod: 'tok_visa',
        ...(idempotencyKey === undefined ? {} : { idempotencyKey }),
      });
    const sagaOf = async (orderId: string) => (await market.sagas.get(`checkout:${orderId}`))!;

    it('is off by default, and on with the defaults filled in when configured', () => {
      expect(plain.payments.breaker).toBeUndefined();
      expect(market.payments.breaker?.state).toBe('closed');
      expect(market.payments.breaker?.options).toEqual({
        threshold: 3,
        errorPercentage: 50,
        windowMs: 60_000,
        resetTimeoutMs: RESET_MS,
      });
    });

    it('opens after the threshold; then checkouts fail fast and write nothing; sagas in flight wait, then complete', async () => {
      const breaker = market.payments.breaker!;
      psp.injectFault('authorize', 'error', 1000);
      // Provider down: the first checkouts reach it, fail retryably and are left in checkout with their sagas.
      const inFlight = ['down-0', 'down-1', 'down-2'];
      for (const id of inFlight) {
        await expect(checkout(id)).rejects.toMatchObject({ code: 'PROVIDER_ERROR', retryable: true });
      }
      expect(breaker.state).toBe('open');
      expect(seen.map((e) => e.type)).toEqual(['provider.breakerOpened']);
      expect(seen[0]).toMatchObject({ provider: 'sandbox', retryAfterMs: RESET_MS });

      // Open: a new checkout returns at once with PROVIDER_UNAVAILABLE and changes nothing.
      const listingBefore = await market.listings.get(listingId);
      const callsBefore = psp.effects().calls;
      for (const [id, key] of [
        ['fast-0', undefined],
        ['fast-1', 'key-fast-1'],
      ] as const) {
        const error = await caught(checkout(id, key));
        expect(isMarketkitError(error)).toBe(true);
        expect((error as { toJSON(): unknown }).toJSON()).toMatchObject({
          code: 'PROVIDER_UNAVAILABLE',
          retryable: true,
          details: { provider: 'sandbox', operation: 'checkout', retryAfterMs: expect.any(Number) },
        });
        expect((error as { details: { retryAfterMs: number } }).details.retryAfterMs).toBeLessThanOrEqual(RESET_MS);
        expect(await market.orders.get(id)).toBeUndefined();
      }
      expect(await market.listings.get(listingId)).toEqual(listingBefore);
      expect(psp.effects().calls).toEqual(callsBefore);

      // The sagas in flight come due while it is still open: refused without a call, and no attempt used up.
      const attempts = await Promise.all(inFlight.map(async (id) => (await sagaOf(id)).attempts));
      clock.advance(10_000);
      await market.worker().runOnce();
      expect(psp.effects().calls).toEqual(callsBefore);
      for (const [i, id] of inFlight.entries()) {
        const saga = await sagaOf(id);
        expect(saga).toMatchObject({ status: 'running', attempts: attempts[i] });
        expect(saga.lastError).toMatchObject({ code: 'PROVIDER_UNAVAILABLE' });
        expect(saga.nextRunAt).not.toBeNull();
        expect(saga.nextRunAt! - clock.now()).toBeLessThanOrEqual(RESET_MS);
      }

      // The provider recovers; after resetTimeoutMs the breaker is half-open and the next call is its probe.
      psp.clearFaults();
      await vi.waitFor(() => expect(breaker.state).toBe('halfOpen'), { timeout: 5000, interval: 20 });
      for (let i = 0; i < 10; i++) {
        clock.advance(10_000);
        await market.worker().runOnce();
        const orders = await Promise.all(inFlight.map((id) => market.orders.get(id)));
        if (orders.every((o) => o?.state === 'paid')) break;
      }
      expect(breaker.state).toBe('closed');
      for (const id of inFlight) {
        expect(await market.orders.get(id)).toMatchObject({ state: 'paid', captureId: expect.any(String) });
        expect((await sagaOf(id)).status).toBe('completed');
      }
      expect(seen.map((e) => e.type)).toEqual([
        'provider.breakerOpened',
        'provider.breakerHalfOpen',
        'provider.breakerClosed',
      ]);

      // Closed again: the refused checkout, retried with its key, goes through; nothing was stored under it.
      expect(await checkout('fast-1', 'key-fast-1')).toMatchObject({ state: 'paid' });
      // Each paid order authorized and captured once; the failed attempts moved nothing.
      const effects = psp.effects();
      expect(effects.counts.authorize).toBe(inFlight.length + 1);
      expect(effects.counts.capture).toBe(inFlight.length + 1);
      expect(effects.capturedMinor).toBe(2000n * BigInt(inFlight.length + 1));
      expect(effects.openAuthorizedMinor).toBe(0n);
      await checkMarketInvariants(market, { provider: psp });
    });

    it('a failed half-open probe opens it again, and a refusal (decline) does not count as a failure', async () => {
      const breaker = market.payments.breaker!;
      seen.length = 0;
      // Declines are answers: any number of them leaves it closed.
      for (let i = 0; i < 4; i++) {
        await expect(
          market.orders.checkout({
            orderId: `declined-${i}`,
            buyerId: 'alice',
            listingId,
            quantity: 1,
            paymentMethod: 'tok_decline',
          }),
        ).rejects.toMatchObject({ code: 'PAYMENT_DECLINED' });
      }
      expect(breaker.state).toBe('closed');
      psp.injectFault('authorize', 'timeout', 1000);
      // The window still holds the earlier calls (successes, declines): failures must make half of it.
      const probes: string[] = [];
      for (let i = 0; i < 40 && breaker.state === 'closed'; i++) {
        probes.push(`probe-${i}`);
        await expect(checkout(`probe-${i}`)).rejects.toMatchObject({ code: 'PROVIDER_TIMEOUT' });
      }
      expect(breaker.state).toBe('open');
      await vi.waitFor(() => expect(breaker.state).toBe('halfOpen'), { timeout: 5000, interval: 20 });
      // The probe (a saga's retry) fails: open again. Only the probe's attempt counts; the refused ones do not.
      const attemptsOf = async () => (await Promise.all(probes.map(sagaOf))).reduce((n, s) => n + s.attempts, 0);
      const before = await attemptsOf();
      clock.advance(10_000);
      await market.worker().runOnce();
      expect(breaker.state).toBe('open');
      expect(await attemptsOf()).toBe(before + 1);
      psp.clearFaults();
      await vi.waitFor(() => expect(breaker.state).toBe('halfOpen'), { timeout: 5000, interval: 20 });
      for (let i = 0; i < 10 && breaker.state !== 'closed'; i++) {
        clock.advance(10_000);
        await market.worker().runOnce();
      }
      for (let i = 0; i < 10; i++) {
        clock.advance(10_000);
        await market.worker().runOnce();
      }
      expect(breaker.state).toBe('closed');
      for (const id of probes) expect(await market.orders.get(id)).toMatchObject({ state: 'paid' });
      expect(seen.map((e) => e.type)).toEqual([
        'provider.breakerOpened',
        'provider.breakerHalfOpen',
        'provider.breakerOpened',
        'provider.breakerHalfOpen',
        'provider.breakerClosed',
      ]);
      await checkMarketInvariants(market, { provider: psp });
    });

    it('a payout requested while it is open waits for the breaker (attempts kept) and is paid once after recovery', async () => {
      const breaker = market.payments.breaker!;
      seen.length = 0;
      // A completed order gives the seller a balance (18.00 after the default 10 % commission).
      for (const [name, role, id] of [
        ['ship', 'seller', 'bob'],
        ['deliver', 'seller', 'bob'],
        ['confirm', 'buyer', 'alice'],
      ] as const) {
        await market.orders.transition('down-0', name, { actor: { role, id } });
      }
      // Open it with failing calls of its own (the window holds earlier successes: enough failures to make half).
      psp.injectFault('authorize', 'error', 1000);
      const call = (i: number) => ({
        idempotencyKey: `probe-call-${i}`,
        amountMinor: 1n,
        currency: 'USD',
        paymentMethod: 'tok_visa',
        reference: 'none',
      });
      for (let i = 0; i < 100 && breaker.state === 'closed'; i++) {
        await expect(breaker.provider.authorize(call(i))).rejects.toMatchObject({ code: 'PROVIDER_ERROR' });
      }
      expect(breaker.state).toBe('open');
      psp.clearFaults();
      const paidOut = psp.effects().paidOutMinor;
      const request = { payoutId: 'po-open', sellerId: 'bob', currency: 'USD', amountMinor: 10_00n, destination: 'ba' };
      await expect(market.payouts.request(request)).rejects.toMatchObject({ code: 'PROVIDER_UNAVAILABLE' });
      expect(await market.payouts.get('po-open')).toMatchObject({ status: 'requested' });
      expect(await market.sagas.get('payout:po-open')).toMatchObject({ status: 'running', attempts: 0 });
      expect(psp.effects().calls.payout).toBe(0);
      await vi.waitFor(() => expect(breaker.state).toBe('halfOpen'), { timeout: 5000, interval: 20 });
      for (let i = 0; i < 5 && (await market.payouts.get('po-open'))?.status !== 'paid'; i++) {
        clock.advance(10_000);
        await market.worker().runOnce();
      }
      expect(await market.payouts.get('po-open')).toMatchObject({ status: 'paid' });
      expect(breaker.state).toBe('closed');
      expect(psp.effects().counts.payout).toBe(1);
      expect(psp.effects().paidOutMinor - paidOut).toBe(10_00n);
      expect(seen.map((e) => e.type)).toEqual([
        'provider.breakerOpened',
        'provider.breakerHalfOpen',
        'provider.breakerClosed',
      ]);
      await checkMarketInvariants(market, { provider: psp });
    });
  });
}
