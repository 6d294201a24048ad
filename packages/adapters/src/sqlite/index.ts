export { sqliteAdapter } from './sqlite-adapter.js';
export type { BetterSqliteDatabase, SqliteAdapterConfig } from './sqlite-adapter-config.js';
export { ImmediateSqliteDialect, ImmediateSqliteDriver } from './sqlite-driver.js';
export { classifySqliteError } from './sqlite-errors.js';
