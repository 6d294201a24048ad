/**
 * A storage error at any statement of a checkout (as a pooler that loses prepared statements causes) never leaves
 * money at the provider that no order accounts for: whatever failed after an authorization ends, through the
 * caller's retry and the worker, with the hold captured into escrow or voided (a capture refunded), once.
 */
import { createMarketplace, isMarketkitError, type Marketplace, Money, type Order } from '@marketkit/core';
import {
  checkMarketInvariants,
  type FaultTiming,
  ManualClock,
  SandboxPaymentProvider,
  type StatementFaults,
  type TestDatabase,
  testBackends,
  withStatementFaults,
} from '@marketkit/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const RESERVATION_MS = 15 * 60 * 1000;
const PRICE = 2500n;

for (const backend of testBackends()) {
  describe(`checkout under storage faults on ${backend.name}`, () => {
    let database: TestDatabase;
    let market: Marketplace;
    let faults: StatementFaults;
    const clock = new ManualClock();
    const psp = new SandboxPaymentProvider();
    let listingId: string;

    beforeAll(async () => {
      database = await backend.createDatabase();
      faults = withStatementFaults(database.adapter());
      market = createMarketplace({ adapter: faults.adapter, clock, payments: psp, pendingOpTimeoutMs: 5_000 });
      await market.migrate();
      listingId = (
        await market.listings.create({
          sellerId: 'bob',
          title: 'Lamp',
          price: Money.fromMinor(PRICE, 'USD'),
          quantity: 10_000,
        })
      ).id;
    });
    afterAll(async () => {
      await market?.close();
      await database?.drop();
    });

    /** Every order this file made, all expected paid: any other capture would be one no order accounts for. */
    const made = new Set<string>();
    const checkout = async (key: string) => {
      const order = await market.orders.checkout({
        buyerId: 'alice',
        listingId,
        quantity: 1,
        paymentMethod: 'tok_visa',
        idempotencyKey: key,
      });
      made.add(order.id);
      return order;
    };

    /** Runs the worker until it finds nothing, moving the clock past every lease and backoff each round. */
    const drain = async () => {
      for (let round = 0; round < 60; round++) {
        clock.advance(61_000);
        if ((await market.worker().runOnce()) === 0 && round > 2) return;
      }
    };

    it('counts the statements of a clean keyed checkout', async () => {
      const before = faults.count;
      expect((await checkout('clean')).state).toBe('paid');
      expect(faults.count - before).toBeGreaterThan(2);
    });

    for (const timing of ['before', 'after'] as const satisfies readonly FaultTiming[]) {
      it(`ends every checkout paid or voided when statement N fails ${timing} it runs, for every N`, async () => {
        const before = faults.count;
        await checkout(`probe-${timing}`);
        const statements = faults.count - before;
        const outcomes: { key: string; first: string; retried: Order | undefined }[] = [];
        for (let n = 1; n <= statements + 2; n++) {
          const key = `fault-${timing}-${n}`;
          faults.failNth(n, timing);
          const first = await checkout(key).then(
            (o) => o.state,
            (e: unknown) => (isMarketkitError(e) ? e.code : String(e)),
          );
          faults.disarm();
          // The caller retries with the same key, at once and once the leases passed: it gets its paid order or a
          // retryable error, never a second charge.
          let retried: Order | undefined;
          for (let attempt = 0; attempt < 3 && retried === undefined; attempt++) {
            retried = await checkout(key).catch((e: unknown) => {
              if (isMarketkitError(e) && e.retryable) return undefined;
              throw e;
            });
            clock.advance(6_000);
          }
          outcomes.push({ key, first, retried });
        }
        await drain();
        clock.advance(3 * 24 * 3600 * 1000 + RESERVATION_MS);
        await drain();
        // Some statement failed in every round (the faults fired): the rounds exercised what they meant to.
        expect(outcomes.filter((o) => o.first !== 'paid').length).toBeGreaterThan(statements / 2);
        const effects = psp.effects();
        expect(effects.openAuthorizedMinor).toBe(0n);
        // Every capture is in the escrow of one of the orders made here, or was refunded in full.
        for (const id of made) expect((await market.orders.get(id))?.state).toBe('paid');
        expect(effects.capturedMinor - effects.refundedMinor).toBe(PRICE * BigInt(made.size));
        // And none was given up on: every caller's retry got its order paid.
        for (const o of outcomes) expect(o.retried?.state).toBe('paid');
        const orders = await Promise.all(outcomes.map((o) => market.orders.get(o.retried!.id)));
        for (const order of orders) expect(order).toMatchObject({ state: 'paid', captureId: expect.any(String) });
        await checkMarketInvariants(market, { provider: psp });
      });
    }
  });
}
