import {
  CompiledQuery,
  type DatabaseConnection,
  Kysely,
  type KyselyPlugin,
  type Transaction,
  WithSchemaPlugin,
} from 'kysely';
import pRetry from 'p-retry';
import { z } from 'zod';
import { parseInput, ValidationError } from '../errors/validation-error.js';
import { NO_OBSERVABILITY, type Observability } from '../observability/observability.js';
import { MARKETKIT_TABLES, type MarketkitDatabase } from '../schema/database.js';
import {
  type CommitWrite,
  CommitWrites,
  checkCommitted,
  commitWithWrites,
  commitWritesDialect,
} from './commit-writes.js';
import { retryWhileBusy } from './retry-while-busy.js';
import { type StatementRunner, StatementTemplates, TENANT_PARAM_MARK } from './statement-template.js';
import type { RelaxedCommit, ReplicaReadConsistency, StorageAdapter, WriteLockWait } from './storage-adapter.js';
import { toStorageError } from './storage-error.js';
import { TablePrefixPlugin } from './table-prefix-plugin.js';
import { TenantPlugin } from './tenant-plugin.js';
import { timedDialect } from './timed-dialect.js';
import { waitingDialect } from './waiting-dialect.js';

const identifier = z
  .string()
  .max(40)
  .regex(/^[a-z_][a-z0-9_]*$/, 'lowercase letters, digits and underscores, not starting with a digit');

const storageOptionsSchema = z.object({
  // Never empty: unprefixed `accounts`, `orders`, `jobs` tables could collide with the host's own.
  tablePrefix: identifier.default('mk_'),
  schema: identifier.optional(),
  tenant: z
    .string()
    .min(1)
    .max(63)
    .regex(/^[A-Za-z0-9][A-Za-z0-9_.:-]*$/, 'letters, digits and _ . : -, starting with a letter or digit')
    .optional(),
});

/** Where Marketkit's tables live beside the host's. */
export interface StorageOptions {
  /** Prefix of every table and index Marketkit creates. Default `mk_`. */
  readonly tablePrefix?: string;
  /** PostgreSQL schema to hold the tables (created by `migrate()`); needs `capabilities.schemas`. */
  readonly schema?: string;
  /**
   * The tenant whose rows this instance reads and writes: every statement filters by it and every row carries it.
   * Default: the empty tenant of a single-marketplace database.
   */
  readonly tenant?: string;
}

/** Options for `Storage.transaction`. */
export interface TransactionOptions {
  /** Attempts in all, counting the first, on serialization failures and deadlocks. Default 8. */
  readonly maxAttempts?: number;
  /**
   * Also rerun on a unique violation: for work that checks for existing rows first, so that the rerun sees the
   * row a concurrent transaction just committed and reports it instead of failing.
   */
  readonly retryUniqueViolations?: boolean;
  /**
   * What the transaction contends for, when its reruns mean more than a conflict: `stock` (it reserves stock), so
   * each rerun also counts in `marketkit_stock_contention_retries_total`.
   */
  readonly contended?: 'stock';
}

/**
 * Where a read of `Storage.read` may go: `eventual` and `latest` to a replica fresh enough for them (see
 * {@link ReplicaReadConsistency}) when the adapter has replicas, `primary` always to the primary.
 */
export type ReadConsistency = ReplicaReadConsistency | 'primary';

/** A transaction over Marketkit's tables. */
export type MarketkitTransaction = Transaction<MarketkitDatabase>;

/**
 * Core's wrapper around an adapter: the Kysely instance with the table prefix, and a transaction runner that
 * retries serialization failures and deadlocks with backoff and turns driver errors into coded errors. Where the
 * adapter has a `writeLockWait` (SQLite), every write waits its turn for the write lock: a transaction's begin
 * (`transaction`, `templateTransaction`, `snapshot`) and a single autocommit statement (`autocommit`, `run`,
 * `runRelaxed`) refused busy are rerun asynchronously, with jittered backoff, up to the adapter's deadline
 * ({@link retryWhileBusy}).
 * @internal built by `createMarketplace`; modules receive it.
 */
export class Storage {
  readonly adapter: StorageAdapter;
  readonly db: Kysely<MarketkitDatabase>;
  readonly tablePrefix: string;
  readonly schema: string | undefined;
  /** The tenant every statement is scoped to (`''`: a single-marketplace database). */
  readonly tenant: string;
  /**
   * {@link db} without the tenant scoping: for migrations, which change tables for every tenant, and for the
   * schema and tenancy checks. Shares {@link db}'s connections.
   */
  readonly unscopedDb: Kysely<MarketkitDatabase>;
  /**
   * {@link db} without any plugin, for query builders whose nodes are embedded in a statement template or in raw
   * SQL: the compile that embeds them applies the prefix, schema and tenant once (a builder applies its own
   * instance's plugins when it becomes a node). Never run a query on it.
   */
  readonly fragmentDb: Kysely<MarketkitDatabase>;
  /** Hot statements compiled once for this instance's prefix or schema (`StatementTemplate`). */
  readonly templates: StatementTemplates;
  /** This marketplace's metrics and traces (both off unless `createMarketplace` was given them). */
  readonly observability: Observability;
  readonly #begin: CompiledQuery;
  readonly #wait: WriteLockWait | undefined;
  /** Kysely instances over the adapter's replica dialects, made on first use, one per consistency. */
  readonly #replicaDbs = new Map<ReplicaReadConsistency, Kysely<MarketkitDatabase>>();
  readonly #plugins: KyselyPlugin[];
  /** {@link db} with the tenant as a template parameter: what templates compile through. */
  readonly #templateDb: Kysely<MarketkitDatabase>;
  /** Writes queued for the commits of open transactions (`onCommit`), where the adapter pipelines. */
  readonly #commitWrites: CommitWrites | undefined;
  #relaxed:
    | { readonly from: RelaxedCommit; readonly relax: CompiledQuery; readonly restore: CompiledQuery }
    | undefined;

  constructor(adapter: StorageAdapter, options: StorageOptions = {}, observability: Observability = NO_OBSERVABILITY) {
    const parsed = parseInput(storageOptionsSchema, options, 'storage options');
    if (parsed.schema !== undefined && !adapter.capabilities.schemas) {
      throw new ValidationError([{ path: ['schema'], message: `adapter ${adapter.name} does not support schemas` }]);
    }
    this.adapter = adapter;
    this.tablePrefix = parsed.tablePrefix;
    this.schema = parsed.schema;
    this.tenant = parsed.tenant ?? '';
    this.#wait = adapter.writeLockWait;
    this.observability = observability;
    const metrics = observability.metrics;
    const prefix = [new TablePrefixPlugin(parsed.tablePrefix, MARKETKIT_TABLES, parsed.schema)];
    const placed = parsed.schema === undefined ? prefix : [new WithSchemaPlugin(parsed.schema), ...prefix];
    // The tenant first: it recognises Marketkit's tables by their logical names, before the prefix renames them.
    this.#plugins = [new TenantPlugin(MARKETKIT_TABLES, this.tenant), ...placed];
    this.#commitWrites = adapter.pipelining === true ? new CommitWrites() : undefined;
    const base =
      this.#commitWrites === undefined ? adapter.dialect : commitWritesDialect(adapter.dialect, this.#commitWrites);
    const dialect = metrics === undefined ? base : timedDialect(base, (s) => metrics.dbWait('pool', s));
    this.db = new Kysely<MarketkitDatabase>({
      dialect: this.#wait === undefined ? dialect : waitingDialect(dialect, this.#wait),
      plugins: this.#plugins,
    });
    let unscoped = this.db.withoutPlugins();
    for (const plugin of placed) unscoped = unscoped.withPlugin(plugin);
    this.unscopedDb = unscoped;
    this.fragmentDb = this.db.withoutPlugins();
    // Templates bind the tenant as a parameter like any other value (one compiled text for every tenant).
    let templateDb = this.db.withoutPlugins().withPlugin(new TenantPlugin(MARKETKIT_TABLES, TENANT_PARAM_MARK));
    for (const plugin of placed) templateDb = templateDb.withPlugin(plugin);
    this.#templateDb = templateDb;
    this.templates = this.newTemplates();
    this.#begin = CompiledQuery.raw(adapter.beginWrite ?? 'begin');
  }

  /**
   * A new, empty cache of statement templates for this instance's prefix, schema and tenant (the tenant is bound as
   * a parameter, from this instance). {@link templates} is the shared one; a module with many templates of its own
   * keys may keep its own.
   */
  newTemplates(): StatementTemplates {
    return new StatementTemplates(this.#templateDb, this.adapter.prepare?.bind(this.adapter), { tenant: this.tenant });
  }

  /**
   * Runs `fn` in one database transaction. Serialization failures and deadlocks roll back and rerun `fn`
   * with exponential backoff and jitter, so `fn` must not have side effects outside the transaction.
   * Every other driver error is rethrown as a `MarketkitError` with a stable code. The begin waits for the write
   * lock where the adapter says how (`writeLockWait`).
   */
  async transaction<T>(fn: (trx: MarketkitTransaction) => Promise<T>, options: TransactionOptions = {}): Promise<T> {
    return this.#wrote(this.#retried(() => this.db.transaction().execute(fn), options));
  }

  /**
   * {@link transaction} for statement templates: `work` runs its bound templates on the one connection the
   * transaction holds (a {@link StatementRunner}), between the adapter's `beginWrite` and a commit (a rollback if it
   * throws), without the Kysely `Transaction` that {@link transaction} builds for query builders (an instance, an
   * executor and a connection provider per transaction, a hot path's largest allocations). Retried and classified
   * as {@link transaction} is. Only for statements compiled through {@link db} ({@link templates}).
   */
  async templateTransaction<T>(
    work: (conn: StatementRunner) => Promise<T>,
    options: TransactionOptions = {},
  ): Promise<T> {
    const done = this.#retried(
      () =>
        this.db.getExecutor().provideConnection(async (conn) => {
          await this.#waiting(() => conn.executeQuery(this.#begin));
          this.#commitWrites?.open(conn);
          let over = false;
          try {
            const result = await work(conn);
            const writes = this.#commitWrites?.take(conn) ?? [];
            const commit = async () => checkCommitted(await conn.executeQuery(COMMIT));
            await commitWithWrites(conn, writes, commit, () => {
              over = true;
            });
            return result;
          } catch (error) {
            this.#commitWrites?.take(conn);
            // A failed commit can leave the transaction open (SQLite): rolled back too, unless PostgreSQL answered the
            // COMMIT with ROLLBACK for a failed queued write. The first error is reported.
            if (!over) await conn.executeQuery(ROLLBACK).catch(() => {});
            throw error;
          }
        }),
      options,
    );
    return this.#wrote(done);
  }

  /**
   * Runs `write` in the transaction `trx` (of {@link transaction} or {@link templateTransaction}) as part of its
   * commit, for a write whose result nobody reads: where the adapter pipelines (PostgreSQL,
   * `StorageAdapter.pipelining`) it is queued and sent with the COMMIT, in the order queued, all in one round trip
   * when the connection is in pipeline mode; elsewhere (SQLite) it runs at once. Either way it commits exactly when
   * the transaction does. A queued write that fails fails the whole transaction with ITS error (mapped by
   * `write.error`) and nothing commits; a serialization failure or deadlock in it reruns the transaction like any
   * other. The write must raise an error itself when it cannot do its part (its row count is never read), and it
   * sees the transaction's other writes, but they do not see it.
   */
  async onCommit(trx: MarketkitTransaction | StatementRunner, write: CommitWrite): Promise<void> {
    const writes = this.#commitWrites;
    if (writes === undefined) {
      try {
        await trx.executeQuery(write.query);
      } catch (error) {
        throw write.error === undefined ? error : write.error(error);
      }
      return;
    }
    if ('getExecutor' in trx) await trx.getExecutor().provideConnection(async (conn) => writes.add(conn, write));
    else writes.add(trx as DatabaseConnection, write);
  }

  /** True when {@link onCommit} queues writes for the commit (the adapter pipelines) rather than running them at once. */
  get queuesCommitWrites(): boolean {
    return this.#commitWrites !== undefined;
  }

  /**
   * Runs `fn`, which sends ONE statement, outside an explicit transaction (autocommit: no `BEGIN`/`COMMIT` round
   * trips), retried on serialization failures and deadlocks like `Storage.transaction`. The statement is its
   * own transaction, so it commits or changes nothing; `fn` must send exactly one statement that writes. Refused
   * busy, it waits for the write lock as a transaction's begin does.
   */
  async autocommit<T>(fn: (db: Kysely<MarketkitDatabase>) => Promise<T>, options: TransactionOptions = {}): Promise<T> {
    return this.#wrote(this.#retried(() => this.#waiting(() => fn(this.db)), options));
  }

  /**
   * Runs `attempt` (a transaction's begin, or one statement in autocommit), rerunning it while the adapter's
   * `writeLockWait` says another writer held the lock ({@link retryWhileBusy}). One call, no wait, when not refused.
   * (Drivers may throw before returning a promise: kysely's SQLite connection does.)
   */
  async #waiting<T>(attempt: () => Promise<T>): Promise<T> {
    try {
      return await attempt();
    } catch (error) {
      const metrics = this.observability.metrics;
      if (metrics === undefined || this.#wait?.isBusy(error) !== true)
        return retryWhileBusy(attempt, error, this.#wait);
      const started = performance.now();
      try {
        return await retryWhileBusy(attempt, error, this.#wait);
      } finally {
        metrics.dbWait('write_lock', (performance.now() - started) / 1000);
      }
    }
  }

  /**
   * Runs `work` (a transaction or one statement), mapping driver errors, and reruns it on serialization failures and
   * deadlocks (and unique violations if asked) with exponential backoff and jitter. The first attempt runs outside
   * p-retry: on hot paths its setup cost more than the statement's own JS.
   */
  async #retried<T>(work: () => Promise<T>, options: TransactionOptions): Promise<T> {
    const attempts = Math.max(1, Math.trunc(options.maxAttempts ?? 8));
    const metrics = this.observability.metrics;
    const retried = (error: unknown) => {
      const again = isRetriedInTransaction(error, options.retryUniqueViolations === true);
      if (again && metrics !== undefined) {
        metrics.transactionRetry((error as { code: string }).code);
        if (options.contended === 'stock') metrics.stockRetry();
      }
      return again;
    };
    const once = async () => {
      try {
        return await work();
      } catch (error) {
        throw toStorageError(this.adapter, error);
      }
    };
    try {
      return await once();
    } catch (error) {
      if (attempts === 1 || !retried(error)) throw error;
    }
    await new Promise((resolve) => setTimeout(resolve, 2 + Math.random() * 2)); // p-retry's first backoff
    return pRetry(once, {
      retries: attempts - 2,
      minTimeout: 2,
      maxTimeout: 200,
      factor: 2,
      randomize: true,
      shouldRetry: retried,
    });
  }

  /**
   * Runs reads that must see one consistent snapshot (REPEATABLE READ where writers run concurrently).
   * Not retried: a snapshot read has nothing to conflict with.
   */
  async snapshot<T>(fn: (trx: MarketkitTransaction) => Promise<T>): Promise<T> {
    try {
      const builder = this.db.transaction();
      const tx = this.adapter.capabilities.concurrentWriters ? builder.setIsolationLevel('repeatable read') : builder;
      return await tx.execute(fn);
    } catch (error) {
      throw toStorageError(this.adapter, error);
    }
  }

  /**
   * The condition a write run by {@link runRelaxed} adds to its `where` (compiled into its template) where the
   * adapter relaxes a commit from inside the write (PostgreSQL), so relaxing costs no statement of its own;
   * `undefined` where it relaxes around the write (SQLite) or not at all. Read it where the template is built, and
   * key the template by it.
   */
  get relaxedCondition(): string | undefined {
    const given = this.adapter.relaxedCommit;
    return given !== undefined && 'condition' in given ? given.condition : undefined;
  }

  /**
   * {@link run} for ONE write on one connection whose commit need not wait for the disk: between the adapter's
   * `relaxedCommit` statements where it has them, relaxed by the write itself where the adapter gives a
   * {@link relaxedCondition} (the write must carry it), as a plain autocommit elsewhere. Only for a write that
   * recovery rebuilds when a power cut loses it (a record of what an idempotent provider call returned, which
   * replaying the call returns again). A write-ahead log comes back after a crash as a prefix of its commits, so
   * the next commit that waits for the disk, on any connection, makes this one durable too, and every commit that
   * read it comes after it. Not retried, like {@link run}; waits for the write lock as {@link run} does.
   */
  async runRelaxed<T>(work: (conn: StatementRunner) => Promise<T>): Promise<T> {
    const relaxed = this.#compiledRelaxed(this.adapter.relaxedCommit);
    try {
      return await this.#wrote(
        this.db.getExecutor().provideConnection(async (conn) => {
          if (relaxed === undefined) return this.#waiting(() => work(conn));
          await conn.executeQuery(relaxed.relax);
          try {
            return await this.#waiting(() => work(conn));
          } finally {
            await conn.executeQuery(relaxed.restore);
          }
        }),
      );
    } catch (error) {
      throw toStorageError(this.adapter, error);
    }
  }

  /** The adapter's `relaxedCommit` compiled, once per statements object it hands out (it is read at each use). */
  #compiledRelaxed(given: RelaxedCommit | undefined) {
    if (given === undefined || !('relax' in given)) return undefined;
    if (this.#relaxed?.from !== given) {
      this.#relaxed = {
        from: given,
        relax: CompiledQuery.raw(given.relax),
        restore: CompiledQuery.raw(given.restore),
      };
    }
    return this.#relaxed;
  }

  /**
   * Runs a read (or a single statement) outside an explicit transaction, mapping driver errors. Not retried on
   * conflicts; refused busy (a write, where the adapter has a `writeLockWait`), it waits for the write lock as a
   * transaction's begin does, so `fn` must send one statement, or only reads.
   */
  async run<T>(fn: (db: Kysely<MarketkitDatabase>) => Promise<T>): Promise<T> {
    try {
      return await this.#wrote(this.#waiting(() => fn(this.db)));
    } catch (error) {
      throw toStorageError(this.adapter, error);
    }
  }

  /**
   * Runs reads that may be answered by a replica (see {@link ReadConsistency}), outside a transaction, mapping driver
   * errors. Only for reads that nothing decides money or stock on: a replica may be behind the primary within the
   * consistency's bound. `fn` must only read. Without replicas, or with `primary`, it reads from the primary. A
   * replica that fails mid-read (a lost connection, a statement cancelled by a recovery conflict) is not the caller's
   * problem: the read runs again on the primary.
   * On a replica, all of `fn`'s statements run on one connection (one server, one replay position).
   */
  async read<T>(fn: (db: Kysely<MarketkitDatabase>) => Promise<T>, consistency: ReadConsistency): Promise<T> {
    const replicaDb = this.#replicaDb(consistency);
    if (replicaDb !== undefined) {
      try {
        // One connection for all of `fn`'s statements: one server answers them all, at one replay position.
        return await replicaDb.connection().execute(fn);
      } catch (error) {
        // A driver error on the replica side (a lost connection, a query cancelled by a recovery conflict, which
        // PostgreSQL reports as a serialization failure) is retried once on the primary. The host's own errors, and
        // a wait for a pooled connection that already ran out, are not.
        if (!this.adapter.isDriverError(error) || this.adapter.classifyError(error) === 'connectionWaitTimeout') {
          throw toStorageError(this.adapter, error);
        }
      }
    }
    try {
      return await this.#waiting(() => fn(this.db));
    } catch (error) {
      throw toStorageError(this.adapter, error);
    }
  }

  #replicaDb(consistency: ReadConsistency): Kysely<MarketkitDatabase> | undefined {
    const replicas = this.adapter.replicaReads;
    if (replicas === undefined || consistency === 'primary') return undefined;
    let db = this.#replicaDbs.get(consistency);
    if (db === undefined) {
      db = new Kysely<MarketkitDatabase>({ dialect: replicas.dialect(consistency), plugins: this.#plugins });
      this.#replicaDbs.set(consistency, db);
    }
    return db;
  }

  /** `work`'s outcome, once the adapter knows the primary may have changed (read-your-writes on its replicas). */
  async #wrote<T>(work: Promise<T>): Promise<T> {
    const replicas = this.adapter.replicaReads;
    if (replicas === undefined) return work;
    try {
      return await work;
    } finally {
      replicas.noteWrite();
    }
  }

  /** Closes the pool or the database file, and the replicas' pools. */
  async destroy(): Promise<void> {
    const replicaDbs = [...this.#replicaDbs.values()];
    this.#replicaDbs.clear();
    await Promise.all([this.db.destroy(), ...replicaDbs.map((db) => db.destroy())]);
  }
}

const COMMIT = CompiledQuery.raw('commit');
const ROLLBACK = CompiledQuery.raw('rollback');

function isRetriedInTransaction(error: unknown, uniqueViolations: boolean): boolean {
  const code = (error as { code?: unknown }).code;
  if (uniqueViolations && code === 'UNIQUE_VIOLATION') return true;
  return code === 'SERIALIZATION_FAILURE' || code === 'DEADLOCK_DETECTED';
}
