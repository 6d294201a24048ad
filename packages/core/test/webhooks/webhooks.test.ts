import {
  hasErrorCode,
  type Marketplace,
  type OutboxEvent,
  verifyWebhookSignature,
  type WebhookDelivery,
} from '@marketkit/core';
import { type ManualClock, type TestDatabase, testBackends } from '@marketkit/testing';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { createIdFactory } from '../../src/ids/id-factory.js';
import { Storage } from '../../src/storage/storage.js';
import { WebhookFanout } from '../../src/webhooks/webhook-fanout.js';
import { drain, openMarket, pump, sell, TestReceiver } from './webhook-fixture.js';

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;

for (const backend of testBackends()) {
  describe(`webhooks on ${backend.name}`, () => {
    let database: TestDatabase;
    let market: Marketplace;
    let clock: ManualClock;
    let receiver: TestReceiver & { url: string };
    /** Every event the relay handed to in-process listeners (the same batches the webhook fan-out saw). */
    let seen: OutboxEvent[];

    beforeEach(async () => {
      database = await backend.createDatabase();
      ({ market, clock } = await openMarket(database));
      receiver = await TestReceiver.start(clock);
      seen = [];
      market.events.onAny((e) => {
        seen.push(e);
      });
    });
    afterEach(async () => {
      await receiver?.close();
      await market?.close();
      await database?.drop();
    });

    const deliveriesOf = (endpointId: string) => market.webhooks.listDeliveries({ endpointId, limit: 500 });
    const allSucceeded = async (endpointId: string) =>
      (await deliveriesOf(endpointId)).every((d) => d.status === 'succeeded');

    it('delivers every event exactly once, signed, to a receiver that was down for an hour', async () => {
      const { endpoint, secret } = await market.webhooks.create({ url: receiver.url, eventTypes: ['*'] });
      expect(secret).toMatch(/^whsec_/);
      expect(endpoint).not.toHaveProperty('secret');
      receiver.mode = 'fail';
      await sell(market);
      await pump(market, clock, { stepMs: 20 * MINUTE, steps: 2 });
      receiver.mode = 'stall'; // part of the hour it accepts connections and never answers
      await pump(market, clock, { stepMs: 20 * MINUTE, steps: 1 });
      receiver.mode = 'fail';
      await sell(market);
      await pump(market, clock, { stepMs: 20 * MINUTE, steps: 1 });
      expect(receiver.accepted().size).toBe(0);
      expect(receiver.received.some((r) => r.status === 0)).toBe(true);
      const failing = await deliveriesOf(endpoint.id);
      expect(failing.length).toBeGreaterThan(0);
      expect(failing.every((d) => d.status === 'pending')).toBe(true);
      expect(failing.some((d) => d.lastError === 'HTTP 500' && d.lastStatusCode === 500)).toBe(true);
      expect((await market.webhooks.get(endpoint.id)).failingSince).not.toBeNull();

      receiver.mode = 'ok';
      await pump(market, clock, { stepMs: 30 * MINUTE, steps: 24, until: () => allSucceeded(endpoint.id) });

      const expected = new Set(seen.map((e) => e.id));
      expect(expected.size).toBeGreaterThan(2);
      const accepted = receiver.accepted();
      expect(new Set(accepted.keys())).toEqual(expected);
      expect([...accepted.values()].every((n) => n === 1)).toBe(true);
      for (const r of receiver.received) {
        expect(verifyWebhookSignature(r.body, r.signature, [secret], 300, r.atSec)).toBe(true);
        expect(verifyWebhookSignature(r.body, r.signature, ['whsec_other'], 300, r.atSec)).toBe(false);
        const body = JSON.parse(r.body) as Record<string, unknown>;
        expect(Object.keys(body).sort()).toEqual(['createdAt', 'data', 'id', 'type']);
        expect(body['id']).toBe(r.eventId);
      }
      expect((await market.webhooks.get(endpoint.id)).failingSince).toBeNull();
    });

    it('makes one delivery per event and endpoint however often the relay hands a batch over', async () => {
      const all = await market.webhooks.create({ url: receiver.url, eventTypes: ['*'] });
      const orders = await market.webhooks.create({ url: receiver.url, eventTypes: ['order.*'] });
      await sell(market);
      await market.events.runOnce();
      const storage = new Storage(database.adapter());
      try {
        const again = new WebhookFanout(storage, clock, createIdFactory());
        await again.deliver(seen);
        await Promise.all([again.deliver(seen), again.deliver(seen.slice(1))]);
      } finally {
        await storage.destroy();
      }
      const toAll = await deliveriesOf(all.endpoint.id);
      expect(toAll.map((d) => d.eventId).sort()).toEqual(seen.map((e) => e.id).sort());
      const toOrders = await deliveriesOf(orders.endpoint.id);
      const orderEvents = seen.filter((e) => e.type.startsWith('order.'));
      expect(toOrders.map((d) => d.eventId).sort()).toEqual(orderEvents.map((e) => e.id).sort());
      expect(seen.length).toBeGreaterThan(orderEvents.length); // the ledger's transfer events too
    });

    it('times out a receiver that never answers and retries it', async () => {
      const { endpoint } = await market.webhooks.create({ url: receiver.url, eventTypes: ['order.*'] });
      receiver.mode = 'stall';
      await sell(market);
      await drain(market);
      const [stalled] = await deliveriesOf(endpoint.id);
      expect(stalled).toMatchObject({ status: 'pending', attempts: 1, lastStatusCode: null });
      expect(stalled?.lastError).toBe('timeout after 300 ms');
      receiver.mode = 'ok';
      await pump(market, clock, { stepMs: MINUTE, steps: 10, until: () => allSucceeded(endpoint.id) });
      expect(await allSucceeded(endpoint.id)).toBe(true);
      const orderEvents = seen.filter((e) => e.type.startsWith('order.')).map((e) => e.id);
      expect(new Set(receiver.accepted().keys())).toEqual(new Set(orderEvents));
    });

    it('does not hold later events back behind a failing one (deliveries are not ordered)', async () => {
      const { endpoint } = await market.webhooks.create({ url: receiver.url, eventTypes: ['*'] });
      await sell(market);
      await market.events.runOnce();
      const first = seen[0]!;
      receiver.failIds.add(first.id);
      await drain(market);
      const others = seen.filter((e) => e.id !== first.id).map((e) => e.id);
      expect(others.length).toBeGreaterThan(0);
      expect(new Set(receiver.accepted().keys())).toEqual(new Set(others));
      const [held] = await market.webhooks.listDeliveries({ endpointId: endpoint.id, eventId: first.id });
      expect(held).toMatchObject({ status: 'pending', lastStatusCode: 500 });
    });

    it('gives a delivery up after the retry window, and redelivers by delivery id and by event id', async () => {
      await market.close();
      ({ market, clock } = await openMarket(database, {
        allowPrivateTargets: true,
        timeoutMs: 300,
        retry: { windowMs: 2 * HOUR },
        disableAfterMs: 100 * HOUR,
      }));
      const { endpoint } = await market.webhooks.create({ url: receiver.url, eventTypes: ['order.*'] });
      receiver.mode = 'fail';
      await sell(market);
      await pump(market, clock, { stepMs: 10 * MINUTE, steps: 14 });
      const failed = await deliveriesOf(endpoint.id);
      expect(failed.length).toBeGreaterThan(0);
      for (const d of failed) {
        expect(d).toMatchObject({ status: 'failed', nextAttemptAt: null, lastError: 'HTTP 500' });
        expect(d.attempts).toBeGreaterThan(1);
        expect(d.lastAttemptAt! - d.createdAt).toBeLessThanOrEqual(2 * HOUR);
      }
      expect(await market.webhooks.listDeliveries({ endpointId: endpoint.id, status: 'pending' })).toEqual([]);

      receiver.mode = 'ok';
      const [one, ...rest] = failed as [WebhookDelivery, ...WebhookDelivery[]];
      const redone = await market.webhooks.redeliver(one.id);
      expect(redone.map((d) => [d.id, d.status])).toEqual([[one.id, 'pending']]);
      await drain(market);
      expect(receiver.accepted()).toEqual(new Map([[one.eventId, 1]]));
      expect(await market.webhooks.getDelivery(one.id)).toMatchObject({ status: 'succeeded', lastError: null });

      // by event id: every delivery of the event, a succeeded one included
      const again = await market.webhooks.redeliver(one.eventId);
      expect(again.map((d) => d.id)).toEqual([one.id]);
      for (const d of rest) await market.webhooks.redeliver(d.eventId);
      await drain(market);
      expect(receiver.accepted().get(one.eventId)).toBe(2);
      for (const d of rest) expect(receiver.accepted().get(d.eventId)).toBe(1);

      const missing = await market.webhooks.redeliver('evt_missing').catch((e: unknown) => e);
      expect(hasErrorCode(missing, 'NOT_FOUND') && missing.details).toEqual({
        resource: 'webhookDelivery',
        id: 'evt_missing',
      });
    });

    it('disables an endpoint failing for disableAfterMs, with an event, and delivers nothing to it after', async () => {
      await market.close();
      ({ market, clock } = await openMarket(database, {
        allowPrivateTargets: true,
        timeoutMs: 300,
        disableAfterMs: HOUR,
      }));
      const disabledEvents: OutboxEvent[] = [];
      market.events.on('webhook_endpoint.disabled', (e) => {
        disabledEvents.push(e);
      });
      const { endpoint } = await market.webhooks.create({ url: receiver.url, eventTypes: ['*'] });
      const healthy = await TestReceiver.start(clock);
      try {
        const other = await market.webhooks.create({ url: healthy.url, eventTypes: ['webhook_endpoint.*'] });
        receiver.mode = 'fail';
        await sell(market);
        await pump(market, clock, { stepMs: 10 * MINUTE, steps: 30 });
        const ep = await market.webhooks.get(endpoint.id);
        expect(ep).toMatchObject({ status: 'disabled', disabledReason: 'failing' });
        expect(disabledEvents.map((e) => e.payload)).toEqual([
          { endpointId: endpoint.id, reason: 'failing', disabledAt: expect.any(Number), failingSince: ep.failingSince },
        ]);
        // the other endpoint got the disabled event as a webhook
        const toOther = await deliveriesOf(other.endpoint.id);
        expect(toOther.map((d) => [d.eventType, d.status])).toEqual([['webhook_endpoint.disabled', 'succeeded']]);

        receiver.mode = 'ok';
        const before = receiver.received.length;
        const pendingBefore = (await deliveriesOf(endpoint.id)).filter((d) => d.status === 'pending').length;
        await sell(market);
        await pump(market, clock, { stepMs: HOUR, steps: 10 });
        expect(receiver.received.length).toBe(before);
        expect((await deliveriesOf(endpoint.id)).length).toBeLessThanOrEqual(pendingBefore + before);

        // enabled again: what was pending goes out, new events come
        await market.webhooks.enable(endpoint.id);
        await sell(market);
        await pump(market, clock, { stepMs: 30 * MINUTE, steps: 20, until: () => allSucceeded(endpoint.id) });
        expect(receiver.accepted().size).toBeGreaterThan(0);
        expect((await market.webhooks.get(endpoint.id)).status).toBe('enabled');

        // a manual disable also writes the event
        await market.webhooks.disable(endpoint.id);
        await drain(market);
        expect(disabledEvents.map((e) => e.payload['reason'])).toEqual(['failing', 'manual']);
      } finally {
        await healthy.close();
      }
    });

    it('signs with both secrets during a rotation overlap, and with the new one only after', async () => {
      const { endpoint, secret: oldSecret } = await market.webhooks.create({ url: receiver.url, eventTypes: ['*'] });
      const rotated = await market.webhooks.rotateSecret(endpoint.id, { overlapMs: HOUR });
      expect(rotated.secret).not.toBe(oldSecret);
      expect(rotated.endpoint.previousSecretExpiresAt).toBe(clock.now() + HOUR);
      await sell(market);
      await drain(market);
      expect(receiver.received.length).toBeGreaterThan(0);
      for (const r of receiver.received) {
        expect(r.signature.match(/v1=/g)).toHaveLength(2);
        expect(verifyWebhookSignature(r.body, r.signature, oldSecret, 300, r.atSec)).toBe(true);
        expect(verifyWebhookSignature(r.body, r.signature, rotated.secret, 300, r.atSec)).toBe(true);
      }
      clock.advance(HOUR);
      const count = receiver.received.length;
      await sell(market);
      await drain(market);
      const late = receiver.received.slice(count);
      expect(late.length).toBeGreaterThan(0);
      for (const r of late) {
        expect(verifyWebhookSignature(r.body, r.signature, oldSecret, 300, r.atSec)).toBe(false);
        expect(verifyWebhookSignature(r.body, r.signature, rotated.secret, 300, r.atSec)).toBe(true);
      }
    });

    it('sends a per-seller endpoint only the order events of its seller', async () => {
      const { endpoint } = await market.webhooks.create({
        url: receiver.url,
        eventTypes: ['*'],
        sellerId: 'seller-a',
      });
      const mine = await sell(market, 'seller-a');
      await sell(market, 'seller-b');
      await drain(market);
      const expected = seen.filter((e) => e.aggregateType === 'order' && e.aggregateId === mine).map((e) => e.id);
      expect(expected.length).toBeGreaterThan(0);
      expect(new Set(receiver.accepted().keys())).toEqual(new Set(expected));
      expect(await market.webhooks.list({ sellerId: 'seller-a' })).toEqual([
        expect.objectContaining({ id: endpoint.id }),
      ]);
    });

    it('refuses private targets without allowPrivateTargets, at creation and at delivery', async () => {
      const strict = await openMarket(database, {}, clock);
      try {
        const refusal = (url: string) =>
          strict.market.webhooks.create({ url, eventTypes: ['*'] }).then(
            () => undefined,
            (e: unknown) => (hasErrorCode(e, 'WEBHOOK_TARGET_REFUSED') ? e.details : e),
          );
        expect(await refusal(receiver.url)).toEqual({ url: receiver.url, reason: 'scheme' });
        expect(await refusal('https://10.1.2.3/hooks')).toMatchObject({
          reason: 'privateAddress',
          address: '10.1.2.3',
        });
        expect(await refusal('https://[::1]/hooks')).toMatchObject({ reason: 'privateAddress', address: '::1' });
        expect(await refusal('https://169.254.169.254/latest')).toMatchObject({ reason: 'privateAddress' });
        expect(await refusal('https://localhost/hooks')).toMatchObject({ reason: 'privateAddress' });
        expect(await refusal('ftp://example.com/')).toMatchObject({ code: 'VALIDATION_FAILED' });

        // Created where private targets are allowed; sent by a marketplace that does not allow them (as after a DNS
        // answer changed): nothing reaches the receiver.
        const literal = await market.webhooks.create({ url: receiver.url, eventTypes: ['order.*'] });
        const named = await market.webhooks.create({
          url: receiver.url.replace('127.0.0.1', 'localhost'),
          eventTypes: ['order.*'],
        });
        await sell(market);
        await drain(strict.market);
        expect(receiver.received).toEqual([]);
        const [byLiteral] = await deliveriesOf(literal.endpoint.id);
        const [byName] = await deliveriesOf(named.endpoint.id);
        expect(byLiteral).toMatchObject({ status: 'pending', attempts: 1 });
        expect(byLiteral?.lastError).toContain('not a public address');
        expect(byName).toMatchObject({ status: 'pending', attempts: 1, lastError: 'WEBHOOK_TARGET_REFUSED' });
      } finally {
        await strict.market.close();
      }
    });

    it('validates input with stable codes and reads endpoints back without secrets', async () => {
      const bad = await market.webhooks.create({ url: 'not a url', eventTypes: [] }).catch((e: unknown) => e);
      expect(hasErrorCode(bad, 'VALIDATION_FAILED') && bad.details.issues.map((i) => i.path[0])).toEqual([
        'url',
        'eventTypes',
      ]);
      const badType = await market.webhooks
        .create({ url: receiver.url, eventTypes: ['order.*.paid'] })
        .catch((e: unknown) => e);
      expect(hasErrorCode(badType, 'VALIDATION_FAILED')).toBe(true);
      const missing = await market.webhooks.get('we_missing').catch((e: unknown) => e);
      expect(hasErrorCode(missing, 'NOT_FOUND') && missing.details.resource).toBe('webhookEndpoint');

      const { endpoint } = await market.webhooks.create({
        url: receiver.url,
        eventTypes: ['order.paid'],
        description: 'shop',
      });
      const updated = await market.webhooks.update(endpoint.id, { eventTypes: ['order.*'], description: null });
      expect(updated).toMatchObject({ eventTypes: ['order.*'], description: null, status: 'enabled' });
      expect(await market.webhooks.list()).toEqual([updated]);
      expect(JSON.stringify(await market.webhooks.get(endpoint.id))).not.toContain('whsec_');
    });

    it('is driven by market.worker() without extra wiring', async () => {
      await market.webhooks.create({ url: receiver.url, eventTypes: ['order.*'] });
      await sell(market);
      const worker = market.worker({ pollIntervalMs: 10 });
      worker.start();
      try {
        const orderEvents = () => seen.filter((e) => e.type.startsWith('order.')).map((e) => e.id);
        await vi.waitFor(
          () => {
            expect(orderEvents().length).toBeGreaterThan(0);
            expect(new Set(receiver.accepted().keys())).toEqual(new Set(orderEvents()));
          },
          { timeout: 10_000 },
        );
      } finally {
        await worker.stop();
      }
    });

    it("keeps a worker's other deliveries going while a receiver stalls until the timeout", async () => {
      await market.close();
      // 32 slots (the default batch); the stalled receiver's deliveries take fewer than half of them
      ({ market, clock } = await openMarket(database, { allowPrivateTargets: true, timeoutMs: 8_000, batchSize: 32 }));
      market.events.onAny((e) => {
        seen.push(e);
      });
      const stalled = await TestReceiver.start(clock);
      stalled.mode = 'stall';
      try {
        await market.webhooks.create({ url: stalled.url, eventTypes: ['*'] });
        await market.webhooks.create({ url: receiver.url, eventTypes: ['*'] });
        await sell(market);
        await sell(market, 'seller-2');
        const worker = market.worker({ pollIntervalMs: 10 });
        const started = performance.now();
        worker.start();
        try {
          await vi.waitFor(
            () => {
              expect(seen.length).toBeGreaterThan(0);
              expect(new Set(receiver.accepted().keys())).toEqual(new Set(seen.map((e) => e.id)));
            },
            { timeout: 6_000, interval: 20 },
          );
          expect(performance.now() - started).toBeLessThan(6_000); // well before the stalled answers time out
          expect(stalled.received.length).toBeGreaterThan(0);
        } finally {
          await stalled.close(); // the stalled attempts fail now, so the worker stops without waiting 8 s
          await worker.stop();
        }
      } finally {
        await stalled.close().catch(() => {});
      }
    });

    it('two marketplaces on one database deliver each event once', async () => {
      const second = await openMarket(database, { allowPrivateTargets: true, timeoutMs: 2_000, batchSize: 4 }, clock);
      second.market.events.onAny((e) => {
        seen.push(e);
      });
      try {
        const { endpoint } = await market.webhooks.create({ url: receiver.url, eventTypes: ['*'] });
        receiver.delayMs = 5;
        for (let i = 0; i < 8; i++) await sell(market, `seller-${i}`);
        await Promise.all([drain(market), drain(second.market)]);
        await Promise.all([drain(market), drain(second.market)]);
        const accepted = receiver.accepted();
        expect(new Set(accepted.keys())).toEqual(new Set(seen.map((e) => e.id)));
        expect([...accepted.values()].every((n) => n === 1)).toBe(true);
        expect(receiver.received.length).toBe(accepted.size);
        expect(await allSucceeded(endpoint.id)).toBe(true);
      } finally {
        await second.market.close();
      }
    });
  });
}
