import { type ChildProcess, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { Ledger, systemClock } from '@marketkit/core';
import { type TestDatabase, testBackends } from '@marketkit/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FakePaymentService, serveFakePaymentService } from '../../../testing/src/fakes/index.js';
import { SagaRegistry, Sagas } from '../../src/sagas/index.js';
import { migrate } from '../../src/schema/migrate.js';
import { Storage } from '../../src/storage/storage.js';
import { CLEARING, seedAccounts, transferSaga } from '../sagas/fixtures/transfer-saga.js';

const FIXTURE = fileURLToPath(new URL('./fixtures/saga-worker-process.ts', import.meta.url));
const postgres = testBackends().find((b) => b.name === 'postgres');

function startWorker(env: Record<string, string>): Promise<ChildProcess> {
  const child = spawn(process.execPath, ['--import', 'tsx', FIXTURE], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', (code) => reject(new Error(`worker exited early with ${code}`)));
    child.stdout?.on('data', (chunk: Buffer) => {
      if (chunk.toString().includes('ready')) resolve(child);
    });
  });
}

describe.skipIf(postgres === undefined)('worker processes on postgres', () => {
  let database: TestDatabase;
  let storage: Storage;
  let ledger: Ledger;
  const service = new FakePaymentService();
  let server: Awaited<ReturnType<typeof serveFakePaymentService>>;
  const children: ChildProcess[] = [];

  beforeAll(async () => {
    database = await postgres!.createDatabase();
    storage = new Storage(database.adapter());
    await migrate(storage);
    ledger = new Ledger(storage, systemClock);
    await seedAccounts(ledger, ['alice', 'bob'], 1_000_000n);
    server = await serveFakePaymentService(service);
  });
  afterAll(async () => {
    for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
    await server?.close();
    await storage?.destroy();
    await database?.drop();
  });

  it('finishes the sagas of workers killed mid-step and between the external call and the commit, exactly once', async () => {
    const env = { MK_PG_URL: database.location, MK_SERVICE_URL: server.url, MK_LEASE_MS: '1500' };
    children.push(...(await Promise.all([startWorker(env), startWorker(env), startWorker(env)])));
    const killed: { gate: string; pid: string; sagaId: string }[] = [];
    const killAt = (gate: string) => {
      const g = service.arm(gate);
      return g.reached.then((info) => {
        const pid = info['pid'] ?? '';
        try {
          process.kill(Number(pid), 'SIGKILL');
        } catch {
          // already dead: the other gate killed it
        }
        killed.push({ gate, pid, sagaId: info['sagaId'] ?? '' });
        setTimeout(() => g.release(), 50); // the caller is gone; let the socket close
      });
    };
    const kills = Promise.all([killAt('after-charge'), killAt('in-credit')]);

    const sagas = new Sagas(storage, new SagaRegistry([transferSaga({ storage, clock: systemClock, service })]));
    const amounts = [11n, 12n, 13n, 14n, 15n, 16n, 17n, 18n];
    await Promise.all(
      amounts.map((amount, i) => sagas.start('transfer', { from: 'alice', to: 'bob', amount }, { id: `mp${i}` })),
    );
    await kills;

    const deadline = Date.now() + 30_000;
    for (;;) {
      const states = await Promise.all(amounts.map((_, i) => sagas.get(`mp${i}`)));
      if (states.every((s) => s?.status === 'completed')) break;
      if (Date.now() > deadline) throw new Error(`not completed: ${JSON.stringify(states.map((s) => s?.status))}`);
      await new Promise((r) => setTimeout(r, 100));
    }

    const total = amounts.reduce((a, b) => a + b, 0n);
    const balance = async (id: string) => {
      const a = await ledger.getAccount(id);
      return (a?.creditsPosted ?? 0n) - (a?.debitsPosted ?? 0n);
    };
    expect(await balance('alice')).toBe(1_000_000n - total);
    expect(await balance('bob')).toBe(1_000_000n + total);
    expect(await balance(CLEARING)).toBe(0n);
    expect(service.effects().charges).toBe(amounts.length);
    for (const [i, amount] of amounts.entries()) expect(service.netCharged(`mp${i}:charge:run`)).toBe(amount);
    expect((await ledger.verify()).ok).toBe(true);

    expect(killed.map((k) => k.gate).sort()).toEqual(['after-charge', 'in-credit']);
    for (const k of killed) {
      const history = await sagas.history(k.sagaId);
      const done = history.filter((e) => e.outcome === 'completed').map((e) => e.stepName);
      expect(done).toEqual(['debit', 'charge', 'credit']);
      const finisher = history.find((e) => e.stepName === (k.gate === 'after-charge' ? 'charge' : 'credit'));
      expect(finisher?.worker).not.toBe(`worker-${k.pid}`); // another process finished the step
    }
    const afterCharge = killed.find((k) => k.gate === 'after-charge')!;
    expect(service.netCharged(`${afterCharge.sagaId}:charge:run`)).toBeGreaterThan(0n); // charged once, replayed

    // graceful stop of the survivors
    const alive = children.filter((c) => c.exitCode === null && c.signalCode === null);
    expect(alive.length).toBeGreaterThanOrEqual(1);
    await Promise.all(
      alive.map(
        (c) =>
          new Promise((resolve) => {
            c.once('exit', resolve);
            c.kill('SIGTERM');
          }),
      ),
    );
  });
});
