// Its own file: pg warns about a query queued behind another only once per process (module instance), so an
// earlier test's pool would hide the warning this one looks for.
import { createPostgresPool, postgresAdapter } from '@marketkit/adapters/postgres';
import { createFreshDatabase, type FreshDatabase, requirePostgresUrl } from '@marketkit/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

type Queryable = { query(text: string): Promise<{ rows: { plan_cache_mode: string }[] }> };

describe('postgres pool: connection setup', () => {
  let fresh: FreshDatabase;

  beforeAll(async () => {
    fresh = await createFreshDatabase(requirePostgresUrl());
  });
  afterAll(async () => {
    await fresh?.drop();
  });

  it('sets the plan cache mode before a new connection runs anything, queueing no query behind it', async () => {
    const warnings: string[] = [];
    const onWarning = (w: Error) => warnings.push(w.message);
    process.on('warning', onWarning);
    const pool = (await createPostgresPool({
      connectionString: fresh.url,
      max: 4,
      planCacheMode: 'force_custom_plan',
    })) as unknown as Queryable & {
      end(): Promise<void>;
    };
    try {
      // pool.query on connections that are still opening: each query is the first a new client is handed.
      const results = await Promise.all(Array.from({ length: 8 }, () => pool.query('show plan_cache_mode')));
      expect(results.map((r) => r.rows[0]?.plan_cache_mode)).toEqual(Array(8).fill('force_custom_plan'));
      await new Promise((r) => setImmediate(r)); // process warnings are emitted on the next tick
      expect(warnings.filter((m) => m.includes('already executing a query'))).toEqual([]);
    } finally {
      process.off('warning', onWarning);
      await pool.end();
    }
  });

  it('bounds the wait for a pooled connection: connectionTimeoutMs, 10 s by default, checked when made', async () => {
    type WithOptions = { options: { connectionTimeoutMillis?: number }; end(): Promise<void> };
    const byDefault = (await createPostgresPool({ connectionString: fresh.url })) as unknown as WithOptions;
    const given = (await createPostgresPool({
      connectionString: fresh.url,
      connectionTimeoutMs: 250,
    })) as unknown as WithOptions;
    try {
      expect(byDefault.options.connectionTimeoutMillis).toBe(10_000);
      expect(given.options.connectionTimeoutMillis).toBe(250);
    } finally {
      await byDefault.end();
      await given.end();
    }
    for (const connectionTimeoutMs of [-1, 1.5, Number.NaN, 2 ** 31, '100']) {
      expect(() => postgresAdapter({ connectionString: fresh.url, connectionTimeoutMs } as never)).toThrow(
        expect.objectContaining({ code: 'VALIDATION_FAILED' }),
      );
    }
  });
});
