/**
 * `npm run bench -- saga [--quick] [--only=sqlite|postgres]`: sagas of four steps (three local writes and one
 * call to an in-process fake payment service) per second, on SQLite and PostgreSQL, with 1 and 32 in flight per
 * process and 1 and 4 processes. Beside each figure, from the same run and the same processes: (a) the same four
 * writes as plain transactions with no durability (the baseline), and the ratio. Also prints the durability cost
 * per step. Every measurement runs in child processes (`node --import tsx`) whose windows are aligned.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { postgresAdapter } from '@marketkit/adapters/postgres';
import { sqliteAdapter } from '@marketkit/adapters/sqlite';
import { type StorageAdapter, systemClock } from '@marketkit/core';
import { createFreshDatabase } from '@marketkit/testing';
import { sql } from 'kysely';
import { z } from 'zod';
import { defineSaga, SagaRegistry, Sagas } from '../../packages/core/src/sagas/index.js';
import { migrate } from '../../packages/core/src/schema/migrate.js';
import { type MarketkitTransaction, Storage } from '../../packages/core/src/storage/storage.js';
import { FakePaymentService } from '../../packages/testing/src/fakes/index.js';
import { type Comparison, formatComparisons, formatTable } from './report.js';

type Backend = 'sqlite' | 'postgres';
type Mode = 'saga' | 'baseline';

interface ChildSpec {
  readonly backend: Backend;
  readonly location: string;
  readonly mode: Mode;
  readonly inFlight: number;
  readonly warmupMs: number;
  readonly durationMs: number;
}

const SELF = fileURLToPath(import.meta.url);

function adapterFor(backend: Backend, location: string, inFlight: number): StorageAdapter {
  return backend === 'sqlite'
    ? sqliteAdapter({ filename: location })
    : postgresAdapter({ connectionString: location, max: Math.min(inFlight + 1, 20) });
}

/** One local write: the same statement for the saga's steps and the baseline. */
async function write(trx: MarketkitTransaction, id: string, step: string): Promise<void> {
  await sql`insert into bench_effects (id, step, amount) values (${`${id}:${step}`}, ${step}, ${1})`.execute(trx);
}

// ---------------------------------------------------------------------------------------------------------------
// Child: runs `inFlight` loops of one mode for the window and prints how many sagas (or baseline rounds) finished.

async function runChild(spec: ChildSpec): Promise<void> {
  const storage = new Storage(adapterFor(spec.backend, spec.location, spec.inFlight));
  const psp = new FakePaymentService();
  const saga = defineSaga('bench', {
    input: z.object({ n: z.number() }),
    steps: [
      { name: 'w1', kind: 'local', run: ({ trx, sagaId }) => write(trx, sagaId, 'w1') },
      {
        name: 'pay',
        kind: 'external',
        run: ({ idempotencyKey }) => psp.charge({ idempotencyKey, account: 'a', amountMinor: 1n }),
      },
      { name: 'w2', kind: 'local', run: ({ trx, sagaId }) => write(trx, sagaId, 'w2') },
      { name: 'w3', kind: 'local', run: ({ trx, sagaId }) => write(trx, sagaId, 'w3') },
    ],
  });
  const sagas = new Sagas(storage, new SagaRegistry([saga]), systemClock);
  let seq = 0;
  const prefix = `${process.pid}-${spec.mode}`;
  const one =
    spec.mode === 'saga'
      ? async () => {
          const outcome = await sagas.run('bench', { n: seq }, { id: `${prefix}-${seq++}` });
          if (outcome !== 'completed') throw new Error(`saga ended ${outcome}`);
        }
      : async () => {
          const id = `${prefix}-${seq++}`;
          await storage.transaction((trx) => write(trx, id, 'w1'));
          await psp.charge({ idempotencyKey: `${id}:pay`, account: 'a', amountMinor: 1n });
          await storage.transaction((trx) => write(trx, id, 'w2'));
          await storage.transaction((trx) => write(trx, id, 'w3'));
        };
  await storage.run((db) => sql`select 1`.execute(db)); // connect before the window
  process.stdout.write('ready\n');
  const startAt = await new Promise<number>((resolve) => {
    process.stdin.once('data', (c: Buffer) => resolve(Number(c.toString().trim())));
  });
  await new Promise((r) => setTimeout(r, Math.max(0, startAt - Date.now())));
  const measureFrom = startAt + spec.warmupMs;
  const end = measureFrom + spec.durationMs;
  let done = 0;
  await Promise.all(
    Array.from({ length: spec.inFlight }, async () => {
      while (Date.now() < end) {
        await one();
        if (Date.now() >= measureFrom && Date.now() < end) done++;
      }
    }),
  );
  await storage.destroy();
  process.stdout.write(`${JSON.stringify({ done })}\n`);
}

// ---------------------------------------------------------------------------------------------------------------
// Parent

interface Child {
  readonly ready: Promise<void>;
  readonly result: Promise<number>;
  go(startAt: number): void;
}

function spawnChild(spec: ChildSpec): Child {
  const child: ChildProcess = spawn(process.execPath, ['--import', 'tsx', SELF, '--child', JSON.stringify(spec)], {
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  let out = '';
  let onReady: () => void = () => {};
  const ready = new Promise<void>((r) => {
    onReady = r;
  });
  child.stdout?.on('data', (c: Buffer) => {
    out += c.toString();
    if (out.includes('ready')) onReady();
  });
  const result = new Promise<number>((resolve, reject) => {
    child.once('exit', (code) => {
      if (code !== 0) reject(new Error(`bench child exited with ${code}`));
      else resolve((JSON.parse(out.trim().split('\n').pop() ?? '{}') as { done: number }).done);
    });
  });
  return { ready, result, go: (startAt) => child.stdin?.end(`${startAt}\n`) };
}

async function measure(
  backend: Backend,
  location: string,
  mode: Mode,
  processes: number,
  inFlight: number,
  o: { warmupMs: number; durationMs: number },
): Promise<number> {
  const spec = { backend, location, mode, inFlight, ...o };
  const children = Array.from({ length: processes }, () => spawnChild(spec));
  await Promise.all(children.map((c) => c.ready));
  const startAt = Date.now() + 50; // every child measures the same window
  for (const c of children) c.go(startAt);
  const counts = await Promise.all(children.map((c) => c.result));
  return (counts.reduce((a, b) => a + b, 0) * 1000) / o.durationMs;
}

async function prepare(backend: Backend): Promise<{ location: string; drop(): Promise<void> }> {
  let location: string;
  let drop: () => Promise<void>;
  if (backend === 'sqlite') {
    const dir = mkdtempSync(join(tmpdir(), 'mk-saga-bench-'));
    location = join(dir, 'bench.db');
    drop = async () => rmSync(dir, { recursive: true, force: true });
  } else {
    const fresh = await createFreshDatabase(
      process.env['MARKETKIT_PG_URL'] ?? 'postgres://root@127.0.0.1:5432/postgres',
    );
    location = fresh.url;
    drop = () => fresh.drop();
  }
  const storage = new Storage(adapterFor(backend, location, 1));
  await migrate(storage);
  await sql`create table bench_effects (id text primary key, step text not null, amount bigint not null)`.execute(
    storage.db,
  );
  await storage.destroy();
  return { location, drop };
}

/**
 * Runs the saga benchmark and prints one table per backend.
 *
 * @example
 * ```ts
 * await runSagaBench(['--quick', '--only=postgres']);
 * ```
 */
export async function runSagaBench(args: readonly string[] = []): Promise<void> {
  const quick = args.includes('--quick');
  const only = args.find((a) => a.startsWith('--only='))?.slice('--only='.length);
  const o = quick ? { warmupMs: 300, durationMs: 1000 } : { warmupMs: 500, durationMs: 2500 };
  const rows: Comparison[] = [];
  const costs: string[][] = [];
  for (const backend of ['sqlite', 'postgres'] as const) {
    if (only !== undefined && only !== backend) continue;
    const db = await prepare(backend);
    try {
      for (const processes of [1, 4]) {
        for (const inFlight of [1, 32]) {
          const baseline = await measure(backend, db.location, 'baseline', processes, inFlight, o);
          const value = await measure(backend, db.location, 'saga', processes, inFlight, o);
          const name = `${processes} proc × ${inFlight} in flight`;
          rows.push({ group: backend, name, value, baseline });
          // Capacity each saga costs beyond the plain writes, per step (4 steps), in µs of wall time × concurrency.
          const perStepUs = ((1 / value - 1 / baseline) * 1e6) / 4;
          costs.push([
            backend,
            name,
            `${perStepUs.toFixed(0)} µs`,
            `${((1e6 / value) * processes * inFlight).toFixed(0)} µs`,
          ]);
        }
      }
    } finally {
      await db.drop();
    }
  }
  console.log('Sagas of 4 steps (3 local writes + 1 external call to an in-process fake), sagas.run() inline');
  console.log(formatComparisons(rows, { value: 'sagas/s', baseline: '(a) plain/s', ratio: 'saga/(a)' }));
  console.log('\nDurability cost: extra throughput-time per step (1/saga − 1/plain, ÷ 4), and saga latency');
  console.log(
    formatTable(['backend', 'workload', 'cost/step', 'latency/saga'], costs, ['left', 'left', 'right', 'right']),
  );
  console.log('\nDBOS Transact comparison: not run (see the note in the report).');
}

if (
  process.argv[1] !== undefined &&
  pathToFileURL(process.argv[1]).href === import.meta.url &&
  process.argv[2] === '--child'
) {
  runChild(JSON.parse(process.argv[3] ?? '{}') as ChildSpec).catch((error: unknown) => {
    console.error(error);
    process.exit(1);
  });
}
