import {
  CompiledQuery,
  type DatabaseConnection,
  type Driver,
  Kysely,
  type MigrationLockOptions,
  PostgresAdapter,
  PostgresIntrospector,
  PostgresQueryCompiler,
} from 'kysely';

/**
 * Kysely's PostgreSQL adapter without its migration lock: Kysely's `Migrator` takes a session advisory lock
 * (`pg_advisory_lock`) on its connection before its transaction and releases it after. Behind PgBouncer in transaction
 * mode the lock, the transaction and the unlock may each run on another server connection, and a lock left held
 * there hangs every later `migrate()` on the database. The lock is taken inside the transaction instead
 * ({@link pinnedDriver}).
 */
class TransactionLockedAdapter extends PostgresAdapter {
  override async acquireMigrationLock(_db: Kysely<unknown>, _options: MigrationLockOptions): Promise<void> {}
  override async releaseMigrationLock(_db: Kysely<unknown>, _options: MigrationLockOptions): Promise<void> {}
}

/**
 * A driver over one connection that is already checked out (it is never released nor ended here), whose every
 * transaction first takes a transaction-scoped advisory lock on `name` (`pg_advisory_xact_lock`): concurrent
 * transactions under the same name queue, and the lock goes with the commit or rollback, on whatever server
 * connection a pooler gave the transaction. Nothing outlives the transaction, so nothing can be left held.
 */
function pinnedDriver(connection: DatabaseConnection, name: string): Driver {
  const lock = CompiledQuery.raw('select pg_advisory_xact_lock(hashtext($1))', [name]);
  return {
    init: async () => {},
    acquireConnection: async () => connection,
    beginTransaction: async (conn) => {
      await conn.executeQuery(CompiledQuery.raw('begin'));
      await conn.executeQuery(lock);
    },
    commitTransaction: async (conn) => {
      const { rows } = await conn.executeQuery<{ command?: string }>(CompiledQuery.raw('commit'));
      // PostgreSQL answers COMMIT of an aborted transaction with a ROLLBACK tag: that transaction failed.
      if (rows[0]?.command === 'ROLLBACK') throw new Error('the migration transaction was rolled back');
    },
    rollbackTransaction: async (conn) => {
      await conn.executeQuery(CompiledQuery.raw('rollback'));
    },
    releaseConnection: async () => {},
    destroy: async () => {},
  };
}

/**
 * Runs `fn` (Kysely's `Migrator`, with transactions on) over one connection of `db`, where each migration transaction
 * holds a transaction-scoped advisory lock from its first statement to its commit, and no session-level lock is ever
 * taken. Two processes migrating at once: the second waits at its transaction's start until the first commits, then
 * reads the migrations as applied and has nothing left to do. Safe through PgBouncer in transaction mode, and on a
 * direct connection alike. `db`'s plugins (table prefix, schema) apply to the Kysely `fn` is given.
 */
export async function withTransactionMigrationLock<T>(
  db: Kysely<unknown>,
  name: string,
  fn: (db: Kysely<unknown>) => Promise<T>,
): Promise<T> {
  const executor = db.getExecutor();
  return executor.provideConnection(async (connection) => {
    const pinned = new Kysely<unknown>({
      dialect: {
        createAdapter: () => new TransactionLockedAdapter(),
        createDriver: () => pinnedDriver(connection, name),
        createIntrospector: (k) => new PostgresIntrospector(k),
        createQueryCompiler: () => new PostgresQueryCompiler(),
      },
      plugins: [...executor.plugins],
    });
    try {
      return await fn(pinned);
    } finally {
      await pinned.destroy();
    }
  });
}
