import { type AddressInfo, connect, createServer, type Socket } from 'node:net';
import { postgresAdapter } from '@marketkit/adapters/postgres';
import { createFreshDatabase, type FreshDatabase, requirePostgresUrl } from '@marketkit/testing';
import { CompiledQuery, Kysely, sql } from 'kysely';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const UPSERT =
  'insert into prep_t (id, n) values ($1, $2) on conflict (id) do update set n = prep_t.n + excluded.n returning n';

interface Prepared {
  readonly name: string;
  readonly statement: string;
}

/** The named statements prepared in the session of the connection `db` runs on. */
async function preparedOn(db: Kysely<unknown>): Promise<Prepared[]> {
  const { rows } = await sql<Prepared>`select name, statement from pg_prepared_statements order by name`.execute(db);
  return rows;
}

describe('postgres adapter: prepared statements', () => {
  let fresh: FreshDatabase;

  beforeAll(async () => {
    fresh = await createFreshDatabase(requirePostgresUrl());
    const setup = new pg.Client({ connectionString: fresh.url });
    await setup.connect();
    await setup.query('create table prep_t (id text primary key, n bigint not null)');
    await setup.end();
  });
  afterAll(async () => {
    await fresh?.drop();
  });

  it('runs a registered text as a named statement parsed once per connection, with new values every run', async () => {
    const adapter = postgresAdapter({ connectionString: fresh.url, max: 1 });
    const db = new Kysely<unknown>({ dialect: adapter.dialect });
    try {
      adapter.prepare?.(UPSERT);
      // More runs than PostgreSQL's five custom plans, so a generic plan serves the later ones.
      const totals: bigint[] = [];
      await db.connection().execute(async (conn) => {
        for (let i = 1; i <= 8; i++) {
          const out = await conn.executeQuery<{ n: bigint }>(CompiledQuery.raw(UPSERT, [`k${i % 2}`, i]));
          totals.push(out.rows[0]!.n);
        }
        await sql`select 1`.execute(conn);
        const prepared = await preparedOn(conn);
        expect(prepared).toHaveLength(1);
        expect(prepared[0]!.name).toMatch(/^mk_[0-9a-f]{40}$/);
        expect(prepared[0]!.statement).toBe(UPSERT);
      });
      expect(totals).toEqual([1n, 2n, 4n, 6n, 9n, 12n, 16n, 20n]);
    } finally {
      await db.destroy();
    }
  });

  it('prepares nothing when turned off, and nothing that was not registered', async () => {
    for (const config of [{ preparedStatements: false }, {}]) {
      const adapter = postgresAdapter({ connectionString: fresh.url, max: 1, ...config });
      const db = new Kysely<unknown>({ dialect: adapter.dialect });
      try {
        if (config.preparedStatements === false) {
          expect(adapter.prepare).toBeUndefined();
        }
        await db.connection().execute(async (conn) => {
          await conn.executeQuery(CompiledQuery.raw(UPSERT, ['off', 1]));
          expect(await preparedOn(conn)).toEqual([]);
        });
      } finally {
        await db.destroy();
      }
    }
  });

  it('lets two adapters share one pool: both name a text alike', async () => {
    const pool = new pg.Pool({ connectionString: fresh.url, max: 1 });
    const a = postgresAdapter({ pool });
    const b = postgresAdapter({ pool });
    const dbA = new Kysely<unknown>({ dialect: a.dialect });
    const dbB = new Kysely<unknown>({ dialect: b.dialect });
    try {
      a.prepare?.(UPSERT);
      b.prepare?.(UPSERT);
      await dbA.executeQuery(CompiledQuery.raw(UPSERT, ['shared', 1]));
      const out = await dbB.executeQuery<{ n: bigint }>(CompiledQuery.raw(UPSERT, ['shared', 2]));
      expect(String(out.rows[0]!.n)).toBe('3'); // a host pool parses bigint its own way (text here)
      const prepared = await preparedOn(dbB);
      expect(prepared.map((p) => p.statement)).toEqual([UPSERT]);
      // Closing either leaves the host's pool open: it still serves the host's own queries.
      await dbA.destroy();
      await dbB.destroy();
      const { rows } = await pool.query<{ n: string }>('select n from prep_t where id = $1', ['shared']);
      expect(rows).toEqual([{ n: '3' }]);
    } finally {
      await pool.end();
    }
  });

  it("keeps the server's plan cache mode by default, and sets the one asked for", async () => {
    const cases = [
      [{}, 'auto'],
      [{ planCacheMode: 'force_custom_plan' as const }, 'force_custom_plan'],
      [{ planCacheMode: 'auto' as const }, 'auto'],
      [{ planCacheMode: 'force_generic_plan' as const }, 'force_generic_plan'],
      [{ preparedStatements: false }, 'auto'],
    ] as const;
    for (const [config, expected] of cases) {
      const adapter = postgresAdapter({ connectionString: fresh.url, max: 1, ...config });
      const db = new Kysely<unknown>({ dialect: adapter.dialect });
      try {
        const { rows } = await sql<{ plan_cache_mode: string }>`show plan_cache_mode`.execute(db);
        expect(rows[0]?.plan_cache_mode).toBe(expected);
      } finally {
        await db.destroy();
      }
    }
  });

  it('refuses a plan cache mode PostgreSQL does not have, or a bad re-plan interval, before opening anything', () => {
    for (const bad of [{ planCacheMode: 'fast' as never }, { replanAfterMs: -1 }, { replanAfterMs: Number.NaN }]) {
      expect(() => postgresAdapter({ connectionString: fresh.url, ...bad })).toThrow(
        expect.objectContaining({ code: 'VALIDATION_FAILED' }),
      );
    }
  });

  it('re-plans a generic plan cached while a table was small once replanAfterMs passed, without an analyze', async () => {
    const setup = new pg.Client({ connectionString: fresh.url });
    await setup.connect();
    // No autovacuum on this table: only the adapter's re-planning can make the plan see its growth.
    await setup.query('create table plan_t (id text primary key, pad text) with (autovacuum_enabled = false)');
    await setup.query(`insert into plan_t select 'r' || g, 'x' from generate_series(1, 5) g`);
    const lookup = 'select pad from plan_t where id = $1';
    // The same query under another text: a second cached plan that nothing in the test re-plans on purpose. The
    // server itself drops every cached plan of a backend that fell behind its invalidation queue (a "reset", when
    // other databases on a loaded server churn their catalogs); when that happened, the sentinel shows it and the
    // attempt is void, so only an undisturbed attempt is judged.
    const sentinel = 'select pad from plan_t where id = $1 and pad is not null';
    /** The plan the connection's prepared statement `text` runs with now (the scan node of `EXPLAIN EXECUTE`). */
    const planOf = async (conn: Kysely<unknown>, text: string) => {
      const named = await sql<{ name: string }>`select name from pg_prepared_statements where statement = ${text}`
        .execute(conn)
        .then((r) => r.rows[0]!.name);
      const plan = await sql<{ 'QUERY PLAN': string }>`explain execute ${sql.id(named)}('r1')`.execute(conn);
      return plan.rows[0]!['QUERY PLAN'].split(' on ')[0]!.trim();
    };
    const runs = async (conn: Kysely<unknown>, n: number) => {
      for (let i = 0; i < n; i++) {
        for (const text of [lookup, sentinel]) await conn.executeQuery(CompiledQuery.raw(text, [`r${1 + (i % 5)}`]));
      }
    };
    /** One run of the scenario; `undefined` when the server re-planned on its own part-way (see `sentinel`). */
    const attempt = async (replanAfterMs: number) => {
      await setup.query(`delete from plan_t where id not like 'r_'`);
      await setup.query('vacuum plan_t'); // back to one page, as the table was when the plan was first cached
      const adapter = postgresAdapter({ connectionString: fresh.url, max: 1, replanAfterMs });
      const db = new Kysely<unknown>({ dialect: adapter.dialect });
      adapter.prepare?.(lookup);
      adapter.prepare?.(sentinel);
      try {
        // One hand-out of the connection, however long the insert takes: nothing is discarded inside it.
        const stale = await db.connection().execute(async (conn) => {
          await runs(conn, 8); // past PostgreSQL's five custom plans: a generic one is cached
          expect(await planOf(conn, lookup)).toBe('Seq Scan'); // on a one-page table the cheapest
          await setup.query(`insert into plan_t select 'g' || g, repeat('y', 50) from generate_series(1, 50000) g`);
          if ((await planOf(conn, sentinel)) !== 'Seq Scan') return undefined;
          return planOf(conn, lookup);
        });
        if (stale === undefined) return undefined;
        expect(stale).toBe('Seq Scan'); // still the cached plan: now a scan of 50,000 rows
        await new Promise((r) => setTimeout(r, 200));
        return await db.connection().execute(async (conn) => {
          await runs(conn, 1);
          const [after, control] = [await planOf(conn, lookup), await planOf(conn, sentinel)];
          // Without re-planning, the sentinel keeps its stale plan unless the server dropped it.
          if (replanAfterMs === 0 && control !== 'Seq Scan') return undefined;
          return after;
        });
      } finally {
        await db.destroy();
      }
    };
    try {
      for (const [replanAfterMs, expected] of [
        [0, 'Seq Scan'],
        [150, 'Index Scan using plan_t_pkey'],
      ] as const) {
        let judged: string | undefined;
        for (let tries = 0; judged === undefined && tries < 5; tries++) judged = await attempt(replanAfterMs);
        expect(judged, 'five attempts in a row disturbed by the server dropping cached plans').toBe(expected);
      }
    } finally {
      await setup.end();
    }
  });

  it('keeps a connection usable after a prepared statement fails', async () => {
    const adapter = postgresAdapter({ connectionString: fresh.url, max: 1 });
    const db = new Kysely<unknown>({ dialect: adapter.dialect });
    const insert = 'insert into prep_t (id, n) values ($1, $2)';
    try {
      adapter.prepare?.(insert);
      await db.executeQuery(CompiledQuery.raw(insert, ['dup', 1]));
      await expect(db.executeQuery(CompiledQuery.raw(insert, ['dup', 1]))).rejects.toMatchObject({ code: '23505' });
      // A value the server cannot take fails at bind time, after the statement was parsed.
      await expect(db.executeQuery(CompiledQuery.raw(insert, ['bad', 'x']))).rejects.toMatchObject({ code: '22P02' });
      await db.executeQuery(CompiledQuery.raw(insert, ['after', 5]));
      const { rows } = await sql<{ n: bigint }>`select n from prep_t where id = 'after'`.execute(db);
      expect(rows).toEqual([{ n: 5n }]);
    } finally {
      await db.destroy();
    }
  });

  it('drops a connection whose DISCARD PLANS fails (it died while idle) and tries the next, until one answers', async () => {
    const proxy = await blackHoleProxy(new URL(fresh.url));
    const lookup = 'select n from prep_t where id = $1';
    const adapter = postgresAdapter({ connectionString: proxy.url, max: 2, replanAfterMs: 1 });
    const db = new Kysely<unknown>({ dialect: adapter.dialect });
    adapter.prepare?.(lookup);
    try {
      await db.executeQuery(CompiledQuery.raw("insert into prep_t (id, n) values ('dead', 7)"));
      const read = async () => (await db.executeQuery<{ n: bigint }>(CompiledQuery.raw(lookup, ['dead']))).rows;
      expect(await read()).toEqual([{ n: 7n }]); // a named run: the connection's plans now date from here
      expect(proxy.opened()).toBe(1);
      await new Promise((r) => setTimeout(r, 10));
      // The idle connection goes silent (no error reaches the pool); the next write to it breaks it.
      proxy.breakOpen();
      expect(await read()).toEqual([{ n: 7n }]);
      expect(proxy.opened()).toBe(2); // the dead one dropped, a fresh one opened
      // Both idle connections dead (a network failure): each is dropped in turn, and the caller gets a new one.
      await db.connection().execute(async (a) => {
        await db.connection().execute(async (b) => {
          // Both connections handed out at once, both running the named statement: both have cached plans.
          for (const conn of [a, b]) await conn.executeQuery(CompiledQuery.raw(lookup, ['dead']));
        });
      });
      expect(proxy.opened()).toBe(3);
      await new Promise((r) => setTimeout(r, 10));
      proxy.breakOpen();
      expect(await read()).toEqual([{ n: 7n }]);
      expect(proxy.opened()).toBe(4);
    } finally {
      await db.destroy();
      await proxy.close();
    }
  });
});

/**
 * A TCP proxy to PostgreSQL that can make its open connections die silently: after `breakOpen()`, a connection
 * forwards nothing more and is closed as soon as the client writes to it, so the client learns of it only from its
 * next query (as after a network failure or a server restart the pool did not notice while the client sat idle).
 */
async function blackHoleProxy(target: URL) {
  const pairs = new Set<{ readonly client: Socket; readonly upstream: Socket }>();
  let opened = 0;
  const server = createServer((client) => {
    opened++;
    const upstream = connect(Number(target.port || 5432), target.hostname || 'localhost');
    const pair = { client, upstream };
    pairs.add(pair);
    const drop = () => {
      pairs.delete(pair);
      client.destroy();
      upstream.destroy();
    };
    for (const socket of [client, upstream]) socket.on('error', drop).on('close', drop);
    client.pipe(upstream).pipe(client);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = new URL(target);
  url.hostname = '127.0.0.1';
  url.port = String((server.address() as AddressInfo).port);
  return {
    url: url.toString(),
    opened: () => opened,
    breakOpen() {
      for (const { client, upstream } of pairs) {
        client.unpipe(upstream);
        upstream.unpipe(client);
        client.once('data', () => client.destroy()).resume();
      }
    },
    async close() {
      for (const { client } of pairs) client.destroy();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}
