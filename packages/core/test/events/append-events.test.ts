import { ManualClock, type TestDatabase, testBackends } from '@marketkit/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  appendEvents,
  EventListeners,
  OUTBOX_LIMITS,
  OUTBOX_PARTITIONS,
  type OutboxEvent,
  OutboxRelay,
  partitionOf,
} from '../../src/events/index.js';
import type { Storage } from '../../src/storage/storage.js';
import { commitEvents, commitOptions, openStorage, orderEvent, pendingCount } from './outbox-fixture.js';

for (const backend of testBackends()) {
  describe(`appendEvents on ${backend.name}`, () => {
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

    async function drain(): Promise<OutboxEvent[]> {
      const listeners = new EventListeners();
      const seen: OutboxEvent[] = [];
      listeners.onAny((e) => {
        seen.push(e);
      });
      const relay = new OutboxRelay(storage, { sinks: [listeners], clock, partitionsPerRun: OUTBOX_PARTITIONS });
      while ((await relay.runOnce()) > 0);
      return seen;
    }

    it('numbers each aggregate 1, 2, 3… across transactions, in input order, on a stable partition', async () => {
      const first = await commitEvents(storage, [orderEvent('n1', 1), orderEvent('n2', 1), orderEvent('n1', 2)], clock);
      const second = await commitEvents(storage, [orderEvent('n2', 2), orderEvent('n1', 3)], clock);
      expect(first.map((e) => [e.aggregateId, e.sequence])).toEqual([
        ['n1', 1],
        ['n2', 1],
        ['n1', 2],
      ]);
      expect(second.map((e) => [e.aggregateId, e.sequence])).toEqual([
        ['n2', 2],
        ['n1', 3],
      ]);
      for (const e of [...first, ...second]) expect(e.partition).toBe(partitionOf('order', e.aggregateId));
      const ids = [...first, ...second].map((e) => e.id);
      expect(new Set(ids).size).toBe(5);
      expect([...ids].sort()).toEqual(ids); // monotonic within a process
      const delivered = await drain();
      expect(delivered.map((e) => e.id).sort()).toEqual([...ids].sort());
    });

    it('numbers single events written through templates and by the builder path alike, keys never going back', async () => {
      const viaTemplates = { clock, backend: storage.adapter, templates: storage.templates };
      const viaBuilder = { clock, backend: storage.adapter };
      const one = (options: object) =>
        storage.transaction(async (trx) => (await appendEvents(trx, [orderEvent('mix', 0)], options))[0]!);
      const written = [await one(viaTemplates), await one(viaBuilder), await one(viaTemplates)];
      const behind = new ManualClock(clock.now() - 5000); // a writer whose clock is behind: keys still advance
      written.push(await one({ ...viaTemplates, clock: behind }));
      expect(written.map((e) => e.sequence)).toEqual([1, 2, 3, 4]);
      for (const e of written) expect(e.partition).toBe(partitionOf('order', 'mix'));
      const rows = await storage.db
        .selectFrom('outbox_events')
        .select(['id', 'seq', 'sort_key', 'partition_no'])
        .where('aggregate_id', '=', 'mix')
        .orderBy('seq')
        .execute();
      expect(rows.map((r) => r.id)).toEqual(written.map((e) => e.id));
      const keys = rows.map((r) => BigInt(r.sort_key));
      for (let i = 1; i < keys.length; i++) expect(keys[i]! > keys[i - 1]!).toBe(true);
      await expect(
        storage.transaction(async (trx) => {
          await appendEvents(trx, [orderEvent('mix', 9, 'order.ghost')], viaTemplates);
          throw new Error('abort');
        }),
      ).rejects.toThrow('abort');
      expect((await one(viaTemplates)).sequence).toBe(5);
      expect((await drain()).filter((e) => e.aggregateId === 'mix').map((e) => e.sequence)).toEqual([1, 2, 3, 4, 5]);
    });

    it('numbers batches alike on every path (builder, arrays or per-row templates, one statement of VALUES)', async () => {
      // Builder: no backend; backend alone: one VALUES statement (PostgreSQL) or the builder (SQLite); backend and
      // templates (what modules use): `unnest` arrays (PostgreSQL) or per-row templates (SQLite).
      const paths = [{ clock }, { clock, backend: storage.adapter }, commitOptions(storage, clock)];
      const batch = (round: number) => [
        orderEvent('pb', round * 10 + 1),
        orderEvent('pa', round * 10 + 2),
        orderEvent('pb', round * 10 + 3),
        orderEvent('pc', round * 10 + 4),
        orderEvent('pa', round * 10 + 5),
      ];
      const written = [];
      for (let round = 0; round < 6; round++) {
        const options = paths[round % paths.length]!;
        written.push(...(await storage.transaction((trx) => appendEvents(trx, batch(round), options))));
        if (round === 2) {
          await expect(
            storage.transaction(async (trx) => {
              await appendEvents(trx, batch(99), options);
              throw new Error('abort');
            }),
          ).rejects.toThrow('abort');
        }
      }
      for (const id of ['pa', 'pb', 'pc']) {
        const mine = written.filter((e) => e.aggregateId === id);
        expect(mine.map((e) => e.sequence)).toEqual(mine.map((_, i) => i + 1));
        for (const e of mine) expect(e.partition).toBe(partitionOf('order', id));
      }
      const ids = written.map((e) => e.id);
      expect([...ids].sort()).toEqual(ids);
      const rows = await storage.db
        .selectFrom('outbox_events')
        .select(['id', 'aggregate_id', 'seq', 'sort_key', 'payload'])
        .where('aggregate_id', 'in', ['pa', 'pb', 'pc'])
        .orderBy('aggregate_id')
        .orderBy('seq')
        .execute();
      expect(rows.map((r) => r.id).sort()).toEqual([...ids].sort());
      for (const r of rows) {
        const e = written.find((w) => w.id === r.id)!;
        expect([r.aggregate_id, Number(r.seq)]).toEqual([e.aggregateId, e.sequence]);
      }
      for (let i = 1; i < rows.length; i++) {
        if (rows[i]!.aggregate_id === rows[i - 1]!.aggregate_id) {
          expect(BigInt(rows[i]!.sort_key) > BigInt(rows[i - 1]!.sort_key)).toBe(true);
        }
      }
      const delivered = (await drain()).filter((e) => ['pa', 'pb', 'pc'].includes(e.aggregateId));
      expect(delivered.map((e) => (e.payload as { n: number }).n).sort((a, b) => a - b)).toEqual(
        [0, 1, 2, 3, 4, 5].flatMap((round) => batch(round).map((e) => (e.payload as { n: number }).n)),
      );
    });

    it('spreads aggregates over all partitions with a fixed hash', () => {
      expect(partitionOf('order', 'ord_1')).toBe(partitionOf('order', 'ord_1'));
      expect(partitionOf('order', 'x')).not.toBe(partitionOf('listing', 'x'));
      const used = new Set(Array.from({ length: 500 }, (_, i) => partitionOf('order', `o${i}`)));
      expect(used.size).toBe(OUTBOX_PARTITIONS);
      // Pinned values: the hash is stored with every event and must never change.
      expect([partitionOf('order', 'ord_1'), partitionOf('account', 'platform'), partitionOf('a', '')]).toEqual([
        4, 7, 4,
      ]);
    });

    it('writes bigint payload values as decimal strings and keeps the rest of the JSON', async () => {
      const payload = { amount: 12_345_678_901_234_567_890n, nested: { list: [1n, 'x', null, true] }, note: 'é' };
      await commitEvents(
        storage,
        [{ type: 'money.moved', aggregateType: 'account', aggregateId: 'big', payload }],
        clock,
      );
      const [event] = await drain();
      expect(event?.payload).toEqual({
        amount: '12345678901234567890',
        nested: { list: ['1', 'x', null, true] },
        note: 'é',
      });
      expect(event).toMatchObject({ type: 'money.moved', aggregateType: 'account', aggregateId: 'big', sequence: 1 });
      expect(event?.createdAt).toBe(clock.now());
    });

    it('leaves nothing behind for a rolled-back transaction, not even a sequence number', async () => {
      await expect(
        storage.transaction(async (trx) => {
          await appendEvents(trx, [orderEvent('rb', 1, 'order.ghost'), orderEvent('rb', 2, 'order.ghost')], { clock });
          throw new Error('abort');
        }),
      ).rejects.toThrow('abort');
      expect(await pendingCount(storage)).toBe(0);
      const [kept] = await commitEvents(storage, [orderEvent('rb', 1, 'order.real')], clock);
      expect(kept?.sequence).toBe(1);
      const delivered = await drain();
      expect(delivered.map((e) => e.type)).toEqual(['order.real']);
    });

    it('returns [] for an empty batch without touching the database', async () => {
      expect(await storage.transaction((trx) => appendEvents(trx, []))).toEqual([]);
    });

    it('rejects malformed events with VALIDATION_FAILED and writes nothing', async () => {
      const bad: unknown[] = [
        { ...orderEvent('v', 1), type: '' },
        { ...orderEvent('v', 1), aggregateId: 'x'.repeat(OUTBOX_LIMITS.maxAggregateIdLength + 1) },
        { ...orderEvent('v', 1), aggregateType: 'x'.repeat(OUTBOX_LIMITS.maxAggregateTypeLength + 1) },
        { ...orderEvent('v', 1), type: 't'.repeat(OUTBOX_LIMITS.maxTypeLength + 1) },
        { ...orderEvent('v', 1), payload: [1, 2] },
        { ...orderEvent('v', 1), payload: null },
        { ...orderEvent('v', 1), payload: 'text' },
      ];
      for (const event of bad) {
        await expect(
          storage.transaction((trx) => appendEvents(trx, [orderEvent('v', 0), event as never])),
        ).rejects.toMatchObject({ code: 'VALIDATION_FAILED' });
      }
      const cyclic: Record<string, unknown> = { n: 1n };
      cyclic['self'] = cyclic;
      await expect(
        storage.transaction((trx) => appendEvents(trx, [{ ...orderEvent('v', 1), payload: cyclic }])),
      ).rejects.toMatchObject({ code: 'VALIDATION_FAILED' });
      const tooMany = Array.from({ length: OUTBOX_LIMITS.maxEventsPerAppend + 1 }, (_, i) => orderEvent('v', i));
      await expect(storage.transaction((trx) => appendEvents(trx, tooMany))).rejects.toMatchObject({
        code: 'VALIDATION_FAILED',
      });
      expect(await pendingCount(storage)).toBe(0);
    });

    it('accepts a payload of exactly the maximum JSON length and refuses one character more', async () => {
      const filler = (extra: number) => ({ s: 'x'.repeat(OUTBOX_LIMITS.maxPayloadLength - '{"s":""}'.length + extra) });
      await expect(
        storage.transaction((trx) => appendEvents(trx, [{ ...orderEvent('edge', 1), payload: filler(1) }])),
      ).rejects.toMatchObject({ code: 'VALIDATION_FAILED' });
      const [written] = await commitEvents(storage, [{ ...orderEvent('edge', 1), payload: filler(0) }], clock);
      expect(written?.sequence).toBe(1);
      const [event] = await drain();
      expect(JSON.stringify(event?.payload).length).toBe(OUTBOX_LIMITS.maxPayloadLength);
    });

    it('writes a batch of the maximum size in one call', async () => {
      const batch = Array.from({ length: OUTBOX_LIMITS.maxEventsPerAppend }, (_, i) => orderEvent(`bulk${i % 7}`, i));
      const written = await commitEvents(storage, batch, clock);
      expect(written).toHaveLength(OUTBOX_LIMITS.maxEventsPerAppend);
      const perAggregate = written.filter((e) => e.aggregateId === 'bulk3').map((e) => e.sequence);
      expect(perAggregate).toEqual(perAggregate.map((_, i) => i + 1));
      expect((await drain()).length).toBe(OUTBOX_LIMITS.maxEventsPerAppend);
    });
  });
}
