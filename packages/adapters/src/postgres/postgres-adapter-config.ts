import type { PostgresPool } from 'kysely';

/** Options of {@link postgresAdapter}. Give `connectionString` or an existing `pool`. */
export interface PostgresAdapterConfig {
  /** e.g. `postgres://user@127.0.0.1:5432/app`. */
  readonly connectionString?: string;
  /** An existing `pg.Pool` (typed structurally); the adapter then does not own its size. */
  readonly pool?: PostgresPool;
  /** Pool size when the adapter creates the pool. Default 10. */
  readonly max?: number;
  /** `statement_timeout` for each connection, in ms; 0 (default) means none. */
  readonly statementTimeoutMs?: number;
  /** `application_name` reported to the server. Default `marketkit`. */
  readonly applicationName?: string;
  /**
   * Run Marketkit's hot statements (its statement templates) as named prepared statements, parsed once per
   * connection. Default true. Set false behind a pooler that cannot follow prepared statements across server
   * connections: PgBouncer in transaction mode before 1.21, or with `max_prepared_statements = 0`.
   */
  readonly preparedStatements?: boolean;
}
