/**
 * The workers bench's two lanes and what they share: the step's write, the lane's settings, and how a lane's fresh
 * database is prepared (its queue filled before the workers start).
 */
import { postgresAdapter } from '@marketkit/adapters/postgres';
import { createMarketplace, defineSaga, type LocalSagaStep, SagaRegistry, Sagas, Storage } from '@marketkit/core';
import { SandboxPaymentProvider } from '@marketkit/testing';
import { sql } from 'kysely';
import pg from 'pg';
import { z } from 'zod';

/** Who runs the steps. */
export type LaneName = 'marketkit' | 'graphile';

/** Steps per saga (Marketkit) and jobs per chain (graphile-worker). */
export const STEPS = 3;

/** The worker options a lane runs with; the same numbers are given to both sides where both have the knob. */
export interface LaneSettings {
  /** `concurrency` of Marketkit's worker; `concurrency` of graphile-worker's pool. */
  readonly concurrency: number;
  /** Marketkit's `pollIntervalMs` (its default is 500); graphile-worker's `pollInterval` (default 2,000). */
  readonly pollMs: number;
  /** PostgreSQL connections each worker process may hold (graphile-worker's default `maxPoolSize` is 10). */
  readonly pool: number;
}

/** The step's write, the same statement on both lanes: one small row. */
export const WRITE_SQL = 'insert into bench_effects (id, step, amount) values ($1, $2, 1)';
const EFFECTS_DDL = 'create table bench_effects (id text primary key, step text not null, amount bigint not null)';

/**
 * The Marketkit saga: three local steps, each one write, each committed on its own (`batchLocalSteps: false`;
 * graphile-worker commits each job, so each step commits here too).
 */
export function benchSaga() {
  const step = (name: string): LocalSagaStep<{ n: number }> => ({
    name,
    kind: 'local',
    run: async ({ trx, sagaId }) => {
      await sql`insert into bench_effects (id, step, amount) values (${`${sagaId}:${name}`}, ${name}, 1)`.execute(trx);
    },
  });
  return defineSaga('bench', {
    input: z.object({ n: z.number() }),
    batchLocalSteps: false,
    steps: Array.from({ length: STEPS }, (_, i) => step(`s${i + 1}`)),
  });
}

/** Migrates a fresh database and starts `n` sagas (due now), 1,000 per transaction. */
export async function prepareMarketkit(url: string, n: number): Promise<void> {
  const pool = quietPool(url);
  try {
    await pool.query(EFFECTS_DDL);
    const market = createMarketplace({ adapter: postgresAdapter({ pool }), payments: new SandboxPaymentProvider() });
    await market.migrate();
    await market.close();
    const storage = new Storage(postgresAdapter({ connectionString: url, max: 2 }));
    const sagas = new Sagas(storage, new SagaRegistry([benchSaga()]));
    for (let from = 0; from < n; from += 1000) {
      await storage.transaction(async (trx) => {
        for (let i = from; i < Math.min(n, from + 1000); i++)
          await sagas.start('bench', { n: i }, { id: `m${i}` }, trx);
      });
    }
    await storage.destroy();
    await pool.query('vacuum analyze');
  } finally {
    await pool.end();
  }
}

/** Installs graphile-worker's schema in a fresh database and adds `n` first-step jobs. */
export async function prepareGraphile(url: string, n: number): Promise<void> {
  const { runMigrations } = await import('graphile-worker');
  const pool = quietPool(url);
  try {
    await pool.query(EFFECTS_DDL);
    await runMigrations({ pgPool: pool, logger: quietGraphileLogger(await import('graphile-worker')) });
    await pool.query(
      `select graphile_worker.add_jobs(array(
         select row('s1', json_build_object('id', 'g' || i), null, null, null, null, null, null)::graphile_worker.job_spec
         from generate_series(0, $1::int - 1) i))`,
      [n],
    );
    await pool.query('vacuum analyze');
  } finally {
    await pool.end();
  }
}

/** A graphile-worker logger that drops everything below errors. */
export function quietGraphileLogger(gw: typeof import('graphile-worker')) {
  return new gw.Logger(() => (level, message) => {
    if (level === 'error') console.error(`graphile-worker: ${message}`);
  });
}

/**
 * A pool of 2 whose connections' errors are reported, not thrown (a connection killed while idle, e.g. by another
 * user of a shared server, must not end the run); graphile-worker wants both handlers on a pool it is given.
 */
export function quietPool(url: string): pg.Pool {
  const pool = new pg.Pool({ connectionString: url, max: 2 });
  const report = (error: Error) => console.error(`bench pool: ${error.message}`);
  pool.on('error', report);
  pool.on('connect', (client) => client.on('error', report));
  return pool;
}

/** The pending work left in a lane's queue (sagas not completed; jobs not done). */
export async function pendingWork(client: pg.Pool, lane: LaneName): Promise<number> {
  const q =
    lane === 'marketkit'
      ? "select count(*)::int as n from mk_saga_instances where status <> 'completed'"
      : 'select count(*)::int as n from graphile_worker._private_jobs';
  return (await client.query<{ n: number }>(q)).rows[0]?.n ?? 0;
}
