import { propertyRuns, type TestDatabase, testBackends } from '@marketkit/testing';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hasErrorCode } from '../../src/errors/marketkit-error.js';
import { appendEvents, type EventSink, type OutboxEvent, OutboxRelay } from '../../src/events/index.js';
import type { Storage } from '../../src/storage/storage.js';
import { openStorage, pendingCount } from './outbox-fixture.js';

const RELAYS = 4;
const LEASE_MS = 150;
const STALL_MS = 200;
const RUNS = propertyRuns(40, { env: 'MARKETKIT_OUTBOX_RUNS' });

/** One random run: transactions writing events (some rolled back) and how the relays and their sinks behave. */
const scenario = fc.record({
  writes: fc.array(
    fc.record({
      aggregates: fc.array(fc.nat({ max: 5 }), { minLength: 1, maxLength: 6 }),
      rollback: fc.nat(3).map((n) => n === 0), // one in four
      pauseMs: fc.nat({ max: 3 }),
    }),
    { minLength: 1, maxLength: 14 },
  ),
  writers: fc.integer({ min: 1, max: 3 }),
  relays: fc.integer({ min: 1, max: RELAYS }),
  batchSize: fc.integer({ min: 1, max: 8 }),
  partitionsPerRun: fc.integer({ min: 1, max: 3 }),
  /** Indices (per relay, per sink call) of deliveries that throw. */
  failures: fc.array(fc.tuple(fc.nat({ max: RELAYS - 1 }), fc.nat({ max: 12 })), { maxLength: 4 }),
  /** One delivery that stalls past the lease, so another relay takes the partition over. */
  stall: fc.option(fc.tuple(fc.nat({ max: RELAYS - 1 }), fc.nat({ max: 6 })), { nil: undefined }),
  sinkPauseMs: fc.array(fc.nat({ max: 2 }), { minLength: RELAYS, maxLength: RELAYS }),
  /** Per relay: keeps delivered events (the default retention) or deletes each batch it marks (`retentionMs: 0`). */
  keeps: fc.array(fc.boolean(), { minLength: RELAYS, maxLength: RELAYS }),
});
type Scenario = typeof scenario extends fc.Arbitrary<infer S> ? S : never;

interface Delivery {
  readonly relay: number;
  readonly call: number;
  readonly events: readonly OutboxEvent[];
  /** The sink returned: the batch was delivered (a sink that throws delivered nothing). */
  readonly ok: boolean;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

for (const backend of testBackends()) {
  describe(`outbox relay properties on ${backend.name}`, () => {
    let database: TestDatabase;
    let writer: Storage;
    let relayStorages: Storage[];
    let run = 0;

    beforeAll(async () => {
      database = await backend.createDatabase();
      writer = await openStorage(database, 4);
      // PostgreSQL: every relay on its own pool, racing for partitions. SQLite: one process keeps one connection
      // (better-sqlite3 blocks the event loop while it waits for another connection's write lock), so the relays
      // share the writer's and interleave between statements.
      relayStorages =
        backend.name === 'postgres'
          ? await Promise.all(Array.from({ length: RELAYS }, () => openStorage(database, 2)))
          : Array.from({ length: RELAYS }, () => writer);
    });
    afterAll(async () => {
      for (const s of new Set([...(relayStorages ?? []), writer])) await s?.destroy();
      await database?.drop();
    });

    async function execute(s: Scenario) {
      run++;
      const committed = new Map<string, { aggregateId: string; sequence: number; payload: unknown }>();
      const rolledBack = new Set<string>();
      const deliveries: Delivery[] = [];
      let writersDone = false;

      const writeTasks = Array.from({ length: s.writers }, async (_, w) => {
        for (let i = w; i < s.writes.length; i += s.writers) {
          const write = s.writes[i];
          if (write === undefined) continue;
          await sleep(write.pauseMs);
          const events = write.aggregates.map((a, k) => ({
            type: 'thing.happened',
            aggregateType: 'thing',
            aggregateId: `r${run}-a${a}`,
            payload: { write: i, k, big: BigInt(i) * 10n ** 20n },
          }));
          let written: Awaited<ReturnType<typeof appendEvents>> = [];
          try {
            await writer.transaction(async (trx) => {
              written = await appendEvents(trx, events, { backend: writer.adapter });
              if (write.rollback) throw new Error('rolled back on purpose');
            });
          } catch (error) {
            if (!write.rollback) throw error;
          }
          for (const [k, e] of written.entries()) {
            if (write.rollback) rolledBack.add(e.id);
            else {
              const p = events[k]?.payload;
              committed.set(e.id, {
                aggregateId: e.aggregateId,
                sequence: e.sequence,
                payload: { ...p, big: String(p?.big) },
              });
            }
          }
        }
      });

      const relayTasks = Array.from({ length: s.relays }, async (_, r) => {
        let calls = 0;
        const sink: EventSink = {
          name: `sink-${r}`,
          async deliver(events) {
            const call = calls++;
            if (s.stall?.[0] === r && s.stall[1] === call) await sleep(STALL_MS);
            else await sleep(s.sinkPauseMs[r] ?? 0);
            const fails = s.failures.some(([fr, fc_]) => fr === r && fc_ === call);
            // Recorded when the sink answers: a batch it threw on was not delivered.
            deliveries.push({ relay: r, call, events, ok: !fails });
            if (fails) throw new Error(`sink ${r} fails call ${call}`);
          },
        };
        const relay = new OutboxRelay(relayStorages[r] as Storage, {
          sinks: [sink],
          owner: `r${run}-relay${r}`,
          batchSize: s.batchSize,
          partitionsPerRun: s.partitionsPerRun,
          // Leases short enough to expire only in runs with a stall; then another relay takes over.
          leaseMs: s.stall === undefined ? 30_000 : LEASE_MS,
          backoff: { baseMs: 1, maxMs: 8 },
          ...(s.keeps[r] === true ? {} : { retentionMs: 0 }),
        });
        const deadline = Date.now() + 20_000;
        for (;;) {
          if (Date.now() > deadline) throw new Error('relays did not drain the outbox in time');
          let n = 0;
          try {
            n = await relay.runOnce();
          } catch (error) {
            if (!hasErrorCode(error, 'LEASE_LOST')) throw error;
          }
          if (n > 0) continue;
          if (writersDone && (await pendingCount(writer)) === 0) return relay.release();
          await sleep(1);
        }
      });

      await Promise.all(writeTasks).finally(() => {
        writersDone = true;
      });
      await Promise.all(relayTasks);
      return { committed, rolledBack, deliveries };
    }

    it('delivers every committed event at least once, no rolled-back one, each aggregate in order', async () => {
      await fc.assert(
        fc.asyncProperty(scenario, async (s) => {
          const { committed, rolledBack, deliveries: attempts } = await execute(s);
          const deliveries = attempts.filter((d) => d.ok);
          const delivered = deliveries.flatMap((d) => d.events);
          expect(attempts.length - deliveries.length).toBeLessThanOrEqual(s.failures.length);

          // No event lost, none invented, none from a rolled-back transaction; payloads intact.
          expect(new Set(delivered.map((e) => e.id))).toEqual(new Set(committed.keys()));
          for (const e of delivered) {
            expect(rolledBack.has(e.id)).toBe(false);
            const c = committed.get(e.id);
            expect({ aggregateId: e.aggregateId, sequence: e.sequence, payload: e.payload }).toEqual(c);
          }

          // Within each batch (failed ones too), an aggregate's events are consecutive sequence numbers, ascending.
          for (const d of attempts) {
            const last = new Map<string, number>();
            for (const e of d.events) {
              const prev = last.get(e.aggregateId);
              if (prev !== undefined) expect(e.sequence).toBe(prev + 1);
              last.set(e.aggregateId, e.sequence);
            }
          }

          // First deliveries of each aggregate come in sequence order 1, 2, 3… (redeliveries may repeat).
          const firsts = new Map<string, number[]>();
          const seen = new Set<string>();
          for (const e of delivered) {
            if (seen.has(e.id)) continue;
            seen.add(e.id);
            firsts.set(e.aggregateId, [...(firsts.get(e.aggregateId) ?? []), e.sequence]);
          }
          for (const seqs of firsts.values()) expect(seqs).toEqual(seqs.map((_, i) => i + 1));

          // Leases keep relays apart: with no failure and no stall, nothing is delivered twice.
          if (s.failures.length === 0 && s.stall === undefined) expect(delivered.length).toBe(committed.size);

          // What is left of the run in the outbox was delivered; a relay with `retentionMs: 0` left nothing it marked.
          const left = await writer.db
            .selectFrom('outbox_events')
            .select(['id', 'delivered_at'])
            .where('aggregate_id', 'like', `r${run}-%`)
            .execute();
          for (const row of left) expect(committed.has(row.id) && row.delivered_at !== null).toBe(true);
          const keeping = s.keeps.slice(0, s.relays);
          if (!keeping.includes(true)) expect(left).toEqual([]);
          if (keeping.every(Boolean)) expect(left.length).toBe(committed.size);
        }),
        { numRuns: RUNS, endOnFailure: true },
      );
    });
  });
}
