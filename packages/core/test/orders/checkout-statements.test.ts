/**
 * Checkout's two write transactions run compiled: as ONE statement each where the backend has writable CTEs
 * (PostgreSQL), as templated statements in one transaction elsewhere (SQLite). Either way they must write the same
 * rows as the generic path, return the order exactly as `get()` reads it, and, when a guard fails, change nothing
 * and leave the generic path to throw the same coded error.
 */
import { createMarketplace, type Marketplace, Money, Storage, type StorageAdapter } from '@marketkit/core';
import { ManualClock, type TestDatabase, testBackends } from '@marketkit/testing';
import { Kysely, sql } from 'kysely';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { CheckedStatement } from '../../src/storage/checked-statement.js';
import { HookedProvider } from './fixtures/hooked-provider.js';

for (const backend of testBackends()) {
  describe(`checkout statements on ${backend.name}`, () => {
    let database: TestDatabase;
    let market: Marketplace;
    let adapter: StorageAdapter;
    let db: Kysely<Record<string, Record<string, unknown>>>;
    const psp = new HookedProvider();
    let n = 0;

    beforeAll(async () => {
      database = await backend.createDatabase();
      adapter = database.adapter();
      market = createMarketplace({ adapter, clock: new ManualClock(), payments: psp });
      await market.migrate();
      db = new Kysely({ dialect: database.adapter().dialect });
    });
    afterAll(async () => {
      await db?.destroy();
      await market?.close();
      await database?.drop();
    });
    beforeEach(() => {
      psp.afterCapture = undefined;
    });

    const listing = async (quantity = 10, sellerId = `seller-${++n}`) =>
      (await market.listings.create({ sellerId, title: 'Lamp', price: Money.of('12.50', 'USD'), quantity })).id;
    const count = async (table: string, where: string, value: string) => {
      const r = await sql<{
        n: string | number | bigint;
      }>`select count(*) as n from ${sql.table(table)} where ${sql.ref(where)} = ${value}`.execute(db);
      return Number(r.rows[0]?.n);
    };
    const escrowRows = (orderId: string) => count('mk_accounts', 'id', `mk:escrow:${orderId}`);

    it('returns the order exactly as get() reads it, with order events and outbox events 1 and 2', async () => {
      const listingId = await listing();
      const order = await market.orders.checkout({
        buyerId: 'alice',
        listingId,
        quantity: 3,
        paymentMethod: 'tok_visa',
        idempotencyKey: `k-${n}`,
      });
      expect(order).toEqual(await market.orders.get(order.id));
      expect(order).toMatchObject({ state: 'paid', version: 1, quantity: 3 });
      expect(order.escrowBalance.minor).toBe(3750n);
      const history = await market.orders.history(order.id);
      expect(history.map((e) => [e.seq, e.transition, e.from, e.to])).toEqual([
        [1, 'checkout', null, 'checkout'],
        [2, 'confirmPayment', 'checkout', 'paid'],
      ]);
      expect(history[0]?.data).toEqual({ quantity: 3, amountMinor: '3750' });
      const outbox = await sql<{ seq: unknown; type: string; payload: unknown }>`select seq, type, payload
        from mk_outbox_events where aggregate_type = 'order' and aggregate_id = ${order.id} order by seq`.execute(db);
      expect(outbox.rows.map((r) => [Number(r.seq), r.type])).toEqual([
        [1, 'order.checkout'],
        [2, 'order.confirmPayment'],
      ]);
      const payload = (v: unknown) => (typeof v === 'string' ? JSON.parse(v) : v);
      expect(payload(outbox.rows[0]?.payload)).toEqual({
        orderId: order.id,
        seq: 1,
        transition: 'checkout',
        from: null,
        to: 'checkout',
        actor: { role: 'buyer', id: 'alice' },
        listingId,
        quantity: 3,
        amountMinor: '3750',
        currency: 'USD',
      });
      const [escrow] = await market.ledger.getAccounts([`mk:escrow:${order.id}`]);
      expect(escrow).toMatchObject({ creditsPosted: 3750n, version: 1n, ownerId: order.id, code: 903 });
      const [seller] = await market.ledger.getAccounts([`mk:seller:${order.sellerId}:USD`]);
      expect(seller).toMatchObject({ ownerId: order.sellerId, code: 902, flags: { debitsMustNotExceedCredits: true } });
      expect(await market.listings.get(listingId)).toMatchObject({ sold: 3, reserved: 0 });
      expect((await market.ledger.verify()).ok).toBe(true);
      expect((await market.listings.verifyStock()).ok).toBe(true);
      // A replay by key returns the stored order, identical.
      const replay = await market.orders.checkout({
        buyerId: 'alice',
        listingId,
        quantity: 3,
        paymentMethod: 'tok_visa',
        idempotencyKey: `k-${n}`,
      });
      expect(replay).toEqual(order);
    });

    it('refuses a checkout the stock guard fails with INSUFFICIENT_STOCK and writes nothing', async () => {
      const listingId = await listing(2);
      const orderId = `ord_short_${n}`;
      await expect(
        market.orders.checkout({ orderId, buyerId: 'alice', listingId, quantity: 3, paymentMethod: 'tok_visa' }),
      ).rejects.toMatchObject({ code: 'INSUFFICIENT_STOCK' });
      expect(await market.orders.get(orderId)).toBeUndefined();
      expect(await market.listings.get(listingId)).toMatchObject({ sold: 0, reserved: 0 });
      expect(await escrowRows(orderId)).toBe(0);
      expect(await count('mk_stock_reservations', 'order_id', orderId)).toBe(0);
      expect(await count('mk_outbox_aggregates', 'aggregate_id', orderId)).toBe(0);
    });

    it('refuses the seller’s own listing (FORBIDDEN) and a missing one (NOT_FOUND), writing nothing', async () => {
      const listingId = await listing(5, 'carol');
      const own = `ord_own_${n}`;
      await expect(
        market.orders.checkout({ orderId: own, buyerId: 'carol', listingId, quantity: 1, paymentMethod: 'tok_visa' }),
      ).rejects.toMatchObject({ code: 'FORBIDDEN' });
      await expect(
        market.orders.checkout({ buyerId: 'carol', listingId: 'lst_missing', quantity: 1, paymentMethod: 'tok_visa' }),
      ).rejects.toMatchObject({ code: 'NOT_FOUND' });
      expect(await market.orders.get(own)).toBeUndefined();
      expect(await escrowRows(own)).toBe(0);
      expect(await market.listings.get(listingId)).toMatchObject({ sold: 0, reserved: 0 });
    });

    it('refuses an order id reused for another request (IDEMPOTENCY_KEY_REUSED), taking no stock', async () => {
      const listingId = await listing(5);
      const orderId = `ord_reuse_${n}`;
      await market.orders.checkout({ orderId, buyerId: 'alice', listingId, quantity: 1, paymentMethod: 'tok_visa' });
      await expect(
        market.orders.checkout({ orderId, buyerId: 'alice', listingId, quantity: 2, paymentMethod: 'tok_visa' }),
      ).rejects.toMatchObject({ code: 'IDEMPOTENCY_KEY_REUSED' });
      expect(await market.listings.get(listingId)).toMatchObject({ sold: 1, reserved: 0 });
    });

    it('confirms nothing when the order moved on during capture: INVALID_TRANSITION, no capture recorded', async () => {
      const listingId = await listing(5);
      const orderId = `ord_moved_${n}`;
      const before = psp.effects();
      psp.afterCapture = async () => {
        await market.orders.transition(orderId, 'cancelUnpaid', { actor: { role: 'buyer', id: 'alice' } });
      };
      await expect(
        market.orders.checkout({ orderId, buyerId: 'alice', listingId, quantity: 2, paymentMethod: 'tok_visa' }),
      ).rejects.toMatchObject({ code: 'INVALID_TRANSITION' });
      const order = await market.orders.get(orderId);
      expect(order).toMatchObject({ state: 'cancelled', captureId: null });
      expect(order?.escrowBalance.minor).toBe(0n);
      expect(await count('mk_transfers', 'id', `${orderId}:capture`)).toBe(0);
      expect(await market.listings.get(listingId)).toMatchObject({ sold: 0, reserved: 0 });
      expect((await market.orders.history(orderId)).map((e) => e.seq)).toEqual([1, 2]);
      expect((await market.ledger.verify()).ok).toBe(true);
      // The cancel found the authorization captured and refunded it in full; the checkout saga then compensated.
      const after = psp.effects();
      expect(after.capturedMinor - before.capturedMinor).toBe(2500n);
      expect(after.refundedMinor - before.refundedMinor).toBe(2500n);
      expect(after.counts.refund - before.counts.refund).toBe(1);
      expect(await market.sagas.get(`checkout:${orderId}`)).toMatchObject({
        status: 'compensated',
        lastError: { code: 'INVALID_TRANSITION' },
      });
    });

    it('confirms through the ledger’s generic path when escrow already holds money, with the same result', async () => {
      const listingId = await listing(5);
      const orderId = `ord_topped_${n}`;
      psp.afterCapture = async () => {
        await market.ledger.createAccounts([{ id: `host-${n}`, currency: 'USD', code: 1 }]);
        const [r] = await market.ledger.createTransfers([
          {
            id: `top-${n}`,
            debitAccountId: `host-${n}`,
            creditAccountId: `mk:escrow:${orderId}`,
            amount: 5n,
            currency: 'USD',
          },
        ]);
        expect(r?.result).toBe('ok');
      };
      const order = await market.orders.checkout({
        orderId,
        buyerId: 'alice',
        listingId,
        quantity: 1,
        paymentMethod: 'tok_visa',
      });
      expect(order).toEqual(await market.orders.get(orderId));
      expect(order.escrowBalance.minor).toBe(1255n);
      expect(order.state).toBe('paid');
      expect(await market.listings.get(listingId)).toMatchObject({ sold: 1, reserved: 0 });
      expect((await market.ledger.verify()).ok).toBe(true);
    });

    it('rolls the confirmation back when the idempotency key was taken over: LEASE_LOST, order still in checkout', async () => {
      const listingId = await listing(5);
      const key = `k-lost-${n}`;
      psp.afterCapture = async () => {
        await sql`update mk_idempotency_keys set lock_token = 'someone-else' where idempotency_key = ${key}`.execute(
          db,
        );
      };
      await expect(
        market.orders.checkout({
          buyerId: 'alice',
          listingId,
          quantity: 1,
          paymentMethod: 'tok_visa',
          idempotencyKey: key,
        }),
      ).rejects.toMatchObject({ code: 'LEASE_LOST' });
      const rows = await sql<{
        id: string;
        state: string;
      }>`select id, state from mk_orders where listing_id = ${listingId}`.execute(db);
      expect(rows.rows).toHaveLength(1);
      const orderId = rows.rows[0]!.id;
      expect(rows.rows[0]?.state).toBe('checkout');
      expect(await count('mk_transfers', 'id', `${orderId}:capture`)).toBe(0);
      expect(await market.listings.get(listingId)).toMatchObject({ sold: 0, reserved: 1 });
      expect((await market.orders.history(orderId)).map((e) => e.seq)).toEqual([1]);
    });

    it.skipIf(backend.name !== 'postgres')(
      'CheckedStatement: a failing check rolls back every write of the statement and names the check (writable CTEs)',
      async () => {
        const storage = new Storage(database.adapter());
        try {
          const write = (p: (name: string) => never) =>
            sql`w as (insert into ${sql.table('accounts')} (id, code, currency, flags, created_at)
              values (${p('id')}, 1, 'USD', 0, 0) returning id)`;
          const failing = new CheckedStatement(storage, (p) => ({
            ctes: [write(p)],
            checks: [
              { name: 'wrote one', ok: sql`(select count(*) from w) = 1` },
              { name: 'never', ok: sql`(select count(*) from w) = 2` },
            ],
          }));
          expect(await failing.run({ id: 'acct-checked' })).toEqual({ ok: false, failed: 'never' });
          expect(await count('mk_accounts', 'id', 'acct-checked')).toBe(0);
          const passing = new CheckedStatement(storage, (p) => ({
            ctes: [write(p)],
            checks: [{ name: 'wrote one', ok: sql`(select count(*) from w) = 1` }],
            result: 'w',
          }));
          expect(await passing.run({ id: 'acct-checked' })).toMatchObject({ ok: true, rows: [{ id: 'acct-checked' }] });
          expect(await passing.run({ id: 'acct-checked-2' })).toMatchObject({
            ok: true,
            rows: [{ id: 'acct-checked-2' }],
          });
          expect(await count('mk_accounts', 'id', 'acct-checked')).toBe(1);
          expect(await count('mk_accounts', 'id', 'acct-checked-2')).toBe(1);
        } finally {
          await storage.destroy();
        }
      },
    );

    it.skipIf(backend.name !== 'postgres')(
      'checks out in one statement per transaction with the tables in a schema of their own',
      async () => {
        const shop = createMarketplace({ adapter: database.adapter(), schema: 'shop', payments: psp });
        try {
          await shop.migrate();
          const listingId = (
            await shop.listings.create({ sellerId: 'dan', title: 'Desk', price: Money.of('80', 'USD'), quantity: 2 })
          ).id;
          const order = await shop.orders.checkout({
            buyerId: 'erin',
            listingId,
            quantity: 2,
            paymentMethod: 'tok_visa',
            idempotencyKey: 'k-shop',
          });
          expect(order).toEqual(await shop.orders.get(order.id));
          expect(order).toMatchObject({ state: 'paid' });
          await expect(
            shop.orders.checkout({ buyerId: 'erin', listingId, quantity: 1, paymentMethod: 'tok_visa' }),
          ).rejects.toMatchObject({ code: 'INSUFFICIENT_STOCK' });
          expect((await shop.ledger.verify()).ok).toBe(true);
          expect((await shop.orders.verifyEscrow()).ok).toBe(true);
        } finally {
          await shop.close();
        }
      },
    );
  });
}
