import { type Actor, createMarketplace, isMarketkitError, type Marketplace } from '@marketkit/core';
import { ManualClock, SandboxPaymentProvider, type TestDatabase, testBackends } from '@marketkit/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { completedSale } from './completed-sale.js';

/** Who reads a payout of seller bob. A payout has a seller and no buyer, so no buyer sees one. */
const READERS: readonly { actor: Actor; sees: boolean }[] = [
  { actor: { role: 'seller', id: 'bob' }, sees: true },
  { actor: { role: 'seller', id: 'eve' }, sees: false },
  { actor: { role: 'buyer', id: 'bob' }, sees: false },
  { actor: { role: 'buyer', id: 'alice' }, sees: false },
  { actor: { role: 'operator', id: 'ops-1' }, sees: true },
  { actor: { role: 'system', id: 'system' }, sees: true },
];
const MISSING = 'no-such-payout';

/** An error as a caller sees it, with the payout id replaced, so two errors about two ids can be compared. */
function shape(e: unknown, id: string): unknown {
  if (!isMarketkitError(e)) return e;
  return { name: e.name, ...JSON.parse(JSON.stringify(e.toJSON()).replaceAll(id, '<id>')) };
}

const settle = (p: Promise<unknown>): Promise<unknown> =>
  p.then(
    (v) => ({ resolved: v }),
    (e: unknown) => e,
  );

for (const backend of testBackends()) {
  describe(`payout reads × role on ${backend.name}`, () => {
    let database: TestDatabase;
    let market: Marketplace;
    const psp = new SandboxPaymentProvider();
    const payoutId = 'po-bob-1';

    beforeAll(async () => {
      database = await backend.createDatabase();
      market = createMarketplace({ adapter: database.adapter(), clock: new ManualClock(), payments: psp });
      await market.migrate();
      await completedSale(market);
      await market.payouts.request({
        payoutId,
        sellerId: 'bob',
        currency: 'USD',
        amountMinor: 10_00n,
        destination: 'ba_bob',
      });
    });
    afterAll(async () => {
      await market?.close();
      await database?.drop();
    });

    it.each(READERS.map((r) => [`${r.actor.role} ${r.actor.id}`, r] as const))('get by %s', async (_who, r) => {
      const trusted = await market.payouts.get(payoutId);
      expect(trusted).toMatchObject({ id: payoutId, sellerId: 'bob', status: 'paid' });
      const outcome = await settle(market.payouts.get(payoutId, { actor: r.actor }));
      if (r.sees) {
        expect(outcome).toEqual({ resolved: trusted });
        return;
      }
      const missing = await settle(market.payouts.get(MISSING, { actor: r.actor }));
      expect(isMarketkitError(outcome) && outcome.code).toBe('NOT_FOUND');
      expect(shape(outcome, payoutId)).toEqual(shape(missing, MISSING));
    });

    it('refuses a missing payout to every reader with NOT_FOUND; without an actor it is undefined', async () => {
      for (const { actor } of READERS) {
        expect(shape(await settle(market.payouts.get(MISSING, { actor })), MISSING)).toEqual({
          name: 'MarketkitError',
          code: 'NOT_FOUND',
          retryable: false,
          message: 'Payout <id> does not exist.',
          details: { resource: 'payout', id: '<id>' },
        });
      }
      expect(await market.payouts.get(MISSING)).toBeUndefined();
      expect(await market.payouts.get(MISSING, {})).toBeUndefined();
    });

    it.each([
      ['an unknown role', { actor: { role: 'admin', id: 'x' } }],
      ['an empty actor id', { actor: { role: 'seller', id: '' } }],
      ['an actor with an extra field', { actor: { role: 'seller', id: 'bob', admin: true } }],
      ['an unknown option', { as: 'operator' }],
      ['options that are not an object', 42],
    ])('refuses %s with VALIDATION_FAILED', async (_what, options) => {
      const get = market.payouts.get.bind(market.payouts) as (id: string, options: unknown) => Promise<unknown>;
      for (const id of [payoutId, MISSING]) {
        expect(await settle(get(id, options))).toMatchObject({ name: 'ValidationError', code: 'VALIDATION_FAILED' });
      }
    });

    it('refuses a malformed payout id with VALIDATION_FAILED', async () => {
      for (const id of ['', 'has space', 'x'.repeat(101)]) {
        expect(await settle(market.payouts.get(id))).toMatchObject({ code: 'VALIDATION_FAILED' });
      }
    });
  });
}
