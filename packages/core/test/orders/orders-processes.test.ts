// Orders under real concurrency on PostgreSQL: several worker processes (each with its own pool) share one database
// and one sandbox payment provider served over HTTP, so every exactly-once claim is checked across processes.
import { createMarketplace, type Marketplace, Money } from '@marketkit/core';
import {
  checkMarketInvariants,
  httpPaymentProvider,
  SandboxPaymentProvider,
  serveSandbox,
  type TestDatabase,
  testBackends,
} from '@marketkit/testing';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { CallOutcome, RetryOutcome } from './fixtures/orders-worker.js';
import { holdingProxy, queryRows, WorkerProcess, waitFor } from './fixtures/worker-process.js';

const backend = testBackends().find((b) => b.name === 'postgres');
const PROCESSES = 4;

describe.runIf(backend !== undefined)('orders across worker processes on postgres', () => {
  let database: TestDatabase;
  let market: Marketplace;
  const psp = new SandboxPaymentProvider();
  let sandbox: { url: string; close(): Promise<void> };
  let workers: WorkerProcess[] = [];

  beforeAll(async () => {
    database = await backend!.createDatabase();
    sandbox = await serveSandbox(psp);
    market = createMarketplace({
      adapter: database.adapter(),
      payments: httpPaymentProvider(sandbox.url),
      pendingOpTimeoutMs: 200,
    });
    await market.migrate();
  });
  afterEach(async () => {
    await Promise.all(workers.map((w) => w.kill()));
    workers = [];
  });
  afterAll(async () => {
    await market?.close();
    await sandbox?.close();
    await database?.drop();
  });

  const startWorkers = async (n: number, sandboxUrl = sandbox.url, pendingOpTimeoutMs = 60_000) => {
    const started = await Promise.all(
      Array.from({ length: n }, () => WorkerProcess.start(database.location, sandboxUrl, pendingOpTimeoutMs)),
    );
    workers.push(...started);
    return started;
  };
  const ordersOf = (listingId: string) =>
    queryRows<{ id: string; buyerId: string; state: string; pending_op: string | null }>(
      database.location,
      'select id, buyer_id as "buyerId", state, pending_op from mk_orders where listing_id = $1 order by id',
      [listingId],
    );

  it('sells the last 7 items to exactly 7 of 48 buyers racing through checkout in 4 processes', async () => {
    const price = Money.of('25.00', 'USD');
    const listing = await market.listings.create({ sellerId: 'seller-race', title: 'last seven', price, quantity: 7 });
    const before = psp.effects();
    const procs = await startWorkers(PROCESSES);
    // Every process is connected and waiting: release all 48 checkouts at once.
    const outcomes = (
      await Promise.all(
        procs.map((w, p) =>
          w.call<CallOutcome[]>({
            op: 'checkoutMany',
            inputs: Array.from({ length: 12 }, (_, i) => ({
              buyerId: `buyer-${p}-${i}`,
              listingId: listing.id,
              quantity: 1,
              paymentMethod: 'tok_visa',
            })),
          }),
        ),
      )
    ).flat();

    const paid = outcomes.flatMap((o) => (o.ok ? [o.order] : []));
    const refused = outcomes.flatMap((o) => (o.ok ? [] : [o.code]));
    expect(paid.map((o) => o.state)).toEqual(Array(7).fill('paid'));
    expect(refused).toEqual(Array(41).fill('INSUFFICIENT_STOCK'));
    expect(new Set(paid.map((o) => o.id)).size).toBe(7);

    expect(await market.listings.get(listing.id)).toMatchObject({ quantity: 7, sold: 7, reserved: 0, available: 0 });
    const rows = await ordersOf(listing.id);
    expect(rows.map((r) => r.state)).toEqual(Array(7).fill('paid'));
    expect(rows.map((r) => r.id).sort()).toEqual(paid.map((o) => o.id).sort());
    expect(rows.every((r) => r.pending_op === null)).toBe(true);

    const after = psp.effects();
    expect(after.counts.authorize - before.counts.authorize).toBe(7);
    expect(after.counts.capture - before.counts.capture).toBe(7);
    expect(after.counts.void - before.counts.void).toBe(0);
    expect(after.capturedMinor - before.capturedMinor).toBe(7n * price.minor);
    for (const o of paid) expect((await market.orders.get(o.id))?.escrowBalance.minor).toBe(price.minor);
    await checkMarketInvariants(market);
  }, 40_000);

  const sameCheckoutCases = [
    { name: 'the same orderId', input: (round: number) => ({ orderId: `ord-same-${round}` }) },
    { name: 'the same idempotency key (no orderId)', input: (round: number) => ({ idempotencyKey: `key-${round}` }) },
  ] as const;
  for (const c of sameCheckoutCases) {
    it(`runs a checkout sent with ${c.name} from 4 processes at once exactly once`, async () => {
      const price = Money.of('9.99', 'USD');
      const listing = await market.listings.create({ sellerId: 'seller-same', title: 'dup', price, quantity: 10 });
      const procs = await startWorkers(PROCESSES);
      for (let round = 0; round < 3; round++) {
        const before = psp.effects();
        const input = {
          buyerId: `buyer-same-${round}`,
          listingId: listing.id,
          quantity: 1,
          paymentMethod: 'tok_visa',
          ...c.input(round),
        };
        const results = await Promise.all(
          procs.map((w) => w.call<RetryOutcome>({ op: 'checkoutRetry', input, attempts: 200 })),
        );
        const report = JSON.stringify(results);
        const firstOk = results.find((r) => r.final.ok)?.final;
        const orderId = 'orderId' in input ? input.orderId : firstOk?.ok ? firstOk.order.id : '(none succeeded)';

        // The database and the provider saw the checkout exactly once…
        const rows = (await ordersOf(listing.id)).filter((r) => r.buyerId === input.buyerId);
        expect(rows, report).toEqual([{ id: orderId, buyerId: input.buyerId, state: 'paid', pending_op: null }]);
        expect(
          (await market.orders.history(orderId)).map((e) => `${e.transition}:${e.from}->${e.to}`),
          report,
        ).toEqual(['checkout:null->checkout', 'confirmPayment:checkout->paid']);
        const after = psp.effects();
        expect(after.counts.authorize - before.counts.authorize, report).toBe(1);
        expect(after.counts.capture - before.counts.capture, report).toBe(1);
        expect(after.counts.void - before.counts.void, report).toBe(0);
        expect(after.capturedMinor - before.capturedMinor).toBe(price.minor);
        expect(after.openAuthorizedMinor).toBe(before.openAuthorizedMinor);
        // …and every process got that order back (after retrying only retryable conflicts).
        for (const r of results) {
          expect(r.final, report).toMatchObject({ ok: true, order: { id: orderId, state: 'paid' } });
          for (const code of r.retried)
            expect(['IDEMPOTENCY_CONFLICT', 'CONCURRENCY_CONFLICT'], report).toContain(code);
        }
      }
      expect(await market.listings.get(listing.id)).toMatchObject({ sold: 3, reserved: 0, available: 7 });
      await checkMarketInvariants(market);
    }, 40_000);
  }

  for (const when of ['after', 'before'] as const) {
    it(`finishes a checkout whose process was SIGKILLed with the capture ${when === 'after' ? 'applied at the provider but not committed' : 'not yet sent'}, charging once`, async () => {
      const price = Money.of('15.00', 'USD');
      const listing = await market.listings.create({ sellerId: 'seller-kill-co', title: 'crash', price, quantity: 3 });
      const orderId = `ord-kill-checkout-${when}`;
      const sagaId = `checkout:${orderId}`;
      const before = psp.effects();
      const proxy = await holdingProxy(sandbox.url, 'capture', when);
      try {
        const [child] = (await startWorkers(1, proxy.url, 200)) as [WorkerProcess];
        const input = {
          orderId,
          buyerId: 'buyer-kill-co',
          listingId: listing.id,
          quantity: 2,
          paymentMethod: 'tok_visa',
        };
        const buying = child.call<RetryOutcome>({ op: 'checkoutRetry', input, attempts: 1 });
        buying.catch(() => {}); // it never answers: the process dies first
        await proxy.held;
        expect(psp.effects().counts.capture - before.counts.capture).toBe(when === 'after' ? 1 : 0);
        expect(await child.kill()).toBe('SIGKILL');
        await expect(buying).rejects.toThrow(/exited/);

        // The order and its saga are as the create statement left them: stock reserved, payment authorized.
        expect(await market.orders.get(orderId)).toMatchObject({ state: 'checkout', captureId: null });
        expect(await market.listings.get(listing.id)).toMatchObject({ reserved: 2, sold: 0 });
        const stalled = await market.sagas.get(sagaId);
        expect(stalled).toMatchObject({ status: 'running', stepIndex: 1 });
        await waitFor('the checkout lease to expire', async () => {
          const s = await market.sagas.get(sagaId);
          return s !== undefined && s.nextRunAt !== null && Date.now() > s.nextRunAt;
        });
        expect(await market.worker().runOnce()).toBeGreaterThanOrEqual(1);
      } finally {
        await proxy.close();
      }
      expect(await market.orders.get(orderId)).toMatchObject({ state: 'paid' });
      expect(await market.sagas.get(sagaId)).toMatchObject({ status: 'completed' });
      expect((await market.sagas.history(sagaId)).map((e) => `${e.stepName}:${e.outcome}`)).toEqual([
        'order:completed',
        'authorize:completed',
        'capture:completed',
        'confirm:completed',
      ]);
      const after = psp.effects();
      expect(after.counts.authorize - before.counts.authorize).toBe(1);
      expect(after.counts.capture - before.counts.capture).toBe(1);
      // 'after': the worker replayed the applied capture by its key; 'before': it was the first call to arrive.
      expect(after.calls.capture - before.calls.capture).toBe(when === 'after' ? 2 : 1);
      expect(after.capturedMinor - before.capturedMinor).toBe(2n * price.minor);
      expect(await market.listings.get(listing.id)).toMatchObject({ sold: 2, reserved: 0, available: 1 });
      await checkMarketInvariants(market);
    }, 30_000);
  }

  for (const when of ['after', 'before'] as const) {
    it(`finishes a cancel whose process was SIGKILLed with the refund ${when === 'after' ? 'applied at the provider but not committed' : 'not yet sent'}`, async () => {
      const price = Money.of('30.00', 'USD');
      const listing = await market.listings.create({ sellerId: 'seller-kill', title: 'crash', price, quantity: 3 });
      const order = await market.orders.checkout({
        buyerId: 'buyer-kill',
        listingId: listing.id,
        quantity: 2,
        paymentMethod: 'tok_visa',
      });
      expect(order.state).toBe('paid');
      const before = psp.effects();
      const proxy = await holdingProxy(sandbox.url, 'refund', when);
      try {
        const [child] = (await startWorkers(1, proxy.url, 200)) as [WorkerProcess];
        const cancelling = child.call<CallOutcome>({
          op: 'transition',
          orderId: order.id,
          name: 'cancel',
          actor: { role: 'buyer', id: 'buyer-kill' },
        });
        cancelling.catch(() => {}); // it never answers: the process dies first
        await proxy.held;
        // The busy mark is committed, the provider call is in flight (or done), the effects are not committed.
        await waitFor('the busy mark', async () => (await ordersOf(listing.id))[0]?.pending_op != null);
        expect(psp.effects().counts.refund - before.counts.refund).toBe(when === 'after' ? 1 : 0);
        expect(await child.kill()).toBe('SIGKILL');
        await expect(cancelling).rejects.toThrow(/exited/);

        const stalled = await market.orders.get(order.id);
        expect(stalled).toMatchObject({ state: 'paid' });
        expect(stalled?.escrowBalance.minor).toBe(2n * price.minor);
        // Once the busy mark's deadline (the saga's lease) passed, a worker in another process finishes the saga.
        const [{ expiresAt }] = (await queryRows<{ expiresAt: string }>(
          database.location,
          'select pending_op_expires_at as "expiresAt" from mk_orders where id = $1',
          [order.id],
        )) as [{ expiresAt: string }];
        await waitFor('the busy mark to expire', async () => Date.now() > Number(expiresAt));
        const [{ sagaId }] = (await queryRows<{ sagaId: string }>(
          database.location,
          `select pending_op::json->>'sagaId' as "sagaId" from mk_orders where id = $1`,
          [order.id],
        )) as [{ sagaId: string }];
        await waitFor('the saga lease to expire', async () => {
          const s = await market.sagas.get(sagaId);
          return s !== undefined && s.nextRunAt !== null && Date.now() > s.nextRunAt;
        });
        expect(await market.worker().runOnce()).toBeGreaterThanOrEqual(1);
        expect(await market.sagas.get(sagaId)).toMatchObject({ status: 'completed' });
        expect((await market.sagas.history(sagaId)).map((e) => `${e.stepName}:${e.outcome}`)).toEqual([
          'hold:completed',
          'provider:completed',
          'commit:completed',
        ]);
      } finally {
        await proxy.close();
      }

      const done = await market.orders.get(order.id);
      expect(done).toMatchObject({ state: 'cancelled' });
      expect(done?.refunded.minor).toBe(2n * price.minor);
      expect(done?.escrowBalance.isZero()).toBe(true);
      const history = await market.orders.history(order.id);
      expect(history.map((e) => `${e.transition}:${e.from}->${e.to}:${e.actor.role}`)).toEqual([
        'checkout:null->checkout:buyer',
        'confirmPayment:checkout->paid:system',
        'cancel:paid->cancelled:buyer',
      ]);
      const after = psp.effects();
      expect(after.counts.refund - before.counts.refund).toBe(1);
      // 'after': the resumed call replayed the applied refund by its key; 'before': it was the first call.
      expect(after.calls.refund - before.calls.refund).toBe(when === 'after' ? 2 : 1);
      expect(after.refundedMinor - before.refundedMinor).toBe(2n * price.minor);
      expect(after.counts.capture - before.counts.capture).toBe(0);
      expect(await market.listings.get(listing.id)).toMatchObject({ sold: 0, reserved: 0, available: 3 });
      expect((await ordersOf(listing.id))[0]?.pending_op).toBeNull();
      await checkMarketInvariants(market);
    }, 30_000);
  }
});
