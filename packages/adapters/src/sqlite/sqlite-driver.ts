import { CompiledQuery, type DatabaseConnection, type Driver, SqliteDialect, SqliteDriver } from 'kysely';

/** How a write transaction begins on SQLite: with the write lock taken up front. */
export const BEGIN_IMMEDIATE = 'begin immediate';

/**
 * kysely's SQLite driver, except that transactions begin `IMMEDIATE`: the write lock is taken up front, so
 * two processes never both read and then fail to upgrade to a writer (`SQLITE_BUSY` with no wait).
 */
export class ImmediateSqliteDriver extends SqliteDriver {
  override async beginTransaction(connection: DatabaseConnection): Promise<void> {
    await connection.executeQuery(CompiledQuery.raw(BEGIN_IMMEDIATE));
  }
}

/** A `SqliteDialect` whose driver is {@link ImmediateSqliteDriver}. */
export class ImmediateSqliteDialect extends SqliteDialect {
  readonly #config: ConstructorParameters<typeof SqliteDialect>[0];
  constructor(config: ConstructorParameters<typeof SqliteDialect>[0]) {
    super(config);
    this.#config = config;
  }
  override createDriver(): Driver {
    return new ImmediateSqliteDriver(this.#config);
  }
}
