import { type Kysely, type Migration, type MigrationResultSet, Migrator, sql } from 'kysely';
import { MarketkitError } from '../errors/marketkit-error.js';
import type { Storage } from '../storage/storage.js';
import { toStorageError } from '../storage/storage-error.js';
import type { MarketkitMigration, MigrationContext } from './migration-context.js';
import { MIGRATIONS } from './migrations/index.js';

/** Names of the migrations that ran in one `migrate()` call. */
export interface MigrateResult {
  readonly applied: readonly string[];
}

/**
 * Brings the schema up to date with Kysely's Migrator, under Marketkit's own migration tables
 * (`<prefix>migrations`, `<prefix>migrations_lock`). Safe to call from several processes at once: the
 * adapter's migration lock serializes them and the losers find nothing left to do.
 */
export async function migrate(
  storage: Storage,
  migrations: readonly MarketkitMigration[] = MIGRATIONS,
): Promise<MigrateResult> {
  // One lock for the whole database, whatever the schema or prefix: a migration may touch objects outside its
  // schema (0011's trigger function goes to the search path), and two schemas migrating at once then collide
  // ("tuple concurrently updated"). Migrations are rare; queueing them all costs nothing.
  const lockName = 'marketkit.migrations';
  const base = storage.unscopedDb as unknown as Kysely<unknown>;
  const results = await storage.adapter
    .withMigrationLock(base, lockName, async (db) => {
      // In a transaction: where the adapter's lock is transaction-scoped (PostgreSQL), concurrent callers queue here
      // too, instead of racing to create the schema.
      const schema = storage.schema;
      if (schema !== undefined) {
        await db.transaction().execute((trx) => sql`create schema if not exists ${sql.id(schema)}`.execute(trx));
      }
      return migratorFor(storage, migrations, db).migrateToLatest();
    })
    // A server that cannot be reached (or refuses the login) fails here, before any migration: a coded error.
    .catch((error: unknown) => {
      throw toStorageError(storage.adapter, error);
    });
  return { applied: appliedOrThrow(results) };
}

/** Which of Marketkit's migrations this database has run, and which it has not (`market.migrationStatus()`). */
export interface MigrationStatus {
  readonly applied: readonly string[];
  /** Empty when the schema is current. */
  readonly pending: readonly string[];
}

/**
 * Reads which migrations have run, without running any or taking the migration lock: what a readiness probe asks
 * before sending traffic to a process whose schema may be behind its code.
 */
export async function migrationStatus(
  storage: Storage,
  migrations: readonly MarketkitMigration[] = MIGRATIONS,
): Promise<MigrationStatus> {
  const migrator = migratorFor(storage, migrations, storage.unscopedDb as unknown as Kysely<unknown>);
  const infos = await migrator.getMigrations().catch((error: unknown) => {
    throw toStorageError(storage.adapter, error);
  });
  return {
    applied: infos.filter((m) => m.executedAt !== undefined).map((m) => m.name),
    pending: infos.filter((m) => m.executedAt === undefined).map((m) => m.name),
  };
}

function toKyselyMigrations(list: readonly MarketkitMigration[], ctx: MigrationContext): Record<string, Migration> {
  const out: Record<string, Migration> = {};
  for (const m of list) out[m.name] = { up: (db) => m.up(db, ctx) };
  return out;
}

function appliedOrThrow({ error, results }: MigrationResultSet): string[] {
  if (error !== undefined) {
    throw new MarketkitError('MIGRATION_FAILED', {
      message: `Migration failed: ${error instanceof Error ? error.message : String(error)}`,
      cause: error,
      details: { results: results ?? [] },
    });
  }
  return (results ?? []).filter((r) => r.status === 'Success').map((r) => r.migrationName);
}

/** Kysely's Migrator over `db` for Marketkit's migrations, under the storage's migration tables, prefix and schema. */
function migratorFor(storage: Storage, migrations: readonly MarketkitMigration[], db: Kysely<unknown>): Migrator {
  const ctx: MigrationContext = {
    types: storage.adapter.columnTypes,
    capabilities: storage.adapter.capabilities,
    prefix: storage.tablePrefix,
    ...(storage.schema === undefined ? {} : { schema: storage.schema }),
  };
  return new Migrator({
    db,
    provider: { getMigrations: async () => toKyselyMigrations(migrations, ctx) },
    migrationTableName: `${storage.tablePrefix}migrations`,
    migrationLockTableName: `${storage.tablePrefix}migrations_lock`,
    ...(storage.schema === undefined ? {} : { migrationTableSchema: storage.schema }),
  });
}
