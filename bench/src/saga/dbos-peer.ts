/**
 * The saga bench's peer: the same four-step saga as a DBOS Transact workflow (`@dbos-inc/dbos-sdk`,
 * PostgreSQL only). Three steps each run the same local write in its own transaction, through the same
 * `Storage` the baseline uses, and one step calls the same in-process fake payment service. DBOS checkpoints
 * the workflow (start, each step's output, end) in its system database, here the same fresh database.
 */
import { DBOS } from '@dbos-inc/dbos-sdk';
import type { Storage } from '../../../packages/core/src/storage/storage.js';
import type { FakePaymentService } from '../../../packages/testing/src/fakes/index.js';
import { type Counter, countingPgPool } from './counting.js';
import { write } from './workload.js';

/** A launched DBOS runtime with the bench workflow registered: `one(id)` runs one saga to its end. */
export interface DbosPeer {
  one(id: string): Promise<void>;
  shutdown(): Promise<void>;
}

/**
 * Registers the workflow and launches DBOS on `url` (a process holds one DBOS runtime). The system database
 * pool holds `poolSize` connections and counts its statements into `counter` when one is given.
 */
export async function launchDbosPeer(o: {
  readonly url: string;
  readonly storage: Storage;
  readonly psp: FakePaymentService;
  readonly poolSize: number;
  readonly counter?: Counter;
  /** False in the child processes: the parent migrated the system database. */
  readonly runMigrations: boolean;
}): Promise<DbosPeer> {
  const { storage, psp } = o;
  const local = (step: string) =>
    DBOS.registerStep(
      async (id: string) => {
        await storage.transaction((trx) => write(trx, id, step));
      },
      { name: step, retriesAllowed: false },
    );
  const w1 = local('w1');
  const w2 = local('w2');
  const w3 = local('w3');
  const pay = DBOS.registerStep(
    async (id: string) => {
      await psp.charge({ idempotencyKey: `${id}:pay`, account: 'a', amountMinor: 1n });
    },
    { name: 'pay', retriesAllowed: false },
  );
  const saga = DBOS.registerWorkflow(
    async (id: string) => {
      await w1(id);
      await pay(id);
      await w2(id);
      await w3(id);
    },
    { name: 'benchSaga' },
  );
  const pool = countingPgPool(o.url, o.poolSize, o.counter ?? { count: 0 });
  DBOS.setConfig({
    name: 'mk-saga-bench',
    systemDatabaseUrl: o.url,
    systemDatabasePool: pool,
    logLevel: 'error',
    runAdminServer: false,
    executorID: `bench-${process.pid}`,
    runMigrations: o.runMigrations,
  });
  await DBOS.launch();
  return {
    one: (id) => DBOS.withNextWorkflowID(id, () => saga(id)),
    shutdown: async () => {
      await DBOS.shutdown();
      await pool.end();
    },
  };
}
