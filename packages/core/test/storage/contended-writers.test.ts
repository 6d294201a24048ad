/**
 * Writers in several OS processes on one database: every write waits its turn (on SQLite, for the one write lock of
 * the file) and none fails. Four processes run 32 writers each for `MARKETKIT_CONTENDED_WRITERS_MS` (default 20 s,
 * the window of issue 16), every write going through one of Storage's write paths in turn: `transaction`,
 * `templateTransaction`, `autocommit`, `run` and `runRelaxed`. Load must turn into latency, not errors.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { type TestDatabase, testBackends } from '@marketkit/testing';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Storage } from '../../src/storage/storage.js';

const FIXTURE = fileURLToPath(new URL('./fixtures/contended-writer-process.ts', import.meta.url));
const PROCESSES = 4;
const IN_FLIGHT = 32;
const WINDOW_MS = Number(process.env['MARKETKIT_CONTENDED_WRITERS_MS'] ?? 20_000);

interface Report {
  readonly writer: string;
  readonly attempted: number;
  readonly written: number;
  readonly transactional: number;
  readonly slowestMs: number;
  readonly errors: Record<string, number>;
}

interface Writer {
  readonly ready: Promise<void>;
  readonly report: Promise<Report>;
  readonly child: ChildProcess;
}

function startWriter(location: string): Writer {
  const child = spawn(process.execPath, ['--import', 'tsx', FIXTURE, location, String(IN_FLIGHT)], {
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  let out = '';
  let onReady = () => {};
  const ready = new Promise<void>((resolve) => {
    onReady = resolve;
  });
  child.stdout?.on('data', (chunk: Buffer) => {
    out += chunk.toString();
    if (out.includes('ready')) onReady();
  });
  const report = new Promise<Report>((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', (code) => {
      if (code !== 0) reject(new Error(`writer process exited with ${code}`));
      else resolve(JSON.parse(out.trim().split('\n').pop() ?? '{}') as Report);
    });
  });
  return { ready: Promise.race([ready, report.then(() => {})]), report, child };
}

for (const backend of testBackends()) {
  describe(`writers in ${PROCESSES} processes on one ${backend.name} database`, () => {
    let database: TestDatabase;
    let storage: Storage;
    const writers: Writer[] = [];

    beforeAll(async () => {
      database = await backend.createDatabase();
      storage = new Storage(database.adapter());
      await sql`create table contended_writes (id text primary key, writer text not null)`.execute(storage.db);
      await sql`create table contended_counters (writer text primary key, n bigint not null)`.execute(storage.db);
    });
    afterAll(async () => {
      for (const w of writers) if (w.child.exitCode === null) w.child.kill('SIGKILL');
      await storage?.destroy();
      await database?.drop();
    });

    it(
      `${IN_FLIGHT} writers in each of ${PROCESSES} processes for ${WINDOW_MS / 1000} s: every write waits its turn, none fails`,
      async () => {
        writers.push(...Array.from({ length: PROCESSES }, () => startWriter(database.location)));
        await Promise.all(writers.map((w) => w.ready));
        const startAt = Date.now() + 100;
        for (const w of writers) w.child.stdin?.end(`${startAt} ${WINDOW_MS}\n`);
        const reports = await Promise.all(writers.map((w) => w.report));
        console.log(
          `${backend.name}: ${reports.map((r) => `${r.written}/${r.attempted} (slowest ${r.slowestMs} ms)`).join(', ')}`,
        );

        expect(reports.map((r) => r.errors)).toEqual(reports.map(() => ({})));
        const rows = await sql<{ writer: string; count: bigint | number | string }>`
          select writer, count(*) as count from contended_writes group by writer`.execute(storage.db);
        const counters = await sql<{ writer: string; n: bigint | number | string }>`
          select writer, n from contended_counters`.execute(storage.db);
        const written = new Map(rows.rows.map((r) => [r.writer, Number(r.count)]));
        const counted = new Map(counters.rows.map((r) => [r.writer, Number(r.n)]));
        for (const r of reports) {
          expect(r.attempted).toBeGreaterThan(0);
          expect({ writer: r.writer, rows: written.get(r.writer), counter: counted.get(r.writer) }).toEqual({
            writer: r.writer,
            rows: r.attempted,
            counter: r.transactional,
          });
          expect(r.written).toBe(r.attempted);
        }
      },
      WINDOW_MS + 90_000,
    );
  });
}
