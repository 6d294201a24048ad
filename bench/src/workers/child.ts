/**
 * One worker process of `npm run bench -- workers`: a Marketkit worker (`createWorker`) or a graphile-worker
 * runner, on its own pool whose clients count every statement they send. Started by the parent with a JSON
 * {@link ChildSpec} as its argument; prints `ready` once connected, reads the start time (epoch ms) on stdin,
 * starts its worker then, stops it after the warm-up and the window, and prints one JSON {@link ChildResult}.
 *
 * Usage: `node --import tsx child.ts '<spec>'`.
 */
import { createPostgresPool, postgresAdapter } from '@marketkit/adapters/postgres';
import { createWorker, SagaRegistry, Storage } from '@marketkit/core';
import pg from 'pg';
import { benchSaga, type LaneName, type LaneSettings, quietGraphileLogger, STEPS, WRITE_SQL } from './lane.js';

/** What the parent asks of one worker process. */
export interface ChildSpec {
  readonly lane: LaneName;
  readonly url: string;
  readonly settings: LaneSettings;
  readonly warmupMs: number;
  readonly durationMs: number;
}

/** What one worker process reports. */
export interface ChildResult {
  /** Statements its pool's clients sent during the measured window (BEGIN and COMMIT included). */
  readonly statements: number;
  /** The same statements by kind (their first 60 characters, whitespace squeezed), for `--verbose`. */
  readonly kinds: Record<string, number>;
  /** This process's CPU time in the window (user + system), µs. */
  readonly cpuUs: number;
  /** Errors its worker reported over the whole run. */
  readonly errors: number;
}

interface Counter {
  count: number;
  readonly kinds: Map<string, number>;
}

/** What kind of statement a `query` call sends: its text's first 60 characters, whitespace squeezed. */
function kindOf(arg: unknown): string {
  const text = typeof arg === 'string' ? arg : ((arg as { text?: string } | null)?.text ?? '?');
  return text.replace(/\s+/g, ' ').trim().slice(0, 60).toLowerCase();
}

/** Wraps each client's `query` as the pool connects it, so that every statement sent adds one to `counter`. */
function countStatements(pool: pg.Pool, counter: Counter): void {
  pool.on('connect', (client) => {
    const query = client.query.bind(client) as (...args: unknown[]) => unknown;
    (client as unknown as { query: (...args: unknown[]) => unknown }).query = (...args: unknown[]) => {
      counter.count++;
      const kind = kindOf(args[0]);
      counter.kinds.set(kind, (counter.kinds.get(kind) ?? 0) + 1);
      return query(...args);
    };
  });
}

interface Running {
  stop(): Promise<void>;
}

async function marketkit(spec: ChildSpec, counter: Counter, onError: () => void) {
  const pool = (await createPostgresPool({
    connectionString: spec.url,
    max: spec.settings.pool,
  })) as unknown as pg.Pool;
  countStatements(pool, counter);
  await pool.query('select 1');
  const storage = new Storage(postgresAdapter({ pool }));
  const worker = createWorker({
    storage,
    sagas: new SagaRegistry([benchSaga()]),
    concurrency: spec.settings.concurrency,
    pollIntervalMs: spec.settings.pollMs,
    onError: (error, where) => {
      onError();
      console.error(`marketkit worker: ${where}:`, error);
    },
  });
  return {
    start: async (): Promise<Running> => {
      worker.start();
      return {
        stop: async () => {
          await worker.stop();
          await storage.destroy();
        },
      };
    },
  };
}

async function graphile(spec: ChildSpec, counter: Counter, onError: () => void) {
  const gw = await import('graphile-worker');
  const pool = new pg.Pool({ connectionString: spec.url, max: spec.settings.pool });
  pool.on('error', (error) => console.error('graphile-worker pool:', error.message));
  countStatements(pool, counter);
  await pool.query('select 1');
  // Each step's write and the next step's job commit together, through graphile_worker.add_job in the task's
  // transaction (what graphile-worker's docs give for adding jobs atomically with other writes).
  const task =
    (i: number): import('graphile-worker').Task =>
    async (payload, helpers) => {
      const id = (payload as { id: string }).id;
      await helpers.withPgClient(async (client) => {
        await client.query('begin');
        try {
          await client.query(WRITE_SQL, [`${id}:s${i}`, `s${i}`]);
          if (i < STEPS) await client.query('select graphile_worker.add_job($1, $2::json)', [`s${i + 1}`, payload]);
          await client.query('commit');
        } catch (error) {
          await client.query('rollback');
          throw error;
        }
      });
    };
  const taskList = Object.fromEntries(Array.from({ length: STEPS }, (_, i) => [`s${i + 1}`, task(i + 1)]));
  return {
    start: async (): Promise<Running> => {
      const runner = await gw.run({
        pgPool: pool,
        concurrency: spec.settings.concurrency,
        pollInterval: spec.settings.pollMs,
        noHandleSignals: true,
        taskList,
        logger: quietGraphileLogger(gw),
      });
      runner.events.on('job:failed', onError);
      return {
        stop: async () => {
          await runner.stop();
          await pool.end();
        },
      };
    },
  };
}

async function main(spec: ChildSpec): Promise<void> {
  const counter: Counter = { count: 0, kinds: new Map() };
  let errors = 0;
  const onError = () => {
    errors++;
  };
  const lane =
    spec.lane === 'marketkit' ? await marketkit(spec, counter, onError) : await graphile(spec, counter, onError);
  process.stdout.write('ready\n');
  const startAt = await new Promise<number>((resolve) => {
    process.stdin.once('data', (c: Buffer) => resolve(Number(c.toString().trim())));
  });
  const at = (t: number) => new Promise((r) => setTimeout(r, Math.max(0, t - Date.now())));
  await at(startAt);
  const running = await lane.start();
  await at(startAt + spec.warmupMs);
  const from = counter.count;
  const kindsFrom = new Map(counter.kinds);
  const cpu0 = process.cpuUsage();
  await at(startAt + spec.warmupMs + spec.durationMs);
  const statements = counter.count - from;
  const cpu = process.cpuUsage(cpu0);
  const kinds = Object.fromEntries([...counter.kinds].map(([k, n]) => [k, n - (kindsFrom.get(k) ?? 0)]));
  await running.stop();
  const result: ChildResult = { statements, kinds, cpuUs: cpu.user + cpu.system, errors };
  process.stdout.write(`${JSON.stringify(result)}\n`);
}

main(JSON.parse(process.argv[2] ?? '{}') as ChildSpec).then(
  () => process.exit(0),
  (error: unknown) => {
    console.error(error);
    process.exit(1);
  },
);
