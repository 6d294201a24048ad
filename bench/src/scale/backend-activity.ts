/**
 * What the benchmark database's backends are doing during a window, sampled from `pg_stat_activity` every 200 ms:
 * running a statement (on CPU, or waiting on I/O or a lightweight lock), waiting for a row lock held by another
 * transaction, or idle inside a transaction while the client computes or the round trip travels. For the backends
 * waiting on a lock: which statements wait, and on which tables' rows (`pg_locks`).
 */
import type pg from 'pg';

/** Average number of the database's backends in each state over a window, and what the lock waits wait on. */
export interface Activity {
  readonly running: number;
  readonly lockWait: number;
  readonly idleInTransaction: number;
  /** Samples of a backend waiting on a lock, by the start of its statement. */
  readonly waitingStatements: ReadonlyMap<string, number>;
  /** Samples of a backend waiting for a row of a table (a tuple lock: the row's queue), by table. */
  readonly rowWaits: ReadonlyMap<string, number>;
}

const BACKENDS = `select state, coalesce(wait_event_type, '') as wait,
    left(regexp_replace(query, '\\s+', ' ', 'g'), 70) as query
  from pg_stat_activity where datname = current_database() and pid <> pg_backend_pid()`;
const ROW_WAITS = `select relation::regclass::text as rel, count(*)::int as n from pg_locks
  where not granted and locktype = 'tuple' and database = (select oid from pg_database where datname = current_database())
  group by 1`;

const bump = (m: Map<string, number>, k: string, n = 1) => m.set(k, (m.get(k) ?? 0) + n);

/** Starts sampling on `pool`; `stop` ends and averages. */
export function watchActivity(pool: pg.Pool): { stop: () => Promise<Activity> } {
  const sum = { running: 0, lockWait: 0, idleInTransaction: 0, n: 0 };
  const waitingStatements = new Map<string, number>();
  const rowWaits = new Map<string, number>();
  let stopped = false;
  const loop = (async () => {
    while (!stopped) {
      const [backends, rows] = await Promise.all([
        pool.query<{ state: string | null; wait: string; query: string }>(BACKENDS),
        pool.query<{ rel: string; n: number }>(ROW_WAITS),
      ]);
      for (const b of backends.rows) {
        if (b.wait === 'Lock') {
          sum.lockWait++;
          bump(waitingStatements, b.query);
        } else if (b.state === 'active') sum.running++;
        else if (b.state === 'idle in transaction') sum.idleInTransaction++;
      }
      for (const r of rows.rows) bump(rowWaits, r.rel, r.n);
      sum.n++;
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
  })();
  return {
    async stop() {
      stopped = true;
      await loop;
      const avg = (v: number) => (sum.n === 0 ? 0 : v / sum.n);
      return {
        running: avg(sum.running),
        lockWait: avg(sum.lockWait),
        idleInTransaction: avg(sum.idleInTransaction),
        waitingStatements,
        rowWaits,
      };
    },
  };
}
