import { ManualClock, type TestDatabase, testBackends } from '@marketkit/testing';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { systemClock } from '../../src/clock/clock.js';
import {
  appendEvents,
  EventListeners,
  type EventSink,
  OUTBOX_PARTITIONS,
  type OutboxEvent,
  OutboxRelay,
  type OutboxRelayOptions,
  type RelayErrorInfo,
} from '../../src/events/index.js';
import { backoffDelay } from '../../src/events/relay-options.js';
import type { Storage } from '../../src/storage/storage.js';
import { commitEvents, gate, openStorage, orderEvent, partitionRow, pendingCount } from './outbox-fixture.js';

interface ShopEvents {
  'order.paid': { orderId: string; amount: bigint };
  'order.shipped': { orderId: string; carrier: string };
}

/** A sink that records batches and can be made to throw or wait. */
function recordingSink(name = 'recorder') {
  const batches: OutboxEvent[][] = [];
  const sink = {
    name,
    batches,
    failNext: 0,
    hold: undefined as Promise<void> | undefined,
    called: vi.fn(),
    async deliver(events: readonly OutboxEvent[]) {
      sink.called();
      batches.push([...events]);
      if (sink.hold !== undefined) await sink.hold;
      if (sink.failNext > 0) {
        sink.failNext--;
        throw new Error(`${name} is down`);
      }
    },
  } satisfies EventSink & Record<string, unknown>;
  return sink;
}

async function until(check: () => boolean, timeoutMs = 5000): Promise<void> {
  const start = Date.now();
  while (!check()) {
    if (Date.now() - start > timeoutMs) throw new Error('timed out waiting');
    await new Promise((r) => setTimeout(r, 2));
  }
}

for (const backend of testBackends()) {
  describe(`OutboxRelay on ${backend.name}`, () => {
    let database: TestDatabase;
    let storage: Storage;
    let other: Storage;
    const clock = new ManualClock();
    const relay = (options: Partial<OutboxRelayOptions> & Pick<OutboxRelayOptions, 'sinks'>, on = storage) =>
      new OutboxRelay(on, { clock, partitionsPerRun: OUTBOX_PARTITIONS, ...options });

    beforeAll(async () => {
      database = await backend.createDatabase();
      storage = await openStorage(database);
      // A second pool (PostgreSQL) or connection (SQLite) for what must run beside an open transaction.
      other = await openStorage(database);
    });
    afterEach(async () => {
      // Every test leaves the outbox drained.
      expect(await pendingCount(storage)).toBe(0);
    });
    afterAll(async () => {
      await other?.destroy();
      await storage?.destroy();
      await database?.drop();
    });

    it('calls listeners only after the writing transaction committed', async () => {
      const listeners = new EventListeners<ShopEvents>();
      const heard: string[] = [];
      listeners.on('order.paid', (e) => {
        const amount: string = e.payload.amount; // bigint arrives as its decimal string
        heard.push(`${e.aggregateId}:${amount}`);
      });
      const relayBeside = relay({ sinks: [listeners] }, other);
      await storage.transaction(async (trx) => {
        await appendEvents(trx, [
          { type: 'order.paid', aggregateType: 'order', aggregateId: 'o1', payload: { orderId: 'o1', amount: 5n } },
        ]);
        expect(await relayBeside.runOnce()).toBe(0);
        expect(heard).toEqual([]);
      });
      expect(await relayBeside.runOnce()).toBe(1);
      expect(heard).toEqual(['o1:5']);
      expect(await relayBeside.runOnce()).toBe(0);
      expect(heard).toEqual(['o1:5']);
    });

    it('dispatches by type, in sequence order, then to onAny listeners; off() removes a listener', async () => {
      const listeners = new EventListeners<ShopEvents>();
      const log: string[] = [];
      const offShipped = listeners.on('order.shipped', (e) => {
        log.push(`shipped:${e.payload.carrier}:${e.sequence}`);
      });
      listeners.on('order.paid', async (e) => {
        await new Promise((r) => setTimeout(r, 1));
        log.push(`paid:${e.sequence}`);
      });
      listeners.onAny((e) => {
        log.push(`any:${e.type}`);
      });
      // @ts-expect-error: not an event type of ShopEvents
      listeners.on('order.lost', () => {});
      expect(listeners.listenerCount('order.paid')).toBe(1);
      await commitEvents(
        storage,
        [
          { type: 'order.paid', aggregateType: 'order', aggregateId: 'd1', payload: { orderId: 'd1', amount: 1n } },
          {
            type: 'order.shipped',
            aggregateType: 'order',
            aggregateId: 'd1',
            payload: { orderId: 'd1', carrier: 'ups' },
          },
        ],
        clock,
      );
      expect(await relay({ sinks: [listeners] }).runOnce()).toBe(2);
      expect(log).toEqual(['paid:1', 'any:order.paid', 'shipped:ups:2', 'any:order.shipped']);
      offShipped();
      log.length = 0;
      await commitEvents(
        storage,
        [
          {
            type: 'order.shipped',
            aggregateType: 'order',
            aggregateId: 'd1',
            payload: { orderId: 'd1', carrier: 'dhl' },
          },
        ],
        clock,
      );
      expect(await relay({ sinks: [listeners] }).runOnce()).toBe(1);
      expect(log).toEqual(['any:order.shipped']);
    });

    it('retries a failing sink with exponential backoff, then delivers once it succeeds', async () => {
      const sink = recordingSink();
      sink.failNext = 2;
      const errors: RelayErrorInfo[] = [];
      const r = relay({
        sinks: [sink],
        backoff: { baseMs: 1000, maxMs: 10_000, jitter: false },
        onError: (_e, info) => errors.push(info),
      });
      const [first] = await commitEvents(storage, [orderEvent('b1', 1), orderEvent('b1', 2)], clock);
      const partition = first?.partition ?? -1;

      expect(await r.runOnce()).toBe(0);
      let row = await partitionRow(storage, partition);
      expect(row).toMatchObject({ attempts: 1n, owner: null, last_error: 'Error: recorder is down' });
      expect(row.next_attempt_at).toBe(BigInt(clock.now() + 1000));

      expect(await r.runOnce()).toBe(0); // backing off: the sink is not called
      clock.advance(999);
      expect(await r.runOnce()).toBe(0);
      expect(sink.called).toHaveBeenCalledTimes(1);

      clock.advance(1);
      expect(await r.runOnce()).toBe(0); // second failure doubles the delay
      row = await partitionRow(storage, partition);
      expect(row.attempts).toBe(2n);
      expect(row.next_attempt_at).toBe(BigInt(clock.now() + 2000));

      clock.advance(2000);
      expect(await r.runOnce()).toBe(2);
      row = await partitionRow(storage, partition);
      expect(row).toMatchObject({ attempts: 0n, last_error: null, owner: null });
      expect(sink.batches.map((b) => b.map((e) => e.sequence))).toEqual([
        [1, 2],
        [1, 2],
        [1, 2],
      ]);
      expect(errors).toEqual([
        { partition, sink: 'recorder', attempts: 1, retryAt: expect.any(Number) },
        { partition, sink: 'recorder', attempts: 2, retryAt: expect.any(Number) },
      ]);
    });

    it('treats a throwing listener as a sink failure and delivers the batch again', async () => {
      const listeners = new EventListeners();
      let throws = 1;
      const seen: string[] = [];
      listeners.onAny((e) => {
        seen.push(`${e.aggregateId}:${e.sequence}`);
        if (throws-- > 0) throw new Error('listener bug');
      });
      const errors: unknown[] = [];
      const r = relay({ sinks: [listeners], backoff: { baseMs: 10, jitter: false }, onError: (e) => errors.push(e) });
      await commitEvents(storage, [orderEvent('t1', 1)], clock);
      expect(await r.runOnce()).toBe(0);
      expect(errors).toHaveLength(1);
      clock.advance(10);
      expect(await r.runOnce()).toBe(1);
      expect(seen).toEqual(['t1:1', 't1:1']);
    });

    it('keeps a leased partition from a second relay until the first one marks it', async () => {
      const a = recordingSink('a');
      const b = recordingSink('b');
      const held = gate();
      a.hold = held.promise;
      await commitEvents(storage, [orderEvent('l1', 1)], clock);
      const running = relay({ sinks: [a], owner: 'relay-a' }).runOnce();
      await until(() => a.batches.length === 1);
      expect(await relay({ sinks: [b], owner: 'relay-b' }, other).runOnce()).toBe(0);
      held.open();
      expect(await running).toBe(1);
      expect(await relay({ sinks: [b] }, other).runOnce()).toBe(0);
      expect(b.batches).toEqual([]);
    });

    it('fences a relay whose lease expired: it cannot mark the events it delivered', async () => {
      const a = recordingSink('a');
      const b = recordingSink('b');
      const heldA = gate();
      const heldB = gate();
      a.hold = heldA.promise;
      b.hold = heldB.promise;
      const written = await commitEvents(storage, [orderEvent('f1', 1), orderEvent('f1', 2)], clock);
      const partition = written[0]?.partition ?? -1;

      const runA = relay({ sinks: [a], owner: 'relay-a', leaseMs: 1000 }).runOnce();
      await until(() => a.batches.length === 1);
      const fenceA = (await partitionRow(storage, partition)).fence;
      clock.advance(1001); // A stalls past its lease
      const runB = relay({ sinks: [b], owner: 'relay-b', leaseMs: 1000 }, other).runOnce();
      await until(() => b.batches.length === 1);
      const row = await partitionRow(storage, partition);
      expect(row.owner).toBe('relay-b');
      expect(row.fence).toBe(fenceA + 1n);

      heldA.open();
      await expect(runA).rejects.toMatchObject({
        code: 'LEASE_LOST',
        details: { resource: 'outboxPartition', id: String(partition), fence: String(fenceA) },
      });
      expect(await pendingCount(storage)).toBe(2); // A marked nothing
      expect((await partitionRow(storage, partition)).owner).toBe('relay-b');

      heldB.open();
      expect(await runB).toBe(2);
      expect(await pendingCount(storage)).toBe(0);
      expect(a.batches[0]?.map((e) => e.id)).toEqual(b.batches[0]?.map((e) => e.id));
    });

    it('lets the holder of an expired lease that nobody took over still mark its batch', async () => {
      const a = recordingSink('a');
      const held = gate();
      a.hold = held.promise;
      await commitEvents(storage, [orderEvent('e1', 1)], clock);
      const runA = relay({ sinks: [a], leaseMs: 1000 }).runOnce();
      await until(() => a.batches.length === 1);
      clock.advance(5000);
      held.open();
      expect(await runA).toBe(1);
    });

    it('delivers large backlogs in batches, each aggregate in sequence order', async () => {
      const sink = recordingSink();
      const events = Array.from({ length: 60 }, (_, i) => orderEvent(`bl${i % 3}`, i));
      await commitEvents(storage, events.slice(0, 30), clock);
      clock.advance(1);
      await commitEvents(storage, events.slice(30), clock);
      const r = relay({ sinks: [sink], batchSize: 7, partitionsPerRun: 1 });
      let total = 0;
      for (let n = await r.runOnce(); n > 0; n = await r.runOnce()) total += n;
      expect(total).toBe(60);
      expect(Math.max(...sink.batches.map((b) => b.length))).toBeLessThanOrEqual(7);
      for (const id of ['bl0', 'bl1', 'bl2']) {
        const seqs = sink.batches
          .flat()
          .filter((e) => e.aggregateId === id)
          .map((e) => e.sequence);
        expect(seqs).toEqual(seqs.map((_, i) => i + 1));
      }
    });

    it('keeps a partition whose batch came back full for its next round; release() gives it back', async () => {
      const a = recordingSink('a');
      const b = recordingSink('b');
      const relayA = relay({ sinks: [a], owner: 'relay-a', batchSize: 2, leaseMs: 10_000 });
      const relayB = relay({ sinks: [b], owner: 'relay-b' }, other);
      const written = await commitEvents(
        storage,
        [1, 2, 3, 4, 5].map((n) => orderEvent('k1', n)),
        clock,
      );
      const partition = written[0]?.partition ?? -1;

      expect(await relayA.runOnce()).toBe(2);
      const kept = await partitionRow(storage, partition);
      expect(kept).toMatchObject({ owner: 'relay-a', lease_expires_at: BigInt(clock.now() + 10_000) });
      expect(await relayB.runOnce()).toBe(0); // still relay A's
      expect(await relayA.runOnce()).toBe(2); // no new claim: same fence
      expect((await partitionRow(storage, partition)).fence).toBe(kept.fence);
      await relayA.release();
      expect((await partitionRow(storage, partition)).owner).toBeNull();
      expect(await relayB.runOnce()).toBe(1);
      expect([...a.batches, ...b.batches].map((batch) => batch.map((e) => e.sequence))).toEqual([[1, 2], [3, 4], [5]]);

      // A kept lease too close to its expiry is not used again; the partition is claimed afresh.
      await commitEvents(
        storage,
        [6, 7, 8].map((n) => orderEvent('k1', n)),
        clock,
      );
      expect(await relayA.runOnce()).toBe(2);
      clock.advance(6000);
      expect(await relayA.runOnce()).toBe(1);
      // Claims since `kept`: relay B's, relay A's for events 6–7, relay A's again after letting the stale one go.
      expect((await partitionRow(storage, partition)).fence).toBe(kept.fence + 3n);
    });

    it('delivers a kept partition in order when events commit between its batches', async () => {
      // On PostgreSQL the statement that marks a full batch also reads the next one: events committed after it
      // follow in a later batch, never before it.
      const sink = recordingSink();
      const r = relay({ sinks: [sink], batchSize: 2, partitionsPerRun: 1 });
      const written = await commitEvents(
        storage,
        [1, 2, 3].map((n) => orderEvent('pf', n)),
        clock,
      );
      const partition = written[0]?.partition ?? -1;
      expect(await r.runOnce()).toBe(2);
      await commitEvents(storage, [orderEvent('pf', 4)], clock);
      await commitEvents(storage, [orderEvent('pf', 5)], clock);
      let total = 2;
      for (let n = await r.runOnce(); n > 0; n = await r.runOnce()) total += n;
      expect(total).toBe(5);
      expect(sink.batches.flat().map((e) => e.sequence)).toEqual([1, 2, 3, 4, 5]);
      expect(Math.max(...sink.batches.map((b) => b.length))).toBe(2);
      await r.release();
      expect((await partitionRow(storage, partition)).owner).toBeNull();
    });

    it('sweeps delivered events after the retention period and never undelivered ones', async () => {
      const sink = recordingSink();
      const r = relay({ sinks: [sink], retentionMs: 1000 });
      clock.advance(1001);
      await r.sweep(); // what earlier tests delivered
      await commitEvents(storage, [orderEvent('s1', 1), orderEvent('s2', 1)], clock);
      expect(await r.runOnce()).toBe(2);
      expect(await r.sweep()).toBe(0); // not old enough
      clock.advance(1001);
      await commitEvents(storage, [orderEvent('s1', 2)], clock);
      const total = async () =>
        Number(
          (
            await storage.db
              .selectFrom('outbox_events')
              .select((eb) => eb.fn.countAll<bigint>().as('n'))
              .where('aggregate_id', 'in', ['s1', 's2'])
              .executeTakeFirstOrThrow()
          ).n,
        );
      expect(await total()).toBe(3);
      expect(await r.sweep()).toBe(2);
      expect(await total()).toBe(1);
      expect(await r.runOnce()).toBe(1);
      // The sequence continues after a sweep: counters are kept.
      expect(sink.batches.at(-1)?.map((e) => e.sequence)).toEqual([2]);
    });

    it('with retentionMs 0 deletes each batch as it marks it; a fenced relay deletes nothing', async () => {
      const rows = async (aggregateId: string) =>
        storage.db
          .selectFrom('outbox_events')
          .select(['seq', 'delivered_at'])
          .where('aggregate_id', '=', aggregateId)
          .orderBy('seq')
          .execute();
      const sink = recordingSink();
      const r = relay({ sinks: [sink], retentionMs: 0, batchSize: 2, partitionsPerRun: 1 });
      await commitEvents(
        storage,
        [1, 2, 3].map((n) => orderEvent('r0', n)),
        clock,
      );
      expect(await r.runOnce()).toBe(2); // a full batch: deleted in the statement that reads the next one
      expect((await rows('r0')).map((row) => Number(row.seq))).toEqual([3]);
      expect(await r.runOnce()).toBe(1); // the last, partial batch: deleted as the lease is released
      expect(await rows('r0')).toEqual([]);
      await commitEvents(storage, [orderEvent('r0', 4)], clock);
      expect(await r.runOnce()).toBe(1);
      expect(sink.batches.flat().map((e) => e.sequence)).toEqual([1, 2, 3, 4]); // counters outlive the rows
      expect(await r.sweep()).toBe(0);

      // A relay that lost its lease deletes nothing: the new holder's marking stands.
      const a = recordingSink('a');
      const held = gate();
      a.hold = held.promise;
      await commitEvents(storage, [orderEvent('r0-fenced', 1)], clock);
      const runA = relay({ sinks: [a], retentionMs: 0, leaseMs: 1000 }).runOnce();
      await until(() => a.batches.length === 1);
      clock.advance(1001);
      expect(await relay({ sinks: [recordingSink('b')], leaseMs: 1000 }, other).runOnce()).toBe(1);
      held.open();
      await expect(runA).rejects.toMatchObject({ code: 'LEASE_LOST' });
      const kept = await rows('r0-fenced');
      expect(kept).toHaveLength(1);
      expect(kept[0]?.delivered_at).not.toBeNull();
    });

    it('start() drains in the background, wake() cuts the idle wait short, stop() ends the loop', async () => {
      // No sleeps: each step waits for something the relay did. With a 60 s poll, only a wake() (or a stop()) can end
      // the loop's idle wait within the bounds below, so a wake() or stop() that does nothing fails here.
      const listeners = new EventListeners();
      const heard: string[] = [];
      listeners.onAny((e) => {
        heard.push(`${e.aggregateId}#${e.sequence}`);
      });
      const within = <T>(ms: number, what: string, work: Promise<T>) =>
        Promise.race([
          work,
          new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`${what} took over ${ms} ms`)), ms)),
        ]);
      const r = new OutboxRelay(storage, { sinks: [listeners], clock: systemClock, pollIntervalMs: 60_000 });
      await commitEvents(storage, [orderEvent('w0', 1)]);
      r.start();
      r.start(); // idempotent
      // Its first round delivered w0 (and found nothing else to claim, so it does not go straight on): every later
      // round starts after the 60 s idle wait, or a wake().
      await until(() => heard.length === 1, 5000);
      await commitEvents(storage, [orderEvent('w1', 1)]);
      r.wake();
      await until(() => heard.length === 2, 5000);
      expect(heard).toEqual(['w0#1', 'w1#1']);
      await within(5000, 'stop() in the idle wait', r.stop());
      // The loop has ended: a wake() starts no round, so the next event is still there for runOnce.
      await commitEvents(storage, [orderEvent('w1', 2)]);
      r.wake();
      expect(await r.runOnce()).toBe(1);
      expect(heard).toEqual(['w0#1', 'w1#1', 'w1#2']);
    });

    it('rejects invalid options with VALIDATION_FAILED', () => {
      expect(() => new OutboxRelay(storage, { sinks: [] })).toThrow(
        expect.objectContaining({ code: 'VALIDATION_FAILED' }),
      );
      expect(() => new OutboxRelay(storage, { sinks: [recordingSink()], batchSize: 0 })).toThrow(
        expect.objectContaining({ code: 'VALIDATION_FAILED' }),
      );
      expect(() => new OutboxRelay(storage, { sinks: [recordingSink()], batchSize: 5001 })).toThrow(
        expect.objectContaining({ code: 'VALIDATION_FAILED' }),
      );
    });
  });
}

describe('backoffDelay', () => {
  const options = { baseMs: 100, maxMs: 1000, jitter: false };
  it('doubles per attempt up to the maximum', () => {
    expect([1, 2, 3, 4, 5, 6, 60].map((n) => backoffDelay(options, n))).toEqual([100, 200, 400, 800, 1000, 1000, 1000]);
  });
  it('jitters within [delay/2, delay]', () => {
    for (let i = 0; i < 200; i++) {
      const d = backoffDelay({ ...options, jitter: true }, 3);
      expect(d).toBeGreaterThanOrEqual(200);
      expect(d).toBeLessThanOrEqual(400);
    }
  });
});
