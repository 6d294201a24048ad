import { createMarketplace, type Marketplace, Money, Storage } from '@marketkit/core';
import {
  checkMarketInvariants,
  ManualClock,
  SandboxPaymentProvider,
  type TestDatabase,
  testBackends,
} from '@marketkit/testing';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rawSql } from '../invariants/raw-sql.js';

for (const backend of testBackends()) {
  describe(`checkout verification on ${backend.name}`, () => {
    let database: TestDatabase;
    let market: Marketplace;
    let storage: Storage;
    const clock = new ManualClock();
    const psp = new SandboxPaymentProvider({ clock });
    let listingId: string;
    let raw: ReturnType<typeof rawSql>;

    beforeAll(async () => {
      database = await backend.createDatabase();
      market = createMarketplace({ adapter: database.adapter(), clock, payments: psp });
      await market.migrate();
      storage = new Storage(database.adapter());
      raw = rawSql(database);
      listingId = (
        await market.listings.create({ sellerId: 'bob', title: 'Lamp', price: Money.of('40.00', 'USD'), quantity: 5 })
      ).id;
    });
    afterAll(async () => {
      await raw?.close();
      await storage?.destroy();
      await market?.close();
      await database?.drop();
    });

    const checkoutAs = (orderId: string, paymentMethod = 'tok_visa') =>
      market.orders.checkout({ orderId, buyerId: 'alice', listingId, quantity: 1, paymentMethod });
    /** Corrupts by hand, expects exactly `problems` (and the checker to throw the first), repairs, expects none. */
    const expectCaught = async (
      corrupt: string | readonly string[],
      problems: readonly string[],
      repair: string | readonly string[],
    ) => {
      const statements = (s: string | readonly string[]) => (typeof s === 'string' ? [s] : s);
      expect((await market.orders.verifyCheckouts()).problems).toEqual([]);
      for (const statement of statements(corrupt)) await raw.run(sql.raw(statement));
      const verification = await market.orders.verifyCheckouts();
      expect(verification.ok).toBe(false);
      expect(verification.problems).toEqual(problems);
      await expect(checkMarketInvariants(market)).rejects.toThrow(problems[0]);
      for (const statement of statements(repair)) await raw.run(sql.raw(statement));
      expect((await market.orders.verifyCheckouts()).problems).toEqual([]);
    };

    it('fails on an order still in checkout whose saga completed, or whose capture is not the saga’s', async () => {
      const order = await checkoutAs('cv-paid');
      const where = `order ${order.id} (checkout), checkout saga completed`;
      await expectCaught(
        `update mk_orders set state = 'checkout' where id = '${order.id}'`,
        [`${where}: the saga completed but the order is still in checkout`],
        `update mk_orders set state = 'paid' where id = '${order.id}'`,
      );
      await expectCaught(
        `update mk_orders set capture_id = 'ch_forged' where id = '${order.id}'`,
        [
          `order ${order.id} (paid), checkout saga completed: the order's capture ch_forged is not the saga's ${order.captureId}`,
        ],
        `update mk_orders set capture_id = '${order.captureId}' where id = '${order.id}'`,
      );
    });

    it('fails on a compensated checkout whose order is still in checkout or holds a capture', async () => {
      await expect(checkoutAs('cv-declined', 'tok_decline')).rejects.toMatchObject({ code: 'PAYMENT_DECLINED' });
      expect(await market.orders.get('cv-declined')).toMatchObject({ state: 'cancelled', captureId: null });
      await expectCaught(
        `update mk_orders set state = 'checkout' where id = 'cv-declined'`,
        [
          'order cv-declined (checkout), checkout saga compensated: the saga was compensated but the order is still in checkout',
        ],
        `update mk_orders set state = 'cancelled' where id = 'cv-declined'`,
      );
      await expectCaught(
        `update mk_orders set capture_id = 'ch_forged' where id = 'cv-declined'`,
        [
          'order cv-declined (cancelled), checkout saga compensated: the saga was compensated but the order holds a capture',
        ],
        `update mk_orders set capture_id = null where id = 'cv-declined'`,
      );
    });

    it('fails on an order in checkout whose saga an operator resolved', async () => {
      await expect(checkoutAs('cv-declined-2', 'tok_decline')).rejects.toMatchObject({ code: 'PAYMENT_DECLINED' });
      await expectCaught(
        [
          `update mk_saga_instances set status = 'resolved' where id = 'checkout:cv-declined-2'`,
          `update mk_orders set state = 'checkout' where id = 'cv-declined-2'`,
        ],
        [
          'order cv-declined-2 (checkout), checkout saga resolved: an operator resolved the saga but the order is still in checkout',
        ],
        [
          `update mk_saga_instances set status = 'compensated' where id = 'checkout:cv-declined-2'`,
          `update mk_orders set state = 'cancelled' where id = 'cv-declined-2'`,
        ],
      );
    });

    it('fails on an order without its checkout saga, and on a saga without its order', async () => {
      const order = await checkoutAs('cv-orphan');
      await expectCaught(
        `update mk_saga_instances set id = 'checkout:cv-ghost' where id = 'checkout:${order.id}'`,
        [
          `order ${order.id}: no checkout saga`,
          'checkout saga checkout:cv-ghost (completed): its order does not exist',
        ],
        `update mk_saga_instances set id = 'checkout:${order.id}' where id = 'checkout:cv-ghost'`,
      );
    });

    it('fails on an order that is paid (or later) without a capture id', async () => {
      const order = await market.orders.checkout({
        buyerId: 'alice',
        listingId,
        quantity: 1,
        paymentMethod: 'tok_visa',
      });
      await market.orders.transition(order.id, 'ship', { actor: { role: 'seller', id: 'bob' } });
      expect(await market.orders.verifyCheckouts()).toMatchObject({ ok: true, problems: [] });
      await checkMarketInvariants(market, { provider: psp });
      // Set up through the storage layer: the public path to this state (confirmPayment fired through
      // `orders.transition` on an order whose capture had failed, issue 16) is being closed, and no other public
      // path reaches it. What that path left behind is exactly this: escrow funded and the order paid (here shipped
      // on) with a null capture id, and its checkout saga compensated (its own confirm was refused).
      await storage.run((db) =>
        db.updateTable('orders').set({ capture_id: null }).where('id', '=', order.id).execute(),
      );
      await storage.run((db) =>
        db
          .updateTable('saga_instances')
          .set({ status: 'compensated' })
          .where('id', '=', `checkout:${order.id}`)
          .execute(),
      );
      const verification = await market.orders.verifyCheckouts();
      expect(verification.ok).toBe(false);
      expect(verification.problems).toEqual([`order ${order.id} (shipped): paid without a capture id`]);
      const report = await market.payments.reconcile({ from: 0, to: clock.now() + 1 });
      expect(report.discrepancies).toMatchObject([
        { kind: 'paid_without_capture', orderId: order.id, localId: `${order.id}:capture`, amountMinor: 40_00n },
      ]);
      await expect(checkMarketInvariants(market)).rejects.toThrow(/paid without a capture id/);
    });
  });
}
