/**
 * The adapter conformance suite on PostgreSQL with a hot standby as read replica (MARKETKIT_PG_REPLICA_URL, see
 * replica.test.ts): every behaviour the suite checks holds when the replica-safe reads go to a standby, since each
 * marketplace instance reads its own writes there.
 */
import { postgresAdapter } from '@marketkit/adapters/postgres';
import { createFreshDatabase, requirePostgresUrl } from '@marketkit/testing';
import { runAdapterConformance } from '@marketkit/testing/conformance';
import { describe, it } from 'vitest';

const REPLICA_URL_ENV = 'MARKETKIT_PG_REPLICA_URL';
const replicaBase = process.env[REPLICA_URL_ENV];

/** `base` with its database replaced by the one of `url`. */
function replicaOf(base: string, url: string): string {
  const replica = new URL(base);
  replica.pathname = new URL(url).pathname;
  return replica.toString();
}

/** The URL with `lock_timeout` set for every connection opened from it. */
function withLockTimeout(url: string, ms: number | undefined): string {
  if (ms === undefined) return url;
  const u = new URL(url);
  u.searchParams.set('options', `-c lock_timeout=${Math.trunc(ms)}`);
  return u.toString();
}

if (replicaBase === undefined) {
  describe('adapter conformance: postgres with a read replica', () => {
    it.skip(`needs ${REPLICA_URL_ENV} (scripts/pg/replica.sh start prints it)`, () => {});
  });
} else {
  const base = replicaBase;
  const adapterOn = (url: string, lockTimeoutMs?: number) =>
    postgresAdapter({
      connectionString: withLockTimeout(url, lockTimeoutMs),
      max: 4,
      replicas: [{ connectionString: replicaOf(base, url), max: 4 }],
    });
  runAdapterConformance({
    name: 'postgres with a read replica',
    async createAdapter() {
      const fresh = await createFreshDatabase(requirePostgresUrl());
      return { adapter: adapterOn(fresh.url), location: fresh.url, cleanup: () => fresh.drop() };
    },
    openAdapter: (url, { lockTimeoutMs }) => adapterOn(url, lockTimeoutMs),
  });
}
