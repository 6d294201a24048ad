import { postgresAdapter } from '@marketkit/adapters/postgres';
import { createFreshDatabase, requirePostgresUrl } from '@marketkit/testing';
import { runAdapterConformance } from '@marketkit/testing/conformance';
import { sql } from 'kysely';

/** The URL with `lock_timeout` set for every connection opened from it. */
function withLockTimeout(url: string, ms: number): string {
  const u = new URL(url);
  u.searchParams.set('options', `-c lock_timeout=${Math.trunc(ms)}`);
  return u.toString();
}

runAdapterConformance({
  name: 'postgres',
  async createAdapter() {
    const fresh = await createFreshDatabase(requirePostgresUrl());
    return {
      adapter: postgresAdapter({ connectionString: fresh.url, max: 4 }),
      location: fresh.url,
      cleanup: () => fresh.drop(),
    };
  },
  openAdapter: (url, { lockTimeoutMs }) =>
    postgresAdapter({
      connectionString: lockTimeoutMs === undefined ? url : withLockTimeout(url, lockTimeoutMs),
      max: 4,
    }),
  connectionKiller: {
    async sessionId(db) {
      const { rows } = await sql<{ pid: number }>`select pg_backend_pid() as pid`.execute(db);
      return String(rows[0]?.pid);
    },
    async terminate(db, id) {
      // With a timeout, pg_terminate_backend waits until the session is gone.
      const { rows } = await sql<{ done: boolean }>`select pg_terminate_backend(${Number(id)}, 10000) as done`.execute(
        db,
      );
      if (rows[0]?.done !== true) throw new Error(`session ${id} was not terminated`);
    },
  },
});
