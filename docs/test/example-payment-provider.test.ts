import { createMarketplace, hasErrorCode, type Marketplace, Money } from '@marketkit/core';
import { ManualClock, type TestDatabase, testBackends } from '@marketkit/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CardProcessorProvider } from '../../examples/src/payment-provider/card-processor-provider.js';
import { InMemoryProcessor } from './fixtures/in-memory-processor.js';

// The example provider of docs/payments.md ("Writing a PaymentProvider"), run through Marketkit: the doc includes
// the file verbatim (a generated section, kept equal by generated-docs.test.ts), so what the doc shows is what runs.

const error = (p: Promise<unknown>) =>
  p.then(
    () => undefined,
    (e: unknown) => e,
  );

for (const backend of testBackends()) {
  describe(`the example PaymentProvider of docs/payments.md on ${backend.name}`, () => {
    const clock = new ManualClock();
    const processor = new InMemoryProcessor(() => clock.now());
    const provider = new CardProcessorProvider({ transport: processor.transport, timeoutMs: 50 });
    let database: TestDatabase;
    let market: Marketplace;
    let listingId: string;

    beforeAll(async () => {
      database = await backend.createDatabase();
      market = createMarketplace({ adapter: database.adapter(), clock, payments: provider });
      await market.migrate();
      const price = Money.of('25', 'USD');
      listingId = (await market.listings.create({ sellerId: 'bob', title: 'Lamp', price, quantity: 10 })).id;
    });
    afterAll(async () => {
      await market?.close();
      await database?.drop();
    });

    const checkout = (paymentMethod: string, idempotencyKey: string) =>
      market.orders.checkout({ buyerId: 'alice', listingId, quantity: 1, paymentMethod, idempotencyKey });
    const madeWith = (key: string) => processor.effects.filter((e) => e['key'] === key);

    it('checks out: one authorization and one capture at the processor, the order paid', async () => {
      const order = await checkout('tok_visa', 'cart-1');
      expect(order.state).toBe('paid');
      expect(madeWith(`${order.id}:authorize`)).toHaveLength(1);
      expect(madeWith(`${order.id}:capture`)).toMatchObject([{ type: 'capture', amount: '2500' }]);
    });

    it('turns a refusal (402) into PAYMENT_DECLINED: the order is cancelled, nothing captured', async () => {
      const before = processor.effects.length;
      const e = await error(checkout('tok_declined', 'cart-2'));
      expect(hasErrorCode(e, 'PAYMENT_DECLINED') && e.details).toEqual({ operation: 'authorize' });
      expect(processor.effects).toHaveLength(before);
      expect((await market.listings.get(listingId))?.available).toBe(9); // the first checkout's unit only
    });

    it('turns a lost answer into PROVIDER_TIMEOUT; the retry with the same key captures exactly once', async () => {
      processor.fail('/authorizations/', 'lostAnswer'); // the capture applies, its answer never comes
      const e = await error(checkout('tok_visa', 'cart-3'));
      expect(hasErrorCode(e, 'PROVIDER_TIMEOUT') && e.retryable && e.details).toEqual({
        operation: 'capture',
        timeoutMs: 50,
      });
      const order = await checkout('tok_visa', 'cart-3');
      expect(order.state).toBe('paid');
      expect(madeWith(`${order.id}:capture`)).toHaveLength(1);
    });

    it('turns a 503 into a retryable PROVIDER_ERROR; the retry with the same key goes through', async () => {
      processor.fail('/authorizations', 'unavailable');
      const e = await error(checkout('tok_visa', 'cart-4'));
      expect(hasErrorCode(e, 'PROVIDER_ERROR') && e.retryable && e.details).toEqual({ operation: 'authorize' });
      const order = await checkout('tok_visa', 'cart-4');
      expect(order.state).toBe('paid');
      expect(madeWith(`${order.id}:authorize`)).toHaveLength(1);
    });

    it('refunds a cancelled order in full, once', async () => {
      const order = await checkout('tok_visa', 'cart-5');
      const cancelled = await market.orders.transition(order.id, 'cancel', { actor: { role: 'buyer', id: 'alice' } });
      expect(cancelled.state).toBe('cancelled');
      const refunds = processor.effects.filter((e) => e['type'] === 'refund' && e['key']?.startsWith(order.id));
      expect(refunds).toMatchObject([{ amount: '2500' }]);
    });

    it('answers a repeated key with the first outcome: the same capture, applied once', async () => {
      const auth = await provider.authorize({
        idempotencyKey: 'direct:authorize',
        amountMinor: 100n,
        currency: 'USD',
        paymentMethod: 'tok_visa',
        reference: 'direct',
      });
      const capture = { idempotencyKey: 'direct:capture', authorizationId: auth.authorizationId, amountMinor: 100n };
      const first = await provider.capture({ ...capture, currency: 'USD' });
      expect(await provider.capture({ ...capture, currency: 'USD' })).toEqual(first);
      expect(madeWith('direct:capture')).toHaveLength(1);
      await provider.refund({
        idempotencyKey: 'direct:refund',
        captureId: first.captureId,
        amountMinor: 100n,
        currency: 'USD',
      });
    });

    it('lists its effects, so reconciliation finds the processor and the ledger agree', async () => {
      const report = await market.payments.reconcile({ from: 0, to: clock.now() + 1 });
      const direct = report.discrepancies.filter((d) => d.key?.startsWith('direct:'));
      expect(report.discrepancies.filter((d) => !d.key?.startsWith('direct:'))).toEqual([]);
      expect(direct.length).toBeGreaterThan(0); // made outside Marketkit: reported, without an orderId
      expect(report.checked.captures).toBeGreaterThanOrEqual(4);
    });
  });
}
