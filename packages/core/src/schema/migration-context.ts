import type { Kysely } from 'kysely';
import type { StorageCapabilities, StorageColumnTypes } from '../storage/storage-adapter.js';

/** What a migration needs besides the database: the backend's column types and the index-name prefix. */
export interface MigrationContext {
  readonly types: StorageColumnTypes;
  /** What the backend can do (e.g. `concurrentWriters`), for a migration that differs by capability. */
  readonly capabilities: StorageCapabilities;
  /** Prefix for index and constraint names, which are not table names and so are not renamed by the plugin. */
  readonly prefix: string;
  /** The PostgreSQL schema holding the tables, where one is configured (catalog queries need it). */
  readonly schema?: string;
}

/** One schema change; migrations run in list order and each runs once. */
export interface MarketkitMigration {
  readonly name: string;
  up(db: Kysely<unknown>, ctx: MigrationContext): Promise<void>;
}
