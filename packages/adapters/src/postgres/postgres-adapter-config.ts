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
  /**
   * How the server plans Marketkit's prepared statements on the connections the adapter opens (PostgreSQL's
   * `plan_cache_mode`; ignored for a given `pool`, whose sessions are the host's). Default `force_custom_plan`:
   * each run is planned for the table sizes of the moment, so a plan cached while a table was nearly empty (a new
   * marketplace) never keeps scanning it as it grows; parsing is still saved. `auto` lets PostgreSQL switch to a
   * cached generic plan after five runs (less planning; a stale plan lasts until autovacuum analyzes the table).
   */
  readonly planCacheMode?: 'force_custom_plan' | 'auto' | 'force_generic_plan';
}
