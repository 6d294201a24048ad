import type { PostgresPool } from 'kysely';

/** Options of {@link postgresAdapter}. Give `connectionString` or an existing `pool`. */
export interface PostgresAdapterConfig {
  /** e.g. `postgres://user@127.0.0.1:5432/app`. */
  readonly connectionString?: string;
  /**
   * An existing `pg.Pool` (typed structurally), shared with the host's own code. The host owns it: its size and
   * session settings are the host's, and `market.close()` leaves it open (end it yourself).
   */
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
   * `plan_cache_mode`; ignored for a given `pool`, whose sessions are the host's). Default `auto`, the server's
   * own: after five runs PostgreSQL may keep a generic plan and skip planning (most of the server time of the
   * checkout's one-statement transactions), while {@link replanAfterMs} keeps such a plan from outliving the table
   * sizes it was made for. `force_custom_plan` plans every run for the tables as they are (parsing still saved).
   */
  readonly planCacheMode?: 'force_custom_plan' | 'auto' | 'force_generic_plan';
  /**
   * The longest a connection runs Marketkit's prepared statements on plans it cached, in ms. Default 10000. When a
   * connection's cached plans are older and it is next handed out, the adapter sends `DISCARD PLANS` first (one
   * round trip), so the next runs are planned for the tables as they are now: a generic plan cached while a table
   * was nearly empty (a new marketplace, before a bulk import) would otherwise keep scanning the whole table until
   * autovacuum next analyzes it. Applies to a given `pool` too (it drops the host's cached plans on those sessions
   * alike; they are re-planned on their next run). 0 turns it off; with `force_custom_plan` nothing is cached and it
   * never runs.
   */
  readonly replanAfterMs?: number;
}
