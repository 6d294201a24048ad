/**
 * What the benchmark database's backends are doing during a window, sampled from `pg_stat_activity` every 200 ms:
 * running a statement (on CPU, or waiting on I/O or a lightweight lock), waiting for a row lock held by another
 * transaction, or idle inside a transaction while the client computes or the round trip travels.
 */
import type pg from 'pg';

/** Average number of the database's backends in each state over a window. */
export interface Activity {
  readonly running: number;
  readonly lockWait: number;
  readonly idleInTransaction: number;
}

const SQL = `select
    count(*) filter (where state = 'active' and coalesce(wait_event_type, '') <> 'Lock')::int as running,
    count(*) filter (where wait_event_type = 'Lock')::int as lock_wait,
    count(*) filter (where state = 'idle in transaction')::int as idle_in_tx
  from pg_stat_activity where datname = current_database() and pid <> pg_backend_pid()`;

/** Starts sampling on one connection of `pool`; `stop` ends and averages. */
export function watchActivity(pool: pg.Pool): { stop: () => Promise<Activity> } {
  const sum = { running: 0, lockWait: 0, idleInTransaction: 0, n: 0 };
  let stopped = false;
  const loop = (async () => {
    while (!stopped) {
      const r = (await pool.query<{ running: number; lock_wait: number; idle_in_tx: number }>(SQL)).rows[0];
      if (r !== undefined) {
        sum.running += r.running;
        sum.lockWait += r.lock_wait;
        sum.idleInTransaction += r.idle_in_tx;
        sum.n++;
      }
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
      };
    },
  };
}
