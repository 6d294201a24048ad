import { compareOrderFeedCursors, Money } from '@marketkit/core';
import { SandboxPaymentProvider, testBackends } from '@marketkit/testing';
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { useMarketWithListing } from './fixtures/market-with-listing.js';

const price = Money.of('40.00', 'USD');

for (const backend of testBackends()) {
  describe(`orders.feed on ${backend.name}`, () => {
    const t = useMarketWithListing(backend, { payments: new SandboxPaymentProvider() }, { price, quantity: 100 });
    let n = 0;
    const buy = (buyerId: string) =>
      t.market.orders.checkout({
        buyerId,
        listingId: t.listingId,
        quantity: 1,
        paymentMethod: 'tok_visa',
        idempotencyKey: `feed-${++n}`,
      });

    /**
     * Reads `after` until nothing is held back: on PostgreSQL any transaction older than a commit (another test file's,
     * on the same server) holds the feed back until it ends, by design; the test waits for that as a client would.
     */
    const settled = async (q: Parameters<typeof t.market.orders.feed>[0]) => {
      for (const deadline = Date.now() + 10_000; ; ) {
        const page = await t.market.orders.feed(q);
        if (!page.heldBack || Date.now() > deadline) return page;
        await new Promise((r) => setTimeout(r, 20));
      }
    };
    /** The feed's head once nothing is held back (a head taken while earlier events are held back is behind them). */
    const quietHead = async () => {
      for (const deadline = Date.now() + 10_000; ; ) {
        const head = await t.market.orders.feedHead();
        const page = await t.market.orders.feed({ after: head });
        if ((!page.heldBack && page.events.length === 0) || Date.now() > deadline) return head;
        await new Promise((r) => setTimeout(r, 20));
      }
    };

    it('reads events in commit order, in pages, bounded by until, and for an actor only their orders', async () => {
      const head = await quietHead();
      const first = await buy('alice');
      const second = await buy('carol');
      await t.market.orders.transition(first.id, 'ship', { actor: { role: 'seller', id: 'bob' } });

      const all = await settled({ after: head });
      expect(all.events.map((e) => [e.orderId, e.seq, e.to])).toEqual([
        [first.id, 1, 'checkout'],
        [first.id, 2, 'paid'],
        [second.id, 1, 'checkout'],
        [second.id, 2, 'paid'],
        [first.id, 3, 'shipped'],
      ]);
      expect(all.cursor).toBe(all.events.at(-1)?.cursor);
      expect(all.heldBack).toBe(false);
      for (let i = 1; i < all.events.length; i++) {
        expect(compareOrderFeedCursors(all.events[i - 1]?.cursor ?? '', all.events[i]?.cursor ?? '')).toBeLessThan(0);
      }
      expect(await t.market.orders.feedHead()).toBe(all.cursor);

      // Pages of two, read on from each page's cursor, give the same events.
      const paged = [];
      for (let after = head; ; ) {
        const page = await settled({ after, limit: 2 });
        paged.push(...page.events);
        if (page.events.length < 2) break;
        after = page.cursor;
      }
      expect(paged).toEqual(all.events);

      const until = all.events[2]?.cursor ?? '';
      expect((await settled({ after: head, until })).events).toEqual(all.events.slice(0, 3));

      const alice = await settled({ after: head, actor: { role: 'buyer', id: 'alice' } });
      expect(alice.events.map((e) => e.orderId)).toEqual([first.id, first.id, first.id]);
      const bobAsBuyer = await settled({ after: head, actor: { role: 'buyer', id: 'bob' } });
      expect(bobAsBuyer.events).toEqual([]);
      const ops = await settled({ after: head, actor: { role: 'operator', id: 'ops' } });
      expect(ops.events).toEqual(all.events);
    });

    it('refuses a cursor it never gave out', async () => {
      await expect(t.market.orders.feed({ after: 'ord_1:3' })).rejects.toMatchObject({ code: 'VALIDATION_FAILED' });
      await expect(t.market.orders.feed({ limit: 0 })).rejects.toMatchObject({ code: 'VALIDATION_FAILED' });
    });

    it.runIf(backend.name === 'postgres')(
      'holds back events behind a transaction that is still running, then gives both in commit order',
      async () => {
        const order = await buy('alice');
        const head = await quietHead();
        const late = new pg.Client({ connectionString: t.database.location });
        await late.connect();
        try {
          const { rows } = await late.query<{ tablename: string }>(
            "select tablename from pg_tables where tablename like '%order_events'",
          );
          const table = rows[0]?.tablename ?? 'order_events';
          // An older transaction writes an order event and stays open; a newer one commits after it began.
          await late.query('begin');
          await late.query(
            `insert into "${table}" (id, order_id, seq, transition, from_state, to_state, actor_role, actor_id, at)
             values ($1, $2, 99, 'note', 'paid', 'paid', 'system', 'system', 0)`,
            [`${order.id}:99`, order.id],
          );
          const newer = await buy('alice');

          const before = await t.market.orders.feed({ after: head });
          expect(before.events).toEqual([]);
          expect(before.heldBack).toBe(true);
          expect(before.cursor).toBe(head);

          await late.query('commit');
          const after = await settled({ after: head });
          expect(after.events.map((e) => [e.orderId, e.seq])).toEqual([
            [order.id, 99],
            [newer.id, 1],
            [newer.id, 2],
          ]);
          expect(after.heldBack).toBe(false);
        } finally {
          await late.end();
        }
      },
    );

    it.runIf(backend.name === 'postgres')(
      'is not held back by a transaction in another database of the same server (transaction ids are the server’s)',
      async () => {
        const head = await quietHead();
        const url = new URL(t.database.location);
        url.pathname = '/postgres';
        const elsewhere = new pg.Client({ connectionString: url.toString() });
        await elsewhere.connect();
        try {
          // Older than the checkout below, with a transaction id, and open until the end of the test.
          await elsewhere.query('begin');
          await elsewhere.query('select pg_current_xact_id()');
          const order = await buy('alice');
          const page = await settled({ after: head });
          expect(page.events.map((e) => [e.orderId, e.seq])).toEqual([
            [order.id, 1],
            [order.id, 2],
          ]);
          expect(page.heldBack).toBe(false);
        } finally {
          await elsewhere.query('rollback');
          await elsewhere.end();
        }
      },
    );
  });
}
