/**
 * `@marketkit/adapters/sqlite`: The SQLite storage adapter (better-sqlite3): the embedded default. `sqliteAdapter(config)` is what `createMarketplace` takes.
 * @packageDocumentation
 * @module @marketkit/adapters/sqlite
 */
export { sqliteAdapter } from './sqlite-adapter.js';
export type { BetterSqliteDatabase, SqliteAdapterConfig } from './sqlite-adapter-config.js';
export { ImmediateSqliteDialect, ImmediateSqliteDriver } from './sqlite-driver.js';
export { classifySqliteError, isSqliteBusy, isSqliteDriverError } from './sqlite-errors.js';
