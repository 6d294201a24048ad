import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { postgresAdapter } from '@marketkit/adapters/postgres';
import { sqliteAdapter } from '@marketkit/adapters/sqlite';
import type { StorageAdapter } from '@marketkit/core';
import { createFreshDatabase } from '../postgres/fresh-database.js';
import { requirePostgresUrl } from '../postgres/postgres-url.js';
import { wantedBackendNames } from './backend-names.js';

/** A database for one test file: a fresh SQLite file or a fresh PostgreSQL database. */
export interface TestDatabase {
  /** Opens an adapter on the database; call as often as you need connections (each is its own pool). */
  adapter(options?: { readonly max?: number }): StorageAdapter;
  /** SQLite file path or PostgreSQL URL, for child processes. */
  readonly location: string;
  /** Removes the database. Close every marketplace first. */
  drop(): Promise<void>;
}

/** A backend every shared test body runs on. */
export interface TestBackend {
  readonly name: 'sqlite' | 'postgres';
  /** Creates an empty database on this backend. */
  createDatabase(): Promise<TestDatabase>;
}

const sqlite: TestBackend = {
  name: 'sqlite',
  async createDatabase() {
    const dir = mkdtempSync(join(tmpdir(), 'marketkit-sqlite-'));
    const file = join(dir, 'test.db');
    return {
      location: file,
      adapter: () => sqliteAdapter({ filename: file, synchronous: 'NORMAL' }),
      drop: async () => rmSync(dir, { recursive: true, force: true }),
    };
  },
};

const postgres: TestBackend = {
  name: 'postgres',
  async createDatabase() {
    const fresh = await createFreshDatabase(requirePostgresUrl());
    return {
      location: fresh.url,
      adapter: (options) => postgresAdapter({ connectionString: fresh.url, max: options?.max ?? 4 }),
      drop: () => fresh.drop(),
    };
  },
};

/** `direct` (a database on the server) as reached through the pooler at `MARKETKIT_PG_POOLER_URL`. */
function throughPooler(direct: string): string {
  const pooler = process.env['MARKETKIT_PG_POOLER_URL'];
  if (pooler === undefined) {
    throw new Error('MARKETKIT_BACKENDS names pgbouncer: set MARKETKIT_PG_POOLER_URL (scripts/pg/pgbouncer.sh start)');
  }
  const url = new URL(pooler);
  url.pathname = new URL(direct).pathname;
  return url.toString();
}

/**
 * PostgreSQL through PgBouncer in transaction mode, with the adapter's defaults: the database is created on the
 * server directly (`MARKETKIT_PG_URL`) and used through the pooler. Its name is `postgres` (it is PostgreSQL, and
 * tests that branch on the backend treat it so); `location` is the direct URL, for child processes.
 */
const pgbouncer: TestBackend = {
  name: 'postgres',
  async createDatabase() {
    const fresh = await createFreshDatabase(requirePostgresUrl());
    const pooled = throughPooler(fresh.url);
    return {
      location: fresh.url,
      adapter: (options) => postgresAdapter({ connectionString: pooled, max: options?.max ?? 4 }),
      drop: () => fresh.drop(),
    };
  },
};

/**
 * The backends to run shared tests on: SQLite and PostgreSQL, or those named in `MARKETKIT_BACKENDS`
 * (comma-separated; an unknown name throws, so a typo never drops a backend quietly); `pgbouncer`, only when named,
 * is PostgreSQL through `MARKETKIT_PG_POOLER_URL`, under the name `postgres`. PostgreSQL is never skipped silently: without `MARKETKIT_PG_URL` the vitest global
 * setup starts a throwaway server.
 *
 * @example
 * ```ts
 * for (const backend of testBackends()) {
 *   describe(backend.name, () => { ... });
 * }
 * ```
 */
export function testBackends(): readonly TestBackend[] {
  const wanted = wantedBackendNames();
  if (wanted.includes('pgbouncer') && process.env['MARKETKIT_PG_POOLER_URL'] === undefined) {
    throw new Error('MARKETKIT_BACKENDS names pgbouncer: set MARKETKIT_PG_POOLER_URL (scripts/pg/pgbouncer.sh start)');
  }
  const all = [
    ['sqlite', sqlite],
    ['postgres', postgres],
    ['pgbouncer', pgbouncer],
  ] as const;
  return all.filter(([n]) => wanted.includes(n)).map(([, backend]) => backend);
}
