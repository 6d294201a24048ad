import { ManualClock, type TestDatabase, testBackends } from '@marketkit/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MarketEvents, type OutboxEvent, type Publisher } from '../../src/events/index.js';
import type { Storage } from '../../src/storage/storage.js';
import { openStorage } from './outbox-fixture.js';

for (const backend of testBackends()) {
  describe(`MarketEvents on ${backend.name}`, () => {
    let database: TestDatabase;
    let storage: Storage;
    const clock = new ManualClock();

    beforeAll(async () => {
      database = await backend.createDatabase();
      storage = await openStorage(database);
    });
    afterAll(async () => {
      await storage?.destroy();
      await database?.drop();
    });

    it('appends with the marketplace clock and delivers to listeners, then to publishers', async () => {
      const order: string[] = [];
      const published: OutboxEvent[] = [];
      const publisher: Publisher = {
        async publish(events) {
          order.push('publisher');
          published.push(...events);
        },
      };
      const events = new MarketEvents(storage, clock, { publishers: [publisher], relay: { batchSize: 10 } });
      events.on('listing.created', (e) => {
        order.push(`listener:${String(e.payload['title'])}`);
      });
      const [written] = await storage.transaction((trx) =>
        events.append(trx, [
          { type: 'listing.created', aggregateType: 'listing', aggregateId: 'l1', payload: { title: 'lamp' } },
        ]),
      );
      expect(await events.runOnce()).toBe(1);
      expect(order).toEqual(['listener:lamp', 'publisher']);
      expect(published.map((e) => [e.id, e.createdAt])).toEqual([[written?.id, clock.now()]]);
    });

    it('passes relay options through: retentionMs 0 keeps no delivered event', async () => {
      const heard: string[] = [];
      const events = new MarketEvents(storage, clock, { relay: { retentionMs: 0 } });
      events.on('listing.created', (e) => {
        heard.push(e.aggregateId);
      });
      const [written] = await storage.transaction((trx) =>
        events.append(trx, [{ type: 'listing.created', aggregateType: 'listing', aggregateId: 'l2', payload: {} }]),
      );
      expect(await events.runOnce()).toBe(1);
      expect(heard).toEqual(['l2']);
      const left = await storage.db
        .selectFrom('outbox_events')
        .select('id')
        .where('id', '=', written?.id ?? '')
        .execute();
      expect(left).toEqual([]);
    });
  });
}
