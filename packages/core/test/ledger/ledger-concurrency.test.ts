import { type ChildProcess, spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { postgresAdapter } from '@marketkit/adapters/postgres';
import { sqliteAdapter } from '@marketkit/adapters/sqlite';
import { createMarketplace, type Marketplace, type StorageAdapter } from '@marketkit/core';
import { checkLedgerInvariants, testBackends } from '@marketkit/testing';
import { Kysely, sql } from 'kysely';
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import {
  checkRace,
  readTransfersAndAccounts,
  runCaller,
  type SendRecord,
  type SetupReport,
  type StoredLedger,
  setupRace,
} from './fixtures/ledger-race.js';

const backends = testBackends();
const postgres = backends.find((b) => b.name === 'postgres');
const sqlite = backends.find((b) => b.name === 'sqlite');

/** Random per run; set MARKETKIT_RACE_SEED to replay a failing plan (the interleaving itself never replays). */
const SEED = Number(process.env['MARKETKIT_RACE_SEED'] ?? Math.floor(Math.random() * 2 ** 31));
const STEPS = 24;
const ROOT = fileURLToPath(new URL('../../../../', import.meta.url));
const WORKER = fileURLToPath(new URL('./fixtures/ledger-race-worker.ts', import.meta.url));
const APP_NAME = 'mk_race';

/** Status and resolver of every pending transfer, read past the public API. */
async function readPendings(adapter: StorageAdapter): Promise<StoredLedger['pendings']> {
  const db = new Kysely<unknown>({ dialect: adapter.dialect });
  try {
    const { rows } = await sql<{ id: string; status: string; resolved_by_id: string | null }>`
      select id, status, resolved_by_id from mk_pending_transfers`.execute(db);
    return new Map(rows.map((r) => [r.id, { status: r.status, resolvedById: r.resolved_by_id }]));
  } finally {
    await db.destroy();
  }
}

/** Asserts everything the race must leave behind, and that the race really exercised its contested paths. */
async function expectSound(
  market: Marketplace,
  adapter: StorageAdapter,
  setups: readonly SetupReport[],
  records: readonly SendRecord[],
): Promise<void> {
  const pendings = await readPendings(adapter);
  const stored: StoredLedger = { ...(await readTransfersAndAccounts(market)), pendings };
  expect(checkRace(setups, records, stored), `seed ${SEED}`).toEqual([]);
  const verification = await market.ledger.verify();
  expect(verification.problems, `seed ${SEED}`).toEqual([]);
  expect(verification.ok).toBe(true);
  for (const t of verification.totals) {
    expect(t.debitsPosted).toBe(t.creditsPosted);
    expect(t.debitsPending).toBe(t.creditsPending);
  }
  await checkLedgerInvariants(market);

  const count = (result: string) => records.filter((r) => r.result === result).length;
  expect(count('ok'), 'transfers applied').toBeGreaterThan(100);
  expect(count('exists'), 'duplicate ids answered exists').toBeGreaterThan(0);
  expect(count('exceedsCredits'), 'overdrafts refused').toBeGreaterThan(0);
  expect(
    count('pendingTransferAlreadyPosted') + count('pendingTransferAlreadyVoided'),
    'resolve races lost',
  ).toBeGreaterThan(0);
}

/** Polls pg_stat_activity for the most sessions of `APP_NAME` open on the database at once. */
function watchConnections(url: string): { stop(): Promise<number> } {
  const client = new pg.Client({ connectionString: url });
  client.on('error', () => {});
  let peak = 0;
  let running = true;
  const loop = (async () => {
    await client.connect();
    while (running) {
      const { rows } = await client.query<{ n: number }>(
        'select count(*)::int as n from pg_stat_activity where datname = current_database() and application_name = $1',
        [APP_NAME],
      );
      peak = Math.max(peak, rows[0]?.n ?? 0);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  })();
  return {
    async stop() {
      running = false;
      await loop;
      await client.end();
      return peak;
    },
  };
}

function expectMigratedOnce(setups: readonly SetupReport[]): void {
  const applied = setups.flatMap((s) => s.applied);
  expect(applied.length).toBeGreaterThan(0);
  expect(new Set(applied).size, 'each migration applied by exactly one racer').toBe(applied.length);
}

interface Worker {
  readonly ready: Promise<void>;
  readonly done: Promise<{ setups: SetupReport[]; records: SendRecord[] }>;
  go(): void;
  readonly child: ChildProcess;
}

interface WorkerOptions {
  readonly connections: number;
  readonly callers: number;
  /** Whether the worker races the others through migrate(). */
  readonly migrate: boolean;
}

function startWorker(location: string, name: string, options: WorkerOptions): Worker {
  const args = [location, name, SEED, STEPS, options.connections, options.callers, options.migrate ? 1 : 0];
  const child = spawn(process.execPath, ['--import', 'tsx', WORKER, ...args.map(String)], {
    cwd: ROOT,
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  let onReady = () => {};
  let onDone = (_: { setups: SetupReport[]; records: SendRecord[] }) => {};
  let onFail = (_: Error) => {};
  const ready = new Promise<void>((resolve, reject) => {
    onReady = resolve;
    onFail = reject;
  });
  const done = new Promise<{ setups: SetupReport[]; records: SendRecord[] }>((resolve, reject) => {
    onDone = resolve;
    const fail = onFail;
    onFail = (error) => {
      fail(error);
      reject(error);
    };
  });
  ready.catch(() => {});
  done.catch(() => {});
  let finished = false;
  createInterface({ input: child.stdout! }).on('line', (line) => {
    const message = JSON.parse(line) as {
      type: string;
      message?: string;
      setups: SetupReport[];
      records: SendRecord[];
    };
    if (message.type === 'ready') onReady();
    if (message.type === 'done') {
      finished = true;
      onDone(message);
    }
    if (message.type === 'error') onFail(new Error(`worker ${name}: ${message.message}`));
  });
  child.on('exit', (code) => {
    if (!finished) onFail(new Error(`worker ${name} exited with ${code} before reporting`));
  });
  return { ready, done, child, go: () => child.stdin!.write('go\n') };
}

describe.skipIf(postgres === undefined)(
  `ledger races on postgres${postgres === undefined ? ' (skipped: postgres not in MARKETKIT_BACKENDS)' : ''}`,
  () => {
    it('16 connections racing over hot accounts lose nothing, apply nothing twice and never overdraw', async () => {
      const database = await postgres!.createDatabase();
      const markets = Array.from({ length: 16 }, () =>
        createMarketplace({
          adapter: postgresAdapter({ connectionString: database.location, max: 1, applicationName: APP_NAME }),
        }),
      );
      try {
        // Setup races too: 16 concurrent migrate() calls, the same accounts and funding ids from everyone.
        const setups = await Promise.all(markets.map((m, i) => setupRace(m, `s${i}`, { migrate: true })));
        expectMigratedOnce(setups);
        const monitor = watchConnections(database.location);
        const records = (
          await Promise.all(
            markets.map((_, self) => runCaller({ caller: `c${self}`, markets, self, steps: STEPS, seed: SEED })),
          )
        ).flat();
        expect(await monitor.stop(), 'sessions open at once').toBeGreaterThanOrEqual(16);
        await expectSound(markets[0]!, database.adapter(), setups, records);
      } finally {
        await Promise.all(markets.map((m) => m.close()));
        await database.drop();
      }
    });

    it('4 OS processes racing on one database lose nothing, apply nothing twice and never overdraw', async () => {
      const database = await postgres!.createDatabase();
      const workers = Array.from({ length: 4 }, (_, i) =>
        startWorker(database.location, `w${i}`, { connections: 4, callers: 4, migrate: true }),
      );
      const market = createMarketplace({ adapter: database.adapter() });
      try {
        await Promise.all(workers.map((w) => w.ready));
        const monitor = watchConnections(database.location);
        for (const w of workers) w.go();
        const reports = await Promise.all(workers.map((w) => w.done));
        expect(await monitor.stop(), 'sessions open at once').toBeGreaterThanOrEqual(16);
        const setups = reports.flatMap((r) => r.setups);
        expectMigratedOnce(setups);
        await expectSound(
          market,
          database.adapter(),
          setups,
          reports.flatMap((r) => r.records),
        );
      } finally {
        for (const w of workers) if (w.child.exitCode === null) w.child.kill();
        await market.close();
        await database.drop();
      }
    });
  },
);

describe.skipIf(sqlite === undefined)(
  `ledger races on sqlite${sqlite === undefined ? ' (skipped: sqlite not in MARKETKIT_BACKENDS)' : ''}`,
  () => {
    it('two adapters on one file in one process exclude each other (BEGIN IMMEDIATE): nothing lost or doubled', async () => {
      const database = await sqlite!.createDatabase();
      // A writer waits for the other adapter's lock without blocking the event loop, for busyTimeoutMs; this short
      // one makes waiters give up often with LOCK_NOT_AVAILABLE (retryable), which `send` retries: both outcomes
      // of a wait are raced.
      const adapters = [0, 1].map(() =>
        sqliteAdapter({ filename: database.location, synchronous: 'NORMAL', busyTimeoutMs: 20 }),
      );
      const markets = adapters.map((adapter) => createMarketplace({ adapter }));
      const [first, second] = markets as [Marketplace, Marketplace];
      try {
        // Migrate once: racing migrate() on SQLite is the adapter conformance suite's test.
        await first.migrate();
        const setups = await Promise.all(markets.map((m, i) => setupRace(m, `s${i}`, { migrate: false })));
        // Six callers, half on each adapter, each racing through the other adapter too.
        const records = (
          await Promise.all(
            Array.from({ length: 6 }, (_, i) =>
              runCaller({
                caller: `c${i}`,
                markets: i % 2 === 0 ? [first, second] : [second, first],
                self: 0,
                steps: STEPS,
                seed: SEED,
              }),
            ),
          )
        ).flat();
        await expectSound(first, adapters[0]!, setups, records);
      } finally {
        await Promise.all(markets.map((m) => m.close()));
        await database.drop();
      }
    });

    it('two OS processes on one file wait on the busy timeout instead of failing: nothing lost or doubled', async () => {
      const database = await sqlite!.createDatabase();
      const market = createMarketplace({ adapter: database.adapter() });
      await market.migrate();
      const workers = Array.from({ length: 2 }, (_, i) =>
        startWorker(database.location, `w${i}`, { connections: 1, callers: 4, migrate: false }),
      );
      try {
        await Promise.all(workers.map((w) => w.ready));
        for (const w of workers) w.go();
        const reports = await Promise.all(workers.map((w) => w.done));
        const records = reports.flatMap((r) => r.records);
        await expectSound(
          market,
          database.adapter(),
          reports.flatMap((r) => r.setups),
          records,
        );
        // Separate processes have separate event loops: a blocked writer waits for the lock and then proceeds.
        expect(records.filter((r) => r.attempts > 1).map((r) => r.input.id)).toEqual([]);
      } finally {
        for (const w of workers) if (w.child.exitCode === null) w.child.kill();
        await market.close();
        await database.drop();
      }
    });
  },
);
