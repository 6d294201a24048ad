import {
  createMarketplace,
  isMarketkitError,
  MAX_INT64,
  type MarketkitError,
  type MarketkitTransaction,
  type Marketplace,
  Storage,
  type StorageAdapter,
  type StorageErrorKind,
} from '@marketkit/core';
import { Kysely, sql } from 'kysely';
import { afterAll, describe, expect, it } from 'vitest';

/** A database opened for the conformance suite. */
export interface ConformanceDatabase {
  /** The adapter under test, on an empty database the suite may fill. */
  readonly adapter: StorageAdapter;
  /** Where the database is (file path, URL), passed back to {@link AdapterConformanceOptions.openAdapter}. */
  readonly location: string;
  /** Removes the database; called once, after every test and after the suite closed its connections. */
  cleanup(): Promise<void>;
}

/** Ends a live database session from another one, to test what a lost connection looks like. */
export interface ConnectionKiller {
  /** Identifies the session that runs queries on `db` (a transaction: one connection). */
  sessionId(db: Kysely<unknown>): Promise<string>;
  /** Ends session `id` from `db` (another connection) and returns once it is gone. */
  terminate(db: Kysely<unknown>, id: string): Promise<void>;
}

/** Options of {@link runAdapterConformance}. */
export interface AdapterConformanceOptions {
  /** Shown in the suite's title, e.g. `postgres`. */
  readonly name: string;
  /** Opens the adapter under test on a new, empty database. Called once per suite, while tests are collected. */
  createAdapter(): Promise<ConformanceDatabase>;
  /**
   * Opens another adapter, with connections of its own, on the database at `location`. With `lockTimeoutMs`,
   * a statement or transaction start that waits longer than that for another connection's lock must fail
   * (SQLite: `busyTimeoutMs`; PostgreSQL: `lock_timeout`). Without this option the suite opens further
   * connections through the first adapter's dialect, and skips the lock-timeout test.
   */
  openAdapter?(location: string, options: { readonly lockTimeoutMs?: number }): StorageAdapter;
  /** Needed by the connection-lost test (PostgreSQL: `pg_terminate_backend`); that test is skipped without it. */
  readonly connectionKiller?: ConnectionKiller;
}

interface Deferred {
  readonly promise: Promise<void>;
  resolve(): void;
}

function deferred(): Deferred {
  let resolve = () => {};
  const promise = new Promise<void>((r) => {
    resolve = r;
  });
  return { promise, resolve };
}

async function rejectionOf(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    () => {
      throw new Error('expected the call to fail, but it succeeded');
    },
    (error: unknown) => error,
  );
}

function expectCoded(error: unknown, code: string, retryable: boolean): MarketkitError {
  expect(isMarketkitError(error), `expected a MarketkitError, got ${String(error)}`).toBe(true);
  const e = error as MarketkitError;
  expect(e.toJSON()).toMatchObject({ code, retryable });
  return e;
}

/**
 * Registers the storage adapter conformance suite with vitest: what every `StorageAdapter` must do for core to
 * be correct on it. Migrations (idempotent, safe to race, under a table prefix or a schema), exact 64-bit
 * integers, and the classification of real unique violations, lock timeouts, serialization failures,
 * deadlocks and lost connections, including that `Storage` retries the retryable ones. Tests that need a
 * capability the adapter lacks are skipped by its flag, with the reason in the test's title.
 *
 * Call it at the top level of a test file. The database is created while tests are collected and removed
 * in `afterAll`.
 *
 * @example
 * ```ts
 * // my-adapter.conformance.test.ts
 * import { runAdapterConformance } from '@marketkit/testing';
 * runAdapterConformance({
 *   name: 'sqlite',
 *   async createAdapter() {
 *     const file = join(mkdtempSync(join(tmpdir(), 'conf-')), 'test.db');
 *     return { adapter: sqliteAdapter({ filename: file }), location: file, cleanup: async () => rmSync(file) };
 *   },
 *   openAdapter: (file, { lockTimeoutMs }) =>
 *     sqliteAdapter({ filename: file, ...(lockTimeoutMs === undefined ? {} : { busyTimeoutMs: lockTimeoutMs }) }),
 * });
 * ```
 */
export function runAdapterConformance(options: AdapterConformanceOptions): void {
  describe(`storage adapter conformance: ${options.name}`, async () => {
    const target = await options.createAdapter();
    const adapter = target.adapter;
    const caps = adapter.capabilities;
    const closers: (() => Promise<void>)[] = [];

    afterAll(async () => {
      for (const close of closers.splice(0).reverse()) await close().catch(() => {});
      await target.cleanup();
    });

    const anotherAdapter = (lockTimeoutMs?: number): StorageAdapter =>
      options.openAdapter?.(target.location, lockTimeoutMs === undefined ? {} : { lockTimeoutMs }) ?? adapter;
    const market = (opts: { tablePrefix?: string; schema?: string }, on: StorageAdapter = adapter): Marketplace => {
      const m = createMarketplace({ adapter: on, ...opts });
      closers.push(() => m.close());
      return m;
    };
    const storage = (tablePrefix: string, on: StorageAdapter = adapter): Storage => {
      const s = new Storage(on, { tablePrefix });
      closers.push(() => s.destroy());
      return s;
    };
    let rawDb: Kysely<unknown> | undefined;
    /** A Kysely instance without the table prefix, on connections of its own. */
    const raw = (): Kysely<unknown> => {
      if (rawDb === undefined) {
        const db = new Kysely<unknown>({ dialect: adapter.dialect });
        closers.push(() => db.destroy());
        rawDb = db;
      }
      return rawDb;
    };
    const tables = async (): Promise<{ schema: string | undefined; name: string }[]> =>
      (await raw().introspection.getTables()).map((t) => ({ schema: t.schema, name: t.name }));
    const migrationNames = async (table: string): Promise<string[]> => {
      const rows = await sql<{ name: string }>`select name from ${sql.table(table)}`.execute(raw());
      return rows.rows.map((r) => r.name).sort();
    };
    let reference: Promise<string[]> | undefined;
    /** Every migration's name, from a migrate() on a prefix of its own. */
    const allMigrations = (): Promise<string[]> => {
      reference ??= market({ tablePrefix: 'cf_ref_' })
        .migrate()
        .then((r) => [...r.applied].sort());
      return reference;
    };

    describe('migrations', () => {
      it('migrate() applies every migration once and a second call applies nothing', async () => {
        const m = market({ tablePrefix: 'cf_mig_' });
        const first = await m.migrate();
        expect(first.applied.length).toBeGreaterThan(0);
        expect(new Set(first.applied).size).toBe(first.applied.length);
        expect((await m.migrate()).applied).toEqual([]);
        expect(await migrationNames('cf_mig_migrations')).toEqual([...first.applied].sort());
        expect([...first.applied].sort()).toEqual(await allMigrations());
      });

      it('concurrent migrate() calls on separate adapters all succeed and apply the schema once', async () => {
        const expected = await allMigrations();
        const expectedTables = (await tables())
          .filter((t) => t.name.startsWith('cf_ref_'))
          .map((t) => t.name.slice('cf_ref_'.length))
          .sort();
        // Several rounds of three racers: one lucky interleaving must not hide a missing migration lock.
        for (let round = 0; round < 4; round++) {
          const prefix = `cf_race${round}_`;
          const racers = [adapter, anotherAdapter(), anotherAdapter()].map((a) => market({ tablePrefix: prefix }, a));
          const settled = await Promise.allSettled(racers.map((m) => m.migrate()));
          const failures = settled.flatMap((s) => (s.status === 'rejected' ? [String(s.reason)] : []));
          expect(failures, `round ${round}: every concurrent migrate() succeeds`).toEqual([]);
          const applied = settled.flatMap((s) => (s.status === 'fulfilled' ? s.value.applied : []));
          expect([...applied].sort(), `round ${round}: each migration applied by exactly one caller`).toEqual(expected);
          expect(await migrationNames(`${prefix}migrations`)).toEqual(expected);
          const created = (await tables()).filter((t) => t.name.startsWith(prefix)).map((t) => t.name);
          expect(created.map((n) => n.slice(prefix.length)).sort()).toEqual(expectedTables);
        }
      });

      it('a tablePrefix puts every table under it, and two prefixes coexist in one database', async () => {
        const key = (t: { schema: string | undefined; name: string }) => `${t.schema ?? ''}.${t.name}`;
        const before = new Set((await tables()).map(key));
        const a = market({ tablePrefix: 'cf_pa_' });
        const b = market({ tablePrefix: 'cf_pb_' });
        await a.migrate();
        await b.migrate();
        const added = (await tables()).filter((t) => !before.has(key(t)));
        const under = (p: string) =>
          added
            .filter((t) => t.name.startsWith(p))
            .map((t) => t.name.slice(p.length))
            .sort();
        expect(added.length).toBeGreaterThan(0);
        expect(added.filter((t) => !t.name.startsWith('cf_pa_') && !t.name.startsWith('cf_pb_'))).toEqual([]);
        expect(under('cf_pa_')).toContain('accounts');
        expect(under('cf_pa_')).toContain('migrations');
        expect(under('cf_pa_')).toEqual(under('cf_pb_'));

        expect((await a.ledger.createAccounts([{ id: 'x', currency: 'USD', code: 1 }]))[0]?.result).toBe('ok');
        expect((await b.ledger.createAccounts([{ id: 'x', currency: 'EUR', code: 2 }]))[0]?.result).toBe('ok');
        expect((await a.ledger.getAccount('x'))?.currency).toBe('USD');
        expect((await b.ledger.getAccount('x'))?.currency).toBe('EUR');
      });

      it.skipIf(!caps.schemas)(
        `a schema option puts the tables in that schema, and two schemas coexist${caps.schemas ? '' : ' (skipped: adapter lacks capabilities.schemas)'}`,
        async () => {
          const a = market({ schema: 'cf_schema_a' });
          const b = market({ schema: 'cf_schema_b' }, anotherAdapter());
          const [ra, rb] = await Promise.all([a.migrate(), b.migrate()]);
          expect([...ra.applied].sort()).toEqual(await allMigrations());
          expect([...rb.applied].sort()).toEqual(await allMigrations());
          expect((await a.migrate()).applied).toEqual([]);
          const all = await tables();
          const inSchema = (s: string) =>
            all
              .filter((t) => t.schema === s)
              .map((t) => t.name)
              .sort();
          expect(inSchema('cf_schema_a')).toContain('mk_accounts');
          expect(inSchema('cf_schema_a')).toContain('mk_migrations');
          expect(inSchema('cf_schema_a')).toEqual(inSchema('cf_schema_b'));

          await a.ledger.createAccounts([{ id: 'x', currency: 'USD', code: 1 }]);
          expect((await a.ledger.getAccount('x'))?.currency).toBe('USD');
          expect(await b.ledger.getAccount('x')).toBeUndefined();
        },
      );

      it.skipIf(caps.schemas)(
        `rejects a schema option with VALIDATION_FAILED${caps.schemas ? ' (skipped: adapter supports schemas)' : ''}`,
        () => {
          let error: unknown;
          try {
            createMarketplace({ adapter, schema: 'cf_schema' });
          } catch (e) {
            error = e;
          }
          expectCoded(error, 'VALIDATION_FAILED', false);
        },
      );
    });

    describe('integers', () => {
      it('64-bit integers beyond 2^53 round-trip exactly, up to 2^63-1', async () => {
        const db = raw();
        await db.schema
          .createTable('cf_int64')
          .addColumn('id', 'integer', (c) => c.primaryKey())
          .addColumn('v', adapter.columnTypes.int64, (c) => c.notNull())
          .execute();
        const values = [MAX_INT64, -MAX_INT64 - 1n, 2n ** 53n + 1n, -(2n ** 53n) - 1n, 0n];
        for (const [i, v] of values.entries()) {
          await sql`insert into ${sql.table('cf_int64')} (id, v) values (${i}, ${v})`.execute(db);
        }
        const rows = await sql<{ id: unknown; v: unknown }>`select id, v from ${sql.table('cf_int64')}`.execute(db);
        const back = rows.rows.map((r) => r.v);
        expect(back.map((v) => typeof v)).toEqual(values.map(() => 'bigint'));
        expect([...(back as bigint[])].sort((x, y) => (x < y ? -1 : x > y ? 1 : 0))).toEqual(
          [...values].sort((x, y) => (x < y ? -1 : x > y ? 1 : 0)),
        );

        const m = market({ tablePrefix: 'cf_int_' });
        await m.migrate();
        await m.ledger.createAccounts([
          { id: 'src', currency: 'USD', code: 1 },
          { id: 'dst', currency: 'USD', code: 1 },
        ]);
        const results = await m.ledger.createTransfers([
          { id: 'big', debitAccountId: 'src', creditAccountId: 'dst', amount: MAX_INT64 - 1n, currency: 'USD' },
          { id: 'one', debitAccountId: 'src', creditAccountId: 'dst', amount: 1n, currency: 'USD' },
          { id: 'over', debitAccountId: 'src', creditAccountId: 'dst', amount: 1n, currency: 'USD' },
        ]);
        expect(results.map((r) => r.result)).toEqual(['ok', 'ok', 'overflowsDebits']);
        expect((await m.ledger.getAccount('src'))?.debitsPosted).toBe(MAX_INT64);
        expect((await m.ledger.getAccount('dst'))?.creditsPosted).toBe(MAX_INT64);
        const page = await m.ledger.listTransfers({ accountId: 'dst' });
        expect(page.transfers.map((t) => t.amount).sort()).toEqual([1n, MAX_INT64 - 1n].sort());
        const verification = await m.ledger.verify();
        expect(verification.problems).toEqual([]);
        expect(verification.totals).toEqual([
          { currency: 'USD', debitsPosted: MAX_INT64, creditsPosted: MAX_INT64, debitsPending: 0n, creditsPending: 0n },
        ]);
      });
    });

    describe('parameters', () => {
      it.skipIf(!caps.arrayParams)(
        `a JS array binds as one parameter (any, unnest)${caps.arrayParams ? '' : ' (skipped: no capabilities.arrayParams)'}`,
        async () => {
          const s = storage('cf_param_');
          const values = ['a', "it's", 'with "quotes"', 'x,y', '{braces}', 'back\\slash'];
          const rows = await s.transaction(async (trx) => {
            const r = await sql<{ v: string; n: string | number | bigint }>`select v, n from unnest(
              cast(${values} as text[]), cast(${[1n, 2n, 3n, 4n, 5n, 2n ** 62n]} as int8[])) as t(v, n)
              where v = any(cast(${values.slice(1)} as text[]))`.execute(trx);
            return r.rows;
          });
          expect(rows.map((r) => r.v)).toEqual(values.slice(1));
          expect(rows.map((r) => BigInt(r.n))).toEqual([2n, 3n, 4n, 5n, 2n ** 62n]);
        },
      );
    });

    describe('error classification', () => {
      const prefix = 'cf_err_';
      let accountsReady: Promise<void> | undefined;
      /** Migrates the error tests' tables and creates the rows they fight over (version 0 each). */
      const ready = (): Promise<void> => {
        accountsReady ??= (async () => {
          const m = market({ tablePrefix: prefix });
          await m.migrate();
          const ids = ['dup', 'lock', 'ser', 'dl_a', 'dl_b', 'gone'];
          await m.ledger.createAccounts(ids.map((id) => ({ id, currency: 'USD', code: 1 })));
        })();
        return accountsReady;
      };
      const insertAccount = (trx: MarketkitTransaction, id: string) =>
        trx.insertInto('accounts').values({ id, code: 1, currency: 'USD', flags: 0, created_at: 0 }).execute();
      const lockRow = (trx: MarketkitTransaction, id: string) =>
        trx.selectFrom('accounts').select('id').where('id', '=', id).forUpdate().execute();
      const bump = (trx: MarketkitTransaction, id: string, by: number) =>
        trx
          .updateTable('accounts')
          .set({ version: sql<bigint>`version + ${by}` })
          .where('id', '=', id)
          .execute();
      const versionOf = async (s: Storage, id: string): Promise<bigint> => {
        const row = await s.db.selectFrom('accounts').select('version').where('id', '=', id).executeTakeFirstOrThrow();
        return BigInt(row.version);
      };

      it('a real unique violation is uniqueViolation, and Storage throws UNIQUE_VIOLATION (not retryable)', async () => {
        await ready();
        const s = storage(prefix);
        const kinds: (StorageErrorKind | undefined)[] = [];
        let attempts = 0;
        const error = await rejectionOf(
          s.transaction(async (trx) => {
            attempts++;
            try {
              await insertAccount(trx, 'dup');
            } catch (e) {
              kinds.push(adapter.classifyError(e));
              throw e;
            }
          }),
        );
        expect(kinds).toEqual(['uniqueViolation']);
        expect(attempts).toBe(1);
        const e = expectCoded(error, 'UNIQUE_VIOLATION', false);
        expect(adapter.classifyError(e.cause)).toBe('uniqueViolation');

        let rerun = 0;
        const again = await rejectionOf(
          s.transaction(
            async (trx) => {
              rerun++;
              await insertAccount(trx, 'dup');
            },
            { retryUniqueViolations: true, maxAttempts: 3 },
          ),
        );
        expect(rerun).toBe(3);
        expectCoded(again, 'UNIQUE_VIOLATION', false);
      });

      it.skipIf(!caps.noWait)(
        `FOR UPDATE NOWAIT on a row another connection holds is lockNotAvailable, LOCK_NOT_AVAILABLE (retryable)${caps.noWait ? '' : ' (skipped: adapter lacks capabilities.noWait)'}`,
        async () => {
          await ready();
          const holder = storage(prefix);
          const contender = storage(prefix, anotherAdapter());
          const held = deferred();
          const release = deferred();
          const holding = holder.transaction(async (trx) => {
            await lockRow(trx, 'lock');
            held.resolve();
            await release.promise;
          });
          await held.promise;
          const kinds: (StorageErrorKind | undefined)[] = [];
          let attempts = 0;
          let error: unknown;
          try {
            error = await rejectionOf(
              contender.transaction(async (trx) => {
                attempts++;
                try {
                  await trx.selectFrom('accounts').select('id').where('id', '=', 'lock').forUpdate().noWait().execute();
                } catch (e) {
                  kinds.push(adapter.classifyError(e));
                  throw e;
                }
              }),
            );
          } finally {
            release.resolve();
            await holding;
          }
          expect(kinds).toEqual(['lockNotAvailable']);
          expect(attempts).toBe(1);
          expectCoded(error, 'LOCK_NOT_AVAILABLE', true);
        },
      );

      it.skipIf(options.openAdapter === undefined)(
        `a writer that waits past its lock timeout is lockNotAvailable, LOCK_NOT_AVAILABLE (retryable)${options.openAdapter === undefined ? ' (skipped: no openAdapter option to open an adapter with a short lock timeout)' : ''}`,
        async () => {
          await ready();
          const holder = storage(prefix);
          const contender = storage(prefix, anotherAdapter(100));
          const held = deferred();
          const release = deferred();
          const holding = holder.transaction(async (trx) => {
            await bump(trx, 'lock', 1);
            held.resolve();
            await release.promise;
          });
          await held.promise;
          const started = Date.now();
          let error: unknown;
          try {
            // The lock may be refused when the transaction starts (SQLite: BEGIN IMMEDIATE) or at the update.
            error = await rejectionOf(contender.transaction((trx) => bump(trx, 'lock', 1)));
          } finally {
            release.resolve();
            await holding;
          }
          const e = expectCoded(error, 'LOCK_NOT_AVAILABLE', true);
          expect(adapter.classifyError(e.cause)).toBe('lockNotAvailable');
          expect(Date.now() - started).toBeLessThan(5000);
          expect(await versionOf(holder, 'lock')).toBe(1n);
        },
      );

      it.skipIf(!caps.concurrentWriters)(
        `a real serialization failure is serializationFailure, and Storage retries it to success${caps.concurrentWriters ? '' : ' (skipped: writers serialize, no capabilities.concurrentWriters)'}`,
        async () => {
          await ready();
          const s = storage(prefix);
          const other = storage(prefix, anotherAdapter());
          const snapshotTaken = deferred();
          const otherCommitted = deferred();
          const kinds: (StorageErrorKind | undefined)[] = [];
          let attempts = 0;
          const conflicted = s.transaction(async (trx) => {
            attempts++;
            await sql`set transaction isolation level repeatable read`.execute(trx);
            await trx.selectFrom('accounts').select('version').where('id', '=', 'ser').execute();
            if (attempts === 1) {
              snapshotTaken.resolve();
              await otherCommitted.promise;
            }
            try {
              await bump(trx, 'ser', 1);
            } catch (e) {
              kinds.push(adapter.classifyError(e));
              throw e;
            }
            return attempts;
          });
          await snapshotTaken.promise;
          await other.transaction((trx) => bump(trx, 'ser', 10));
          otherCommitted.resolve();
          expect(await conflicted).toBe(2);
          expect(kinds).toEqual(['serializationFailure']);
          expect(await versionOf(s, 'ser')).toBe(11n);
        },
      );

      it.skipIf(!caps.rowLocks)(
        `a real deadlock is deadlock, and Storage retries the victim to success${caps.rowLocks ? '' : ' (skipped: adapter lacks capabilities.rowLocks)'}`,
        async () => {
          await ready();
          const sides = [storage(prefix), storage(prefix, anotherAdapter())] as const;
          const firstLocked = [deferred(), deferred()] as const;
          const kinds: (StorageErrorKind | undefined)[] = [];
          const attempts = [0, 0];
          const run = (side: 0 | 1, first: string, second: string) =>
            sides[side].transaction(async (trx) => {
              attempts[side] = (attempts[side] ?? 0) + 1;
              await lockRow(trx, first);
              if (attempts[side] === 1) {
                firstLocked[side].resolve();
                await firstLocked[side === 0 ? 1 : 0].promise;
                // Side 1 closes the cycle a little later, so one deadlock check (usually side 0's) finds it
                // first. Two waits starting together can both be chosen as victims.
                if (side === 1) await new Promise((resolve) => setTimeout(resolve, 250));
              }
              try {
                await lockRow(trx, second);
              } catch (e) {
                kinds.push(adapter.classifyError(e));
                throw e;
              }
              await bump(trx, first, 1);
              await bump(trx, second, 1);
            });
          await Promise.all([run(0, 'dl_a', 'dl_b'), run(1, 'dl_b', 'dl_a')]);
          expect(kinds.length).toBeGreaterThan(0);
          expect(
            kinds.every((k) => k === 'deadlock'),
            `classified as ${kinds.join(', ')}`,
          ).toBe(true);
          expect((attempts[0] ?? 0) + (attempts[1] ?? 0)).toBe(2 + kinds.length);
          expect(await versionOf(sides[0], 'dl_a')).toBe(2n);
          expect(await versionOf(sides[0], 'dl_b')).toBe(2n);
        },
      );

      it.skipIf(options.connectionKiller === undefined)(
        `a connection lost mid-transaction is connectionLost, CONNECTION_LOST (retryable), and the pool recovers${options.connectionKiller === undefined ? ' (skipped: no connectionKiller option)' : ''}`,
        async () => {
          const killer = options.connectionKiller!;
          await ready();
          const s = storage(prefix);
          const other = new Kysely<unknown>({ dialect: anotherAdapter().dialect });
          closers.push(() => other.destroy());
          const kinds: (StorageErrorKind | undefined)[] = [];
          let attempts = 0;
          const error = await rejectionOf(
            s.transaction(async (trx) => {
              attempts++;
              await bump(trx, 'gone', 1);
              await killer.terminate(other, await killer.sessionId(trx as unknown as Kysely<unknown>));
              try {
                await trx.selectFrom('accounts').select('id').execute();
              } catch (e) {
                kinds.push(adapter.classifyError(e));
                throw e;
              }
            }),
          );
          expect(kinds).toEqual(['connectionLost']);
          expect(attempts).toBe(1);
          expectCoded(error, 'CONNECTION_LOST', true);
          // The lost transaction did not commit, and later transactions get working connections.
          for (let i = 0; i < 6; i++) await s.transaction((trx) => bump(trx, 'gone', 1));
          expect(await versionOf(s, 'gone')).toBe(6n);
        },
      );
    });
  });
}
