/**
 * A write that finds the write lock held (SQLite: the file's one lock, taken by another connection) waits for it
 * without blocking the event loop, on every write path of Storage, and gives up with LOCK_NOT_AVAILABLE only at the
 * adapter's deadline (`sqliteAdapter({ busyTimeoutMs })`). Two connections in one process: with a lock wait that
 * blocked the event loop, the holder could never finish and the waiter would always run out of time.
 */
import { sqliteAdapter } from '@marketkit/adapters/sqlite';
import { type TestDatabase, testBackends } from '@marketkit/testing';
import { type Kysely, sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { MarketkitDatabase } from '../../src/schema/database.js';
import { Storage } from '../../src/storage/storage.js';

const bump = sql`update lock_wait_rows set n = n + 1 where id = 'hot'`;

/** Storage's write paths, each sending the one update that needs the lock. */
const PATHS: Record<string, (s: Storage) => Promise<unknown>> = {
  transaction: (s) => s.transaction((trx) => bump.execute(trx)),
  templateTransaction: (s) => s.templateTransaction((conn) => conn.executeQuery(bump.compile(s.db))),
  autocommit: (s) => s.autocommit((db) => bump.execute(db)),
  run: (s) => s.run((db) => bump.execute(db)),
  runRelaxed: (s) => s.runRelaxed((conn) => conn.executeQuery(bump.compile(s.db))),
};

/** Holds the write lock (and the row) in a transaction of `holder` until `release()`. */
async function holdLock(holder: Storage): Promise<{ release(): Promise<void> }> {
  let release = () => {};
  let held = () => {};
  const heldNow = new Promise<void>((r) => {
    held = r;
  });
  const released = new Promise<void>((r) => {
    release = r;
  });
  const done = holder.transaction(async (trx) => {
    await bump.execute(trx);
    held();
    await released;
  });
  await heldNow;
  return {
    release: async () => {
      release();
      await done;
    },
  };
}

/** The longest gap between ticks of a 5 ms interval while `work` runs: how long the event loop was blocked. */
async function longestStall<T>(work: () => Promise<T>): Promise<{ stallMs: number; result: PromiseSettledResult<T> }> {
  let last = performance.now();
  let stallMs = 0;
  const timer = setInterval(() => {
    const now = performance.now();
    stallMs = Math.max(stallMs, now - last);
    last = now;
  }, 5);
  const [result] = await Promise.allSettled([work()]);
  clearInterval(timer);
  return { stallMs: Math.max(stallMs, performance.now() - last), result: result! };
}

const counter = async (db: Kysely<MarketkitDatabase>) =>
  Number((await sql<{ n: unknown }>`select n from lock_wait_rows where id = 'hot'`.execute(db)).rows[0]?.n);

for (const backend of testBackends()) {
  describe(`waiting for the write lock on ${backend.name}`, () => {
    let database: TestDatabase;
    let holder: Storage;
    let waiter: Storage;

    beforeAll(async () => {
      database = await backend.createDatabase();
      holder = new Storage(database.adapter());
      waiter = new Storage(database.adapter());
      await sql`create table lock_wait_rows (id text primary key, n bigint not null)`.execute(holder.db);
      await sql`insert into lock_wait_rows (id, n) values ('hot', 0)`.execute(holder.db);
    });
    afterAll(async () => {
      await holder?.destroy();
      await waiter?.destroy();
      await database?.drop();
    });

    for (const [name, write] of Object.entries(PATHS)) {
      it(`${name}: waits for another connection's write transaction without blocking the event loop, then commits`, async () => {
        const before = await counter(holder.db);
        const lock = await holdLock(holder);
        let releasedAt = Number.POSITIVE_INFINITY;
        setTimeout(() => {
          releasedAt = performance.now();
          void lock.release();
        }, 150);
        const { stallMs, result } = await longestStall(async () => {
          await write(waiter);
          return performance.now();
        });
        await lock.release();
        expect(result.status === 'rejected' ? result.reason : undefined).toBeUndefined();
        expect(result.status === 'fulfilled' && result.value).toBeGreaterThanOrEqual(releasedAt);
        expect(stallMs).toBeLessThan(100);
        expect(await counter(holder.db)).toBe(before + 2);
      });
    }

    it('gives up with LOCK_NOT_AVAILABLE at busyTimeoutMs, not before, and the event loop runs meanwhile', async (ctx) => {
      ctx.skip(
        backend.name !== 'sqlite',
        'busyTimeoutMs is the SQLite adapter’s deadline; PostgreSQL waits in the server',
      );
      const impatient = new Storage(sqliteAdapter({ filename: database.location, busyTimeoutMs: 300 }));
      try {
        const lock = await holdLock(holder);
        const started = performance.now();
        const { stallMs, result } = await longestStall(() => PATHS['transaction']!(impatient));
        const waitedMs = performance.now() - started;
        // Within the deadline, the same writer gets through.
        setTimeout(() => void lock.release(), 150);
        await PATHS['autocommit']!(impatient);
        expect(result.status === 'rejected' && result.reason).toMatchObject({
          code: 'LOCK_NOT_AVAILABLE',
          retryable: true,
        });
        expect(waitedMs).toBeGreaterThanOrEqual(300);
        expect(waitedMs).toBeLessThan(1000);
        expect(stallMs).toBeLessThan(100);
      } finally {
        await impatient.destroy();
      }
    });
  });
}
