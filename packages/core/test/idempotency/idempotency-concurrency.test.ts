import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { MarketkitError } from '@marketkit/core';
import { ManualClock, type TestDatabase, testBackends } from '@marketkit/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Idempotency } from '../../src/idempotency/idempotency.js';
import { Storage } from '../../src/storage/storage.js';
import { closeAll, countEffects, idempotencyOn, insertEffect, openStorage, outcome } from './idempotency-fixture.js';

const worker = fileURLToPath(new URL('./fixtures/idempotency-worker.ts', import.meta.url));
const call = (key: string, request: unknown = { amount: 500n }) => ({
  key,
  actor: 'racer',
  operation: 'race',
  request,
});

for (const backend of testBackends()) {
  describe(`concurrent requests with one idempotency key on ${backend.name}`, () => {
    let database: TestDatabase;
    let storages: Storage[];
    let idems: Idempotency[];
    const clock = new ManualClock();
    /** 16 real connections on PostgreSQL; on SQLite one connection (writers serialize there anyway). */
    const callers = backend.name === 'postgres' ? 16 : 8;

    beforeAll(async () => {
      database = await backend.createDatabase();
      const first = await openStorage(database, 1);
      const concurrent = database.adapter().capabilities.concurrentWriters;
      const more = concurrent
        ? Array.from({ length: callers - 1 }, () => new Storage(database.adapter({ max: 1 })))
        : [];
      storages = [first, ...more];
      idems = storages.map((s) => idempotencyOn(s, clock));
      await Promise.all(idems.map((i) => i.inspect(call('warm-up'))));
    });
    afterAll(async () => {
      await closeAll(storages);
      await database?.drop();
    });

    const on = (i: number) => idems[i % idems.length] as Idempotency;

    it('commits the function once and gives every caller the same result', async () => {
      let runs = 0;
      const results = await Promise.all(
        Array.from({ length: callers }, (_, i) =>
          outcome(
            on(i).execute(call('same'), async (trx) => {
              runs++;
              await insertEffect(trx, 'same');
              await new Promise((resolve) => setTimeout(resolve, 50));
              return { winner: i, amount: 500n };
            }),
          ),
        ),
      );
      const first = results[0];
      expect(first).toHaveProperty('ok');
      for (const r of results) expect(r).toStrictEqual(first);
      expect(runs).toBe(1);
      expect(await countEffects(storages[0] as Storage, 'same')).toBe(1);
    });

    it('gives exactly one caller of begin the key and the others IDEMPOTENCY_CONFLICT', async () => {
      const results = await Promise.all(Array.from({ length: callers }, (_, i) => outcome(on(i).begin(call('begin')))));
      expect(results.filter((r) => 'ok' in r && r.ok.status === 'started')).toHaveLength(1);
      expect(results.filter((r) => 'code' in r && r.code === 'IDEMPOTENCY_CONFLICT')).toHaveLength(callers - 1);
    });

    it('replays one deterministic error to every caller and commits none of the writes', async () => {
      const results = await Promise.all(
        Array.from({ length: callers }, (_, i) =>
          on(i)
            .execute(call('declined'), async (trx) => {
              await insertEffect(trx, 'declined');
              throw new MarketkitError('INSUFFICIENT_FUNDS', {
                message: `declined for caller ${i}`,
                details: { accountId: 'buyer-1', amountMinor: '500' },
              });
            })
            .catch((e: MarketkitError) => e.toJSON()),
        ),
      );
      const stored = await on(0)
        .execute(call('declined'), async () => 'never')
        .catch((e: MarketkitError) => e.toJSON());
      expect(stored).toMatchObject({ code: 'INSUFFICIENT_FUNDS' });
      // Each caller got its own run's error or the stored one; every later request gets the stored one.
      for (const r of results) expect(r).toMatchObject({ code: 'INSUFFICIENT_FUNDS', retryable: false });
      expect(await countEffects(storages[0] as Storage, 'declined')).toBe(0);
    });

    it('runs a reused expired key once while sweepers delete expired keys', async () => {
      await on(0).execute(call('expired', 'old'), async () => 'old');
      clock.advance(on(0).ttlMs);
      let runs = 0;
      const results = await Promise.all(
        Array.from({ length: callers }, (_, i) =>
          i % 4 === 3
            ? on(i).sweepExpired()
            : outcome(
                on(i).execute(call('expired', 'new'), async (trx) => {
                  runs++;
                  await insertEffect(trx, 'expired');
                  return 'new';
                }),
              ),
        ),
      );
      expect(runs).toBe(1);
      for (const r of results) if (typeof r !== 'number') expect(r).toEqual({ ok: 'new' });
      expect(await countEffects(storages[0] as Storage, 'expired')).toBe(1);
      expect(await on(0).inspect(call('expired'))).toMatchObject({ status: 'succeeded', expired: false });
    });
  });
}

const postgres = testBackends().find((b) => b.name === 'postgres');

describe.runIf(postgres !== undefined)('one idempotency key from 4 processes on postgres', () => {
  let database: TestDatabase;
  let storage: Storage;
  let children: ChildProcessWithoutNullStreams[] = [];
  let messages: ReturnType<typeof collect>[] = [];

  beforeAll(async () => {
    database = await postgres!.createDatabase();
    storage = await openStorage(database, 1);
    // 4 worker processes of 4 callers each, for both races (each process start costs a tsx boot).
    children = Array.from({ length: 4 }, (_, w) =>
      spawn(process.execPath, ['--import', 'tsx', worker, database.location, `w${w}`, 'proc', '4']),
    );
    messages = children.map(collect);
    await Promise.all(messages.map((m) => m.next('ready')));
  });
  afterAll(async () => {
    for (const child of children) child.kill();
    await closeAll([storage]);
    await database?.drop();
  });

  /** Releases every worker at once into the race of `mode` and returns every caller's outcome. */
  async function race(mode: 'execute' | 'begin'): Promise<Record<string, unknown>[]> {
    for (const child of children) child.stdin.write('go\n');
    const done = await Promise.all(messages.map((m) => m.next(mode)));
    return done.flatMap((d) => d['outcomes'] as Record<string, unknown>[]);
  }

  it('runs the function once and every process gets the same result', async () => {
    const outcomes = await race('execute');
    expect(outcomes).toHaveLength(16);
    const first = outcomes[0];
    expect(first).toHaveProperty('ok.amount', '500n');
    for (const o of outcomes) expect(o).toStrictEqual(first);
    expect(await countEffects(storage, 'proc-execute')).toBe(1);
  });

  it('gives begin to one caller of all processes; the rest get IDEMPOTENCY_CONFLICT or the replay', async () => {
    const outcomes = await race('begin');
    expect(outcomes).toHaveLength(16);
    const started = outcomes.filter((o) => 'started' in o);
    expect(started).toHaveLength(1);
    for (const o of outcomes) {
      if ('started' in o) continue;
      if ('replayed' in o) expect(o).toEqual({ replayed: { winner: started[0]?.['started'] } });
      else expect(o).toEqual({ code: 'IDEMPOTENCY_CONFLICT' });
    }
    expect(await countEffects(storage, 'proc-begin')).toBe(1);
  });
});

/** Reads a child's JSON lines; `next(type)` resolves with the next message of that type, or rejects on error. */
function collect(child: ChildProcessWithoutNullStreams) {
  const queue: Record<string, unknown>[] = [];
  const waiters: (() => void)[] = [];
  let stderr = '';
  let exited = false;
  child.stderr.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  createInterface({ input: child.stdout }).on('line', (line) => {
    queue.push(JSON.parse(line) as Record<string, unknown>);
    for (const w of waiters.splice(0)) w();
  });
  child.on('exit', () => {
    exited = true;
    for (const w of waiters.splice(0)) w();
  });
  return {
    async next(type: string): Promise<Record<string, unknown>> {
      for (;;) {
        const message = queue.shift();
        if (message?.['type'] === 'error') throw new Error(`worker failed: ${String(message['message'])}`);
        if (message?.['type'] === type) return message;
        if (message !== undefined) continue;
        if (exited) throw new Error(`worker exited before "${type}": ${stderr}`);
        await new Promise<void>((resolve) => waiters.push(resolve));
      }
    },
  };
}
