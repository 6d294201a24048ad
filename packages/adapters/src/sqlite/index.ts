export { sqliteAdapter } from './sqlite-adapter.js';
export type { BetterSqliteDatabase, SqliteAdapterConfig } from './sqlite-adapter-config.js';
export { ImmediateSqliteDialect, ImmediateSqliteDriver } from './sqlite-driver.js';
export { classifySqliteError, isSqliteDriverError } from './sqlite-errors.js';
