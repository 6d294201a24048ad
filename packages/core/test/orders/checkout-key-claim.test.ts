/**
 * A checkout's fresh idempotency key is claimed by the create-order statement (or transaction) itself: the key is
 * claimed exactly when the order is written, so a refused checkout leaves no claim behind, and the key's stored
 * outcome is the same as when it was claimed on its own. On PostgreSQL a keyed checkout is then three statements.
 */
import { postgresAdapter } from '@marketkit/adapters/postgres';
import { createMarketplace, type Marketplace, Money } from '@marketkit/core';
import { checkMarketInvariants, SandboxPaymentProvider, type TestDatabase, testBackends } from '@marketkit/testing';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

for (const backend of testBackends()) {
  describe(`checkout key claimed in the create-order write on ${backend.name}`, () => {
    let database: TestDatabase;
    let market: Marketplace;
    const psp = new SandboxPaymentProvider();
    /** Statements sent to PostgreSQL so far (every connection of the pool). */
    let statements = 0;
    let n = 0;
    let endPool = async () => {};

    beforeAll(async () => {
      database = await backend.createDatabase();
      let adapter = database.adapter();
      if (backend.name === 'postgres') {
        const pool = new pg.Pool({ connectionString: database.location, max: 2 });
        endPool = () => pool.end(); // the host's pool: closing the marketplace leaves it open
        pool.on('connect', (client) => {
          const query = client.query.bind(client) as (...args: unknown[]) => unknown;
          client.query = ((...args: unknown[]) => {
            statements++;
            return query(...args);
          }) as typeof client.query;
        });
        adapter = postgresAdapter({ pool });
      }
      market = createMarketplace({ adapter, payments: psp });
      await market.migrate();
    });
    afterAll(async () => {
      await market?.close();
      await endPool();
      await database?.drop();
    });

    const listing = async (quantity: number) =>
      (
        await market.listings.create({
          sellerId: `seller-${++n}`,
          title: 'Chair',
          price: Money.of('30.00', 'USD'),
          quantity,
        })
      ).id;
    const checkout = (listingId: string, quantity: number, idempotencyKey: string) =>
      market.orders.checkout({ buyerId: 'carol', listingId, quantity, paymentMethod: 'tok_visa', idempotencyKey });

    it.runIf(backend.name === 'postgres')(
      'sends a keyed checkout as three statements: create, authorization, confirm',
      async () => {
        const listingId = await listing(5);
        await checkout(listingId, 1, 'warm-up'); // prepares the statements on a connection
        const before = statements;
        const order = await checkout(listingId, 1, `k-three-${n}`);
        expect(order.state).toBe('paid');
        expect(statements - before).toBe(3);
      },
    );

    it('records the outcome under the key and replays it without running anything', async () => {
      const listingId = await listing(5);
      const key = `k-replay-${n}`;
      const order = await checkout(listingId, 2, key);
      const calls = psp.effects().calls;
      expect(await checkout(listingId, 2, key)).toEqual(order);
      expect(psp.effects().calls).toEqual(calls);
      await expect(checkout(listingId, 1, key)).rejects.toMatchObject({ code: 'IDEMPOTENCY_KEY_REUSED' });
      expect(await market.listings.get(listingId)).toMatchObject({ sold: 2, reserved: 0 });
    });

    it('leaves no claim behind when the stock guard refuses: INSUFFICIENT_STOCK stores nothing, the key stays free', async () => {
      const listingId = await listing(1);
      const key = `k-short-${n}`;
      const calls = psp.effects().calls.authorize;
      await expect(checkout(listingId, 2, key)).rejects.toMatchObject({ code: 'INSUFFICIENT_STOCK' });
      // Refused before it started executing: nothing stored, so the same request runs again (and is refused again).
      await expect(checkout(listingId, 2, key)).rejects.toMatchObject({ code: 'INSUFFICIENT_STOCK' });
      expect(await market.idempotency.inspect({ key, actor: 'carol', operation: 'orders.checkout' })).toBeUndefined();
      expect(psp.effects().calls.authorize).toBe(calls);
      expect(await market.listings.get(listingId)).toMatchObject({ sold: 0, reserved: 0, available: 1 });
      // The corrected request may use the key: it checks out.
      expect(await checkout(listingId, 1, key)).toMatchObject({ state: 'paid', quantity: 1 });
      await checkMarketInvariants(market);
    });
  });
}
