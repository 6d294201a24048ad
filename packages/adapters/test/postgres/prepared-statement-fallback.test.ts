import { createHash } from 'node:crypto';
import { postgresAdapter } from '@marketkit/adapters/postgres';
import { type Logger, Storage } from '@marketkit/core';
import { createFreshDatabase, type FreshDatabase, requirePostgresUrl } from '@marketkit/testing';
import { CompiledQuery, type Kysely, sql } from 'kysely';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

/**
 * What the adapter does when a named statement is not where its connection left it, made to happen on a direct
 * connection (deterministically) the way a pooler makes it happen: the server forgets the connection's statements
 * (`DEALLOCATE ALL`, so the next Bind finds none: 26000), or already holds one of that name (`PREPARE`: 42P05).
 * The pooler itself is exercised in pgbouncer.test.ts.
 */
const UPSERT =
  'insert into fb_t (id, n) values ($1, $2) on conflict (id) do update set n = fb_t.n + excluded.n returning n';
const NAME = `mk_${createHash('sha1').update(UPSERT).digest('hex')}`;

function recordingLogger(): Logger & { readonly warnings: unknown[] } {
  const warnings: unknown[] = [];
  return { warnings, error: () => {}, warn: (obj) => warnings.push(obj), info: () => {}, debug: () => {} };
}

/** A storage on `url` whose adapter prepares {@link UPSERT} and logs to a recording logger. */
function open(url: string, max: number) {
  const adapter = postgresAdapter({ connectionString: url, max });
  const logger = recordingLogger();
  adapter.useLogger?.(logger);
  adapter.prepare?.(UPSERT);
  const storage = new Storage(adapter);
  return { storage, logger, db: storage.db as unknown as Kysely<unknown> };
}

async function named(db: Kysely<unknown>): Promise<string[]> {
  const { rows } = await sql<{ name: string }>`select name from pg_prepared_statements`.execute(db);
  return rows.map((r) => r.name);
}

describe('postgres adapter: a named statement gone missing (as behind PgBouncer in transaction mode)', () => {
  let fresh: FreshDatabase;

  beforeAll(async () => {
    fresh = await createFreshDatabase(requirePostgresUrl());
    const setup = new pg.Client({ connectionString: fresh.url });
    await setup.connect();
    await setup.query('create table fb_t (id text primary key, n bigint not null)');
    await setup.query('create table fb_effects (attempt int not null)');
    await setup.end();
  });
  afterAll(async () => {
    await fresh?.drop();
  });

  it('outside a transaction: reruns the statement unnamed (it never ran), switches for good, warns once', async () => {
    const { storage, logger, db } = open(fresh.url, 1);
    try {
      const run = async (n: number) =>
        (await db.executeQuery<{ n: bigint }>(CompiledQuery.raw(UPSERT, ['a', n]))).rows[0]?.n;
      expect(await run(1)).toBe(1n);
      expect(await named(db)).toEqual([NAME]);
      await sql`deallocate all`.execute(db); // the next Bind of NAME finds nothing: 26000
      expect(await run(2)).toBe(3n); // ran once, not twice
      expect(await run(3)).toBe(6n);
      expect(await named(db)).toEqual([]); // unnamed from then on
      expect(logger.warnings).toEqual([{ code: '26000', adapter: 'postgres' }]);
    } finally {
      await storage.destroy();
    }
  });

  it('inside a transaction: the transaction is rerun whole (its earlier writes once), then unnamed', async () => {
    const { storage, logger, db } = open(fresh.url, 1);
    try {
      // Another session holds a statement of that name already: this connection's first Parse of it fails (42P05).
      await sql.raw(`prepare "${NAME}" as select 1`).execute(db);
      let attempts = 0;
      const total = await storage.transaction(async (trx) => {
        attempts++;
        await trx.executeQuery(CompiledQuery.raw('insert into fb_effects (attempt) values ($1)', [attempts]));
        return (await trx.executeQuery<{ n: bigint }>(CompiledQuery.raw(UPSERT, ['b', 5]))).rows[0]?.n;
      });
      expect(total).toBe(5n);
      expect(attempts).toBe(2);
      const effects = await sql<{ attempt: number }>`select attempt from fb_effects`.execute(db);
      expect(effects.rows).toEqual([{ attempt: 2 }]); // the first attempt's write rolled back with it
      expect(logger.warnings).toEqual([{ code: '42P05', adapter: 'postgres' }]);
      expect(await named(db)).toEqual([NAME]); // only the one PREPARE made; the adapter added none
    } finally {
      await storage.destroy();
    }
  });

  it('a write sent with the COMMIT whose name is gone: the transaction is rerun whole, the write never runs alone', async () => {
    const { storage, logger, db } = open(fresh.url, 1);
    try {
      expect(storage.queuesCommitWrites).toBe(true);
      await db.executeQuery(CompiledQuery.raw(UPSERT, ['e', 0])); // parsed on the connection under its name
      await sql`deallocate all`.execute(db); // so its Bind at the commit finds nothing: 26000
      let attempts = 0;
      await storage.transaction(async (trx) => {
        attempts++;
        await trx.executeQuery(CompiledQuery.raw('insert into fb_effects (attempt) values ($1)', [100 + attempts]));
        await storage.onCommit(trx, { query: CompiledQuery.raw(UPSERT, ['e', 7]) });
      });
      expect(attempts).toBe(2);
      const effects = await sql<{ attempt: number }>`select attempt from fb_effects where attempt > 100`.execute(db);
      expect(effects.rows).toEqual([{ attempt: 102 }]);
      // Applied once, by the second attempt's commit: not also on its own after the first attempt rolled back.
      const row = await sql<{ n: string }>`select n::text from fb_t where id = 'e'`.execute(db);
      expect(row.rows).toEqual([{ n: '7' }]);
      expect(logger.warnings).toEqual([{ code: '26000', adapter: 'postgres' }]);
    } finally {
      await storage.destroy();
    }
  });

  it('keeps named statements where they survive (a direct connection, or PgBouncer 1.21+ following them)', async () => {
    const { storage, logger, db } = open(fresh.url, 4);
    try {
      const totals = await Promise.all(
        Array.from({ length: 32 }, () =>
          storage.transaction(async (trx) => {
            const out = await trx.executeQuery<{ n: bigint }>(CompiledQuery.raw(UPSERT, ['d', 1]));
            return out.rows[0]?.n;
          }),
        ),
      );
      expect(totals.map(Number).sort((x, y) => x - y)).toEqual(Array.from({ length: 32 }, (_, i) => i + 1));
      expect(logger.warnings).toEqual([]);
      expect(await named(db)).toEqual([NAME]);
    } finally {
      await storage.destroy();
    }
  });

  it('leaves other errors of a named statement alone: not retried, no switch', async () => {
    const { storage, logger, db } = open(fresh.url, 1);
    try {
      let attempts = 0;
      const failed = storage.transaction(async (trx) => {
        attempts++;
        await trx.executeQuery(CompiledQuery.raw(UPSERT, [null, 1]));
      });
      await expect(failed).rejects.toMatchObject({ code: 'STORAGE_ERROR' });
      expect(attempts).toBe(1);
      expect(logger.warnings).toEqual([]);
      await db.executeQuery(CompiledQuery.raw(UPSERT, ['c', 1]));
      expect(await named(db)).toEqual([NAME]);
    } finally {
      await storage.destroy();
    }
  });
});
