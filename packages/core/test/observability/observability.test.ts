/**
 * Metrics (prom-client) and traces (OpenTelemetry, recorded by the SDK's in-memory exporter) of one marketplace, on
 * every backend: the checkout's spans are children of the host's request span, the worker's spans (relay batch, saga
 * steps) link back to it through the trace context stored on the outbox and saga rows, attributes carry ids only,
 * and each metric counts what the flow did.
 */
import { createMarketplace, type Marketplace, Money, silentLogger } from '@marketkit/core';
import { ManualClock, SandboxPaymentProvider, type TestDatabase, testBackends } from '@marketkit/testing';
import { Kysely, sql } from 'kysely';
import { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { memoryTracing, parkingSaga } from './observability-fixture.js';

/** The value of the sample of `name` (a histogram's series: `${name}_bucket`) with these labels. */
const sampleValue = async (registry: Registry, name: string, labels: Record<string, string>, series = name) => {
  const metric = (await registry.getMetricsAsJSON()).find((m) => m.name === name);
  const values = (metric?.values ?? []) as {
    value: number;
    labels: Record<string, string | number>;
    metricName?: string;
  }[];
  const match = values.find(
    (v) => (v.metricName ?? name) === series && Object.entries(labels).every(([k, l]) => v.labels[k] === l),
  );
  return match?.value;
};

// One SDK for the file: the context manager is process-global, so the backends' suites share it.
const tracing = memoryTracing();
afterAll(() => tracing.shutdown());

for (const backend of testBackends()) {
  describe(`observability on ${backend.name}`, () => {
    let database: TestDatabase;
    let market: Marketplace;
    const registry = new Registry();
    const clock = new ManualClock();
    const psp = new SandboxPaymentProvider({ clock });
    let listingId: string;

    beforeAll(async () => {
      tracing.exporter.reset();
      database = await backend.createDatabase();
      market = createMarketplace({
        adapter: database.adapter(),
        clock,
        payments: psp,
        providerBreaker: {},
        sagas: [parkingSaga],
        metrics: { registry },
        tracing: { tracerProvider: tracing.tracerProvider },
      });
      await market.migrate();
      listingId = (
        await market.listings.create({
          sellerId: 'seller-1',
          title: 'Lamp',
          price: Money.of('20.00', 'USD'),
          quantity: 9,
        })
      ).id;
    });
    afterAll(async () => {
      await market?.close();
      await database?.drop();
    });

    it('traces a checkout inside the request, and links the relay batch that delivers its events back to it', async () => {
      const { result: order, span } = await tracing.inRequest(() =>
        market.orders.checkout({
          buyerId: 'alice',
          listingId,
          quantity: 1,
          paymentMethod: 'tok_visa',
          idempotencyKey: 'cart-1',
        }),
      );
      const traceId = span.spanContext().traceId;
      const [checkout] = tracing.spans('marketkit.checkout');
      expect(checkout?.spanContext().traceId).toBe(traceId);
      expect(checkout?.parentSpanContext?.spanId).toBe(span.spanContext().spanId);
      expect(checkout?.attributes['marketkit.order_id']).toBe(order.id);
      for (const op of ['authorize', 'capture']) {
        const [call] = tracing.spans(`marketkit.provider.${op}`);
        expect(call?.spanContext().traceId).toBe(traceId);
      }
      expect(await sampleValue(registry, 'marketkit_checkouts_total', { outcome: order.state })).toBe(1);

      const backlog = await sampleValue(registry, 'marketkit_outbox_backlog', { tenant: '' });
      let delivered = 0;
      for (let n = await market.events.relay.runOnce(); n > 0; n = await market.events.relay.runOnce()) delivered += n;
      expect(backlog).toBe(delivered);
      expect(delivered).toBeGreaterThan(0);
      expect(await sampleValue(registry, 'marketkit_outbox_backlog', { tenant: '' })).toBe(0);
      expect(await sampleValue(registry, 'marketkit_outbox_lag_seconds', { tenant: '' })).toBe(0);
      const batches = tracing.spans('marketkit.relay.batch');
      expect(batches.some((b) => b.links.some((l) => l.context.traceId === traceId))).toBe(true);
    });

    it('counts a replayed key, a provider error, and times each operation', async () => {
      const replay = () =>
        market.orders.checkout({
          buyerId: 'alice',
          listingId,
          quantity: 1,
          paymentMethod: 'tok_visa',
          idempotencyKey: 'cart-1',
        });
      await replay();
      expect(await sampleValue(registry, 'marketkit_idempotency_total', { outcome: 'replayed' })).toBe(1);
      psp.injectFault('authorize', 'error');
      await expect(
        market.orders.checkout({ buyerId: 'bea', listingId, quantity: 1, paymentMethod: 'tok_visa' }),
      ).rejects.toMatchObject({ code: 'PROVIDER_ERROR' });
      expect(
        await sampleValue(registry, 'marketkit_provider_calls_total', {
          operation: 'authorize',
          outcome: 'PROVIDER_ERROR',
        }),
      ).toBe(1);
      expect(await sampleValue(registry, 'marketkit_checkouts_total', { outcome: 'PROVIDER_ERROR' })).toBe(1);
      const checkouts = await sampleValue(
        registry,
        'marketkit_operation_duration_seconds',
        {
          operation: 'checkout',
          le: '+Inf',
          outcome: 'ok',
        },
        'marketkit_operation_duration_seconds_bucket',
      );
      expect(checkouts).toBe(2);
      expect(await sampleValue(registry, 'marketkit_provider_breaker_state', { tenant: '' })).toBe(0);
      const poolWaits = await sampleValue(
        registry,
        'marketkit_db_wait_seconds',
        { kind: 'pool', le: '+Inf' },
        'marketkit_db_wait_seconds_bucket',
      );
      expect(poolWaits).toBeGreaterThan(0);
    });

    it("links a worker's saga steps to the request that started the saga, and counts the saga once parked", async () => {
      const { span } = await tracing.inRequest(() => market.sagas.start('test.parks', { orderId: 'ord-x' }));
      const worker = market.worker();
      while ((await worker.runOnce()) > 0) {}
      const steps = tracing.spans('marketkit.saga.step').filter((s) => s.attributes['marketkit.saga'] === 'test.parks');
      expect(steps.length).toBeGreaterThan(0);
      for (const step of steps) {
        expect(step.links.map((l) => l.context.traceId)).toContain(span.spanContext().traceId);
      }
      expect(await sampleValue(registry, 'marketkit_sagas_parked', { tenant: '' })).toBe(1);
      expect(await sampleValue(registry, 'marketkit_sagas', { saga: 'test.parks', status: 'failed' })).toBe(1);
      expect(
        await sampleValue(registry, 'marketkit_saga_steps_total', {
          saga: 'test.parks',
          phase: 'run',
          outcome: 'INVALID_TRANSITION',
        }),
      ).toBe(1);
    });

    it('puts ids in span attributes, never the buyer, the payment method or an amount', () => {
      const spans = tracing.exporter.getFinishedSpans().filter((s) => s.name.startsWith('marketkit.'));
      expect(spans.length).toBeGreaterThan(0);
      for (const s of spans) {
        for (const [key, value] of Object.entries(s.attributes)) {
          expect(key.startsWith('marketkit.')).toBe(true);
          expect(String(value)).not.toMatch(/alice|bea|tok_visa|2000|20\.00/);
        }
      }
    });
  });
}

describe('observability options', () => {
  it('refuses a registry or a tracer provider that is not one, with VALIDATION_FAILED at its path', async () => {
    const [backend] = testBackends();
    const database = await backend!.createDatabase();
    try {
      const adapter = database.adapter();
      const wrong = [
        { options: { metrics: { registry: {} } }, path: ['metrics', 'registry'] },
        { options: { metrics: { registry: new Registry(), extra: 1 } }, path: ['metrics'] },
        { options: { tracing: { tracerProvider: 'global' } }, path: ['tracing', 'tracerProvider'] },
      ];
      for (const { options, path } of wrong) {
        let thrown: unknown;
        try {
          createMarketplace({ adapter, ...(options as object) });
        } catch (error) {
          thrown = error;
        }
        expect(thrown).toMatchObject({ code: 'VALIDATION_FAILED' });
        expect((thrown as { details: { issues: { path: unknown[] }[] } }).details.issues[0]?.path).toEqual(path);
      }
    } finally {
      await database.drop();
    }
  });
});

describe('observability off', () => {
  it('records no span and registers no metric when neither a registry nor a tracer provider is given', async () => {
    const [backend] = testBackends();
    const database = await backend!.createDatabase();
    tracing.exporter.reset();
    const market = createMarketplace({ adapter: database.adapter(), payments: new SandboxPaymentProvider() });
    try {
      await market.migrate();
      const listing = await market.listings.create({
        sellerId: 's',
        title: 'Lamp',
        price: Money.of('5.00', 'USD'),
        quantity: 1,
      });
      const order = await market.orders.checkout({
        buyerId: 'b',
        listingId: listing.id,
        quantity: 1,
        paymentMethod: 'tok_visa',
      });
      expect(order.state).toBeTypeOf('string');
      expect(tracing.exporter.getFinishedSpans()).toEqual([]);
    } finally {
      await market.close();
      await database.drop();
    }
  });
});

for (const backend of testBackends().filter((b) => b.name === 'postgres')) {
  describe('stock contention metric on postgres', () => {
    let database: TestDatabase;
    let market: Marketplace;
    const registry = new Registry();

    beforeAll(async () => {
      database = await backend.createDatabase();
      market = createMarketplace({
        adapter: database.adapter(),
        clock: new ManualClock(),
        payments: new SandboxPaymentProvider(),
        metrics: { registry },
        logger: silentLogger,
      });
      await market.migrate();
      // A serialization failure on the next reservation row written, once per `setval`: the sequence advances
      // outside the transaction that the failure rolls back, so the rerun goes through.
      const db = new Kysely<unknown>({ dialect: database.adapter().dialect });
      try {
        await sql`create sequence fail_stock`.execute(db);
        await sql`select setval('fail_stock', 100)`.execute(db);
        await sql
          .raw(`create function fail_stock_once() returns trigger language plpgsql as $$
          begin
            if nextval('fail_stock') = 1 then raise exception 'injected conflict' using errcode = '40001'; end if;
            return new;
          end $$`)
          .execute(db);
        await sql`create trigger fail_stock before insert on mk_stock_reservations for each row execute function fail_stock_once()`.execute(
          db,
        );
      } finally {
        await db.destroy();
      }
    });
    afterAll(async () => {
      await market?.close();
      await database?.drop();
    });

    const failNextReservation = async () => {
      const db = new Kysely<unknown>({ dialect: database.adapter().dialect });
      try {
        await sql`select setval('fail_stock', 1, false)`.execute(db);
      } finally {
        await db.destroy();
      }
    };
    const retries = async () => ({
      stock: await sampleValue(registry, 'marketkit_stock_contention_retries_total', { tenant: '' }),
      tx: await sampleValue(registry, 'marketkit_db_transaction_retries_total', {
        tenant: '',
        reason: 'SERIALIZATION_FAILURE',
      }),
    });

    it('counts a rerun of a reservation and of a checkout that lost a race for stock', async () => {
      const listing = await market.listings.create({
        sellerId: 'bob',
        title: 'Lamp',
        price: Money.of('10.00', 'USD'),
        quantity: 5,
      });
      expect((await retries()).stock ?? 0).toBe(0);
      await failNextReservation();
      const hold = await market.listings.reserve({ listingId: listing.id, quantity: 1, ttlMs: 60_000 });
      expect(hold.status).toBe('active');
      expect(await retries()).toEqual({ stock: 1, tx: 1 });
      await failNextReservation();
      const order = await market.orders.checkout({
        buyerId: 'alice',
        listingId: listing.id,
        quantity: 1,
        paymentMethod: 'tok_visa',
      });
      expect(order.state).toBe('paid');
      expect(await retries()).toEqual({ stock: 2, tx: 2 });
      expect((await market.listings.get(listing.id))?.available).toBe(3);
    });
  });
}
