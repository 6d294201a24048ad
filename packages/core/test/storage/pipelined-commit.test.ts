/**
 * Issue 21: on PostgreSQL a transaction's BEGIN goes with its first statement, and the writes queued with
 * `Storage.onCommit` (core's outbox events, a saga step's fenced progress) go with its COMMIT. On a pool in pipeline
 * mode that saves round trips; on either pool a failing queued write fails the whole transaction with its own
 * error, and nothing commits. Round trips are counted on the real `pg` clients: a query sent while the client had
 * nothing in flight starts one.
 */
import { createPostgresPool, postgresAdapter } from '@marketkit/adapters/postgres';
import { sqliteAdapter } from '@marketkit/adapters/sqlite';
import { createFreshDatabase, type FreshDatabase, ManualClock, requirePostgresUrl } from '@marketkit/testing';
import { CompiledQuery, type PostgresPool, sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { MarketEvents } from '../../src/events/market-events.js';
import { defineSaga, SagaRegistry, Sagas } from '../../src/sagas/index.js';
import { fencedCommitWrite } from '../../src/sagas/saga-ctes.js';
import { migrate } from '../../src/schema/migrate.js';
import { Storage } from '../../src/storage/storage.js';

/** `pool` whose clients count the round trips they start and the statements they send. */
function counting(pool: PostgresPool) {
  const counts = { roundTrips: 0, statements: 0 };
  const proxies = new WeakMap<object, object>();
  const wrapped: PostgresPool = {
    connect: async () => {
      const client = await pool.connect();
      let proxy = proxies.get(client);
      if (proxy === undefined) {
        let inFlight = 0;
        const query = (...args: unknown[]) => {
          counts.statements++;
          if (inFlight === 0) counts.roundTrips++;
          inFlight++;
          const answer = (client.query as (...a: unknown[]) => Promise<unknown>)(...args);
          const done = () => {
            inFlight--;
          };
          answer.then(done, done);
          return answer;
        };
        proxy = new Proxy(client, { get: (target, key) => (key === 'query' ? query : Reflect.get(target, key)) });
        proxies.set(client, proxy);
      }
      return proxy as typeof client;
    },
    end: () => pool.end(),
  };
  return {
    pool: wrapped,
    counts,
    reset() {
      counts.roundTrips = 0;
      counts.statements = 0;
    },
  };
}

const noteSaga = defineSaga('note', {
  input: z.object({ id: z.string() }),
  steps: [
    {
      name: 'write',
      kind: 'local',
      run: async ({ trx, input }) => {
        await sql`insert into pipe_notes (id) values (${input.id})`.execute(trx);
      },
    },
  ],
});

const event = (id: string) => ({ type: 'note.written', aggregateType: 'note', aggregateId: id, payload: { id } });

/** The errors a queued write fails with are the driver's own, classified: the code Storage gives them. */
function codeOf(error: unknown): unknown {
  return (error as { code?: unknown }).code;
}

describe('pipelined transactions on postgres', () => {
  let fresh: FreshDatabase;
  let setup: Storage;

  beforeAll(async () => {
    fresh = await createFreshDatabase(requirePostgresUrl());
    setup = new Storage(postgresAdapter({ connectionString: fresh.url, max: 2 }));
    await migrate(setup);
    await sql`create table pipe_notes (id text primary key)`.execute(setup.db);
    // A serialization failure on the next row inserted into pipe_retried, once per `setval` to 0: the sequence
    // advances outside the transaction the failure rolls back, so the rerun goes through.
    await sql`create table pipe_retried (id text primary key)`.execute(setup.db);
    await sql`create sequence fail_pipe`.execute(setup.db);
    await sql`select setval('fail_pipe', 100)`.execute(setup.db);
    await sql
      .raw(`create function fail_pipe_once() returns trigger language plpgsql as $$
        begin
          if nextval('fail_pipe') = 1 then raise exception 'injected conflict' using errcode = '40001'; end if;
          return new;
        end $$`)
      .execute(setup.db);
    await sql`create trigger fail_pipe before insert on pipe_retried for each row execute function fail_pipe_once()`.execute(
      setup.db,
    );
  });
  afterAll(async () => {
    await setup?.destroy();
    await fresh?.drop();
  });

  /** A storage over a pool of `max` clients, pipelined or not, whose round trips `count` counts. */
  async function open(pipeline: boolean) {
    const count = counting(await createPostgresPool({ connectionString: fresh.url, max: 1, pipeline }));
    const storage = new Storage(postgresAdapter({ pool: count.pool }));
    const events = new MarketEvents(storage, new ManualClock());
    await sql`select 1`.execute(storage.db); // the connection's own setup is not counted
    count.reset();
    return { storage, events, count, close: () => Promise.all([storage.destroy(), count.pool.end()]) };
  }

  const notes = async (id: string) =>
    (await sql<{ id: string }>`select id from pipe_notes where id = ${id}`.execute(setup.db)).rows.length;

  it('sends BEGIN with the first statement and queued events with the COMMIT: 2 round trips instead of 4', async () => {
    const trips: Record<string, number> = {};
    for (const pipeline of [false, true]) {
      const { storage, events, count, close } = await open(pipeline);
      try {
        const id = `rt-${pipeline}`;
        await storage.transaction(async (trx) => {
          await sql`insert into pipe_notes (id) values (${id})`.execute(trx);
          await events.appendOnCommit(trx, [event(id)]);
        });
        expect(count.counts.statements).toBe(4); // BEGIN, insert, event, COMMIT: the same statements either way
        trips[String(pipeline)] = count.counts.roundTrips;
        expect(await notes(id)).toBe(1);
        const written = await setup.db
          .selectFrom('outbox_events')
          .select(['seq'])
          .where('aggregate_id', '=', id)
          .execute();
        expect(written.map((r) => Number(r.seq))).toEqual([1]);
      } finally {
        await close();
      }
    }
    expect(trips).toEqual({ false: 4, true: 2 });
  });

  it("runs a saga's local step in 2 round trips instead of 4: its progress and step log go with the COMMIT", async () => {
    const trips: Record<string, number> = {};
    for (const pipeline of [false, true]) {
      const { storage, count, close } = await open(pipeline);
      try {
        const sagas = new Sagas(storage, new SagaRegistry([noteSaga]), new ManualClock());
        const id = `saga-${pipeline}`;
        await sagas.start('note', { id }, { id });
        const [claimed] = await sagas.claim('w1', 1, 30_000);
        count.reset();
        expect(await sagas.execute(claimed!, { owner: 'w1', leaseMs: 30_000, isStopping: () => false })).toBe(
          'completed',
        );
        trips[String(pipeline)] = count.counts.roundTrips;
        expect(await notes(id)).toBe(1);
        expect((await sagas.history(id)).map((e) => `${e.stepName}:${e.outcome}`)).toEqual(['write:completed']);
      } finally {
        await close();
      }
    }
    expect(trips).toEqual({ false: 4, true: 2 });
  });

  it('fails the whole transaction with the error of a queued write that fails, and commits nothing', async () => {
    await sql`insert into pipe_notes (id) values ('taken')`.execute(setup.db);
    for (const pipeline of [false, true]) {
      const { storage, close } = await open(pipeline);
      try {
        const id = `fails-${pipeline}`;
        const failed = storage.transaction(async (trx) => {
          await sql`insert into pipe_notes (id) values (${id})`.execute(trx);
          await storage.onCommit(trx, { query: CompiledQuery.raw(`insert into pipe_notes (id) values ('taken')`) });
          // Sent after the failing one: it fails too (the transaction is aborted), but its error is not reported.
          await storage.onCommit(trx, { query: CompiledQuery.raw(`insert into pipe_notes (id) values ('${id}-2')`) });
        });
        await expect(failed).rejects.toSatisfy((e) => codeOf(e) === 'UNIQUE_VIOLATION');
        expect(await notes(id)).toBe(0);
        expect(await notes(`${id}-2`)).toBe(0);
        // The connection is clean for the next transaction, with nothing queued left over.
        await storage.transaction((trx) => sql`insert into pipe_notes (id) values (${`${id}-next`})`.execute(trx));
        expect(await notes(`${id}-next`)).toBe(1);
      } finally {
        await close();
      }
    }
  });

  it('reruns a transaction whose queued write hits a serialization failure, like any other', async () => {
    for (const pipeline of [false, true]) {
      const { storage, close } = await open(pipeline);
      try {
        const id = `retried-${pipeline}`;
        await sql`select setval('fail_pipe', 1, false)`.execute(setup.db);
        let attempts = 0;
        await storage.transaction(async (trx) => {
          attempts++;
          await sql`insert into pipe_notes (id) values (${id})`.execute(trx);
          await storage.onCommit(trx, { query: CompiledQuery.raw('insert into pipe_retried (id) values ($1)', [id]) });
        });
        expect(attempts).toBe(2);
        expect(await notes(id)).toBe(1);
        await sql`select setval('fail_pipe', 1, false)`.execute(setup.db);
        const once = storage.transaction(
          (trx) =>
            storage.onCommit(trx, { query: CompiledQuery.raw('insert into pipe_retried (id) values ($1)', ['x']) }),
          { maxAttempts: 1 },
        );
        await expect(once).rejects.toSatisfy((e) => codeOf(e) === 'SERIALIZATION_FAILURE');
      } finally {
        await close();
      }
    }
  });

  it('rolls a saga step back when its deferred progress write finds the fence lost, as LEASE_LOST', async () => {
    const { storage, count, close } = await open(true);
    try {
      const sagas = new Sagas(storage, new SagaRegistry([noteSaga]), new ManualClock());
      await sagas.start('note', { id: 'fenced' }, { id: 'fenced' });
      const [claimed] = await sagas.claim('w-old', 1, 30_000);
      // Another worker takes the saga over (a new fencing token) before the old one runs its step.
      await setup.db
        .updateTable('saga_instances')
        .set((eb) => ({ version: eb('version', '+', 1n), lease_owner: 'w-new' }))
        .where('id', '=', 'fenced')
        .execute();
      count.reset();
      const outcome = await sagas.execute(claimed!, { owner: 'w-old', leaseMs: 30_000, isStopping: () => false });
      expect(outcome).toBe('lease-lost');
      expect(count.counts.roundTrips).toBe(2); // the step's insert, then the fenced write with the COMMIT
      expect(await notes('fenced')).toBe(0);
      expect(await sagas.history('fenced')).toEqual([]);
      // The write alone, in a transaction of its own: LEASE_LOST, and `lost` told.
      let lost = false;
      const write = fencedCommitWrite(
        storage,
        'fenced',
        claimed!.version,
        { status: 'running', stepIndex: 1, outputs: {}, attempts: 0, lastError: null, lease: 'keep' },
        [],
        0,
        () => {
          lost = true;
        },
      );
      await expect(storage.transaction((trx) => storage.onCommit(trx, write))).rejects.toSatisfy(
        (e) => codeOf(e) === 'LEASE_LOST',
      );
      expect(lost).toBe(true);
    } finally {
      await close();
    }
  });

  it('fails a transaction whose pipelined BEGIN fails, and sends nothing after its first statement', async () => {
    const count = counting(await createPostgresPool({ connectionString: fresh.url, max: 1, pipeline: true }));
    const adapter = postgresAdapter({ pool: count.pool });
    const storage = new Storage({ ...adapter, beginWrite: 'begin isolation level no_such_level' });
    try {
      const failed = storage.templateTransaction(async (conn) => {
        await conn.executeQuery(CompiledQuery.raw('select 1'));
        await conn.executeQuery(CompiledQuery.raw(`insert into pipe_notes (id) values ('after-begin')`));
      });
      await expect(failed).rejects.toThrow(/no_such_level|syntax/);
      expect(await notes('after-begin')).toBe(0);
      // A transaction that sends nothing sends no BEGIN and no COMMIT either.
      count.reset();
      await storage.transaction(async () => undefined);
      expect(count.counts.statements).toBe(0);
    } finally {
      await storage.destroy();
      await count.pool.end();
    }
  });

  it('keeps a pipelined pool free of what pipeline mode refuses: Marketkit sends no cursor or stream', async () => {
    const { storage, close } = await open(true);
    try {
      await expect(storage.db.selectFrom('outbox_events').select('id').stream().next()).rejects.toThrow(/cursor/);
    } finally {
      await close();
    }
  });
});

describe('Storage.onCommit on sqlite (no round trips: the write runs at once)', () => {
  let storage: Storage;

  beforeAll(async () => {
    storage = new Storage(sqliteAdapter({ filename: ':memory:' }));
    await sql`create table notes (id text primary key)`.execute(storage.db);
  });
  afterAll(async () => {
    await storage?.destroy();
  });

  const count = async () =>
    Number((await sql<{ n: number }>`select count(*) as n from notes`.execute(storage.db)).rows[0]?.n);

  it('runs the write in the transaction at once, and a failing one fails the transaction, which rolls back', async () => {
    expect(storage.queuesCommitWrites).toBe(false);
    await storage.transaction(async (trx) => {
      await storage.onCommit(trx, { query: CompiledQuery.raw(`insert into notes (id) values ('a')`) });
      // Already written: the transaction sees it.
      expect((await sql<{ id: string }>`select id from notes`.execute(trx)).rows).toEqual([{ id: 'a' }]);
    });
    const failed = storage.transaction(async (trx) => {
      await sql`insert into notes (id) values ('b')`.execute(trx);
      await storage.onCommit(trx, {
        query: CompiledQuery.raw(`insert into notes (id) values ('a')`),
        error: () => new Error('mapped'),
      });
    });
    await expect(failed).rejects.toThrow('mapped');
    expect(await count()).toBe(1);
  });
});
