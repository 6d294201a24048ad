/**
 * Which lease governs a checkout (docs/orders.md, "Leases"): the inline caller holds the checkout saga's lease and
 * the idempotency key's lock for `pendingOpTimeoutMs`, renewed together while a provider call runs, so no worker or
 * retry runs the same checkout at once however slow the provider; after a crash both end together, so a retry with
 * the same key resumes the checkout as soon as a worker could.
 */
import { createMarketplace, isMarketkitError, type Marketplace, Money, type PaymentProvider } from '@marketkit/core';
import { checkMarketInvariants, ManualClock, type TestDatabase, testBackends } from '@marketkit/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HookedProvider } from './fixtures/hooked-provider.js';

const LEASE_MS = 300;

/** The hooked sandbox, counting captures in flight at once. */
class CountingProvider extends HookedProvider {
  inFlight = 0;
  maxInFlight = 0;
  override async capture(request: Parameters<PaymentProvider['capture']>[0]) {
    this.maxInFlight = Math.max(this.maxInFlight, ++this.inFlight);
    try {
      return await super.capture(request);
    } finally {
      this.inFlight--;
    }
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

for (const backend of testBackends()) {
  describe(`checkout leases on ${backend.name}`, () => {
    let database: TestDatabase;
    const clock = new ManualClock();
    const psp = new CountingProvider();
    let listingId: string;
    const open: Marketplace[] = [];
    const marketplace = async () => {
      const market = createMarketplace({
        adapter: database.adapter(),
        clock,
        payments: psp,
        pendingOpTimeoutMs: LEASE_MS,
      });
      open.push(market);
      return market;
    };

    beforeAll(async () => {
      database = await backend.createDatabase();
      const market = await marketplace();
      await market.migrate();
      listingId = (
        await market.listings.create({ sellerId: 'bob', title: 'Lamp', price: Money.of('10.00', 'USD'), quantity: 100 })
      ).id;
    });
    afterAll(async () => {
      for (const m of open) await m.close().catch(() => {});
      await database?.drop();
    });
    const request = (idempotencyKey: string) => ({
      buyerId: 'alice',
      listingId,
      quantity: 1,
      paymentMethod: 'tok_visa',
      idempotencyKey,
    });

    it('renews the lease and the key while a capture outlasts them: no worker or retry runs the checkout at once', async () => {
      const [a, b] = [open[0]!, await marketplace()];
      let release!: () => void;
      const gate = new Promise<void>((r) => {
        release = r;
      });
      let entered!: () => void;
      const inCapture = new Promise<void>((r) => {
        entered = r;
      });
      psp.afterCapture = async () => {
        entered();
        await gate;
      };
      const captures = psp.effects().calls.capture;
      psp.maxInFlight = 0;
      const first = a.orders.checkout(request('k-slow'));
      await inCapture;
      // Ten leases pass on the clock while the capture hangs; the caller's keeper renews in real time meanwhile.
      clock.advance(10 * LEASE_MS);
      await sleep(LEASE_MS);
      await b.worker().runOnce(); // a worker that took the checkout over would capture again: counted below
      const retry = await b.orders.checkout(request('k-slow')).catch((e: unknown) => e);
      expect(isMarketkitError(retry) && retry.code).toBe('IDEMPOTENCY_CONFLICT');
      release();
      expect(await first).toMatchObject({ state: 'paid' });
      expect(psp.maxInFlight).toBe(1);
      expect(psp.effects().calls.capture - captures).toBe(1);
      await checkMarketInvariants(a, { provider: psp });
    });

    it('lets a retry with the same key resume a checkout as soon as the crashed caller’s lease ended', async () => {
      const crashed = await marketplace();
      const survivor = await marketplace();
      let entered!: () => void;
      const inCapture = new Promise<void>((r) => {
        entered = r;
      });
      // The capture goes through at the provider, then its caller's process dies before it records anything.
      psp.afterCapture = async () => {
        entered();
        await new Promise(() => {});
      };
      const captures = psp.effects().counts.capture;
      void crashed.orders.checkout(request('k-crash')).catch(() => {});
      await inCapture;
      await crashed.close(); // no more renewals: the process is gone
      clock.advance(LEASE_MS + 1);
      // One lease later, not the key module's default lock (60 s): the retry takes the key over and finishes it.
      const order = await survivor.orders.checkout(request('k-crash'));
      expect(order).toMatchObject({ state: 'paid', captureId: expect.any(String) });
      expect(psp.effects().counts.capture - captures).toBe(1);
      await checkMarketInvariants(survivor, { provider: psp });
    });
  });
}
