import { createHash } from 'node:crypto';
import type { Logger } from '@marketkit/core';
import type { PostgresPool, PostgresPoolClient, PostgresQueryResult } from 'kysely';

interface NamedQuery {
  readonly name: string;
  readonly text: string;
  readonly values: unknown[];
}

type PgClient = PostgresPoolClient & { query<R>(query: NamedQuery): Promise<PostgresQueryResult<R>> };

/** Options of {@link PreparedStatements}. */
export interface PreparedStatementsOptions {
  /** Most texts prepared per adapter. Default 500. */
  readonly capacity?: number;
  /**
   * A connection that ran named statements on plans cached longer ago than this (ms) drops its cached plans
   * (`DISCARD PLANS`) before it is next handed out. 0 (default) never does.
   */
  readonly replanAfterMs?: number;
}

/** One client as the wrapper hands it out, and how old the plans it may have cached are. */
interface Wrapped {
  readonly wrapper: PostgresPoolClient;
  /** When the plans this connection may have cached date from: its first named run since the last discard. */
  cachedSince: number | undefined;
  /** Between a `begin` (or `start transaction`) and its `commit` or `rollback`, as sent through the wrapper. */
  inTransaction: boolean;
}

/**
 * SQLSTATEs of a named statement that is not where the connection left it: `42P05` (already exists: the Parse met
 * another client's statement of that name, on a server connection a pooler handed over) and `26000` (does not exist:
 * the Bind went to a server connection that never parsed it). Either fails before the statement runs.
 */
const LOST_CODES: ReadonlySet<string> = new Set(['42P05', '26000']);

const BEGIN = /^\s*(begin|start\s+transaction)\b/i;
const END = /^\s*(commit|end|abort|rollback)\b(?!\s+to\b)/i;

/** Errors of a named statement that failed because its server connection was not the one it was prepared on. */
const lostErrors = new WeakSet<object>();

/**
 * True for an error the adapter raised for a named statement that a pooler's server connection did not have (or
 * already had) inside a transaction: nothing ran, the transaction is aborted, and rerunning it (unnamed from then on)
 * is safe.
 */
export function isPreparedStatementLost(error: unknown): boolean {
  return typeof error === 'object' && error !== null && lostErrors.has(error);
}

function sqlstateOf(error: unknown): unknown {
  return (error as { code?: unknown } | null)?.code;
}

/**
 * The statement texts a pool runs as named prepared statements: those core registered as templates (hot statements
 * that run many times with new values). Each connection parses such a text once, under a name given here, and from
 * then on only binds and executes it, so the server skips parsing and analysing it (and, once PostgreSQL settles on
 * a generic plan, planning it) on every run. Every other text runs unnamed, as before.
 *
 * A generic plan is made for the table sizes of the moment and kept until the table's statistics change (autovacuum's
 * next analyze): one cached while a table was nearly empty scans it whole once it has grown. So with `replanAfterMs`
 * a connection whose plans are older is handed out only after `DISCARD PLANS`: its statements stay parsed, and their
 * next runs are planned for the tables as they are.
 *
 * Capped at `capacity` texts per adapter: templates are a fixed set per process, so the cap only guards against a
 * misuse growing the server's per-connection statement cache without bound.
 *
 * Behind a pooler that hands each transaction another server connection and does not follow prepared statements
 * (PgBouncer in transaction mode before 1.21, or with `max_prepared_statements = 0`), a name prepared on one server
 * connection is missing on the next (`26000`) or already taken there (`42P05`). The first such error switches the
 * adapter to unnamed statements for good (logged once, as a warning): the statement is rerun unnamed at once when it
 * ran outside a transaction, and otherwise fails as `preparedStatementLost`, which core's transaction runner reruns
 * whole. Behind a pooler that does follow them (PgBouncer 1.21+ with `max_prepared_statements`) no such error occurs
 * and names stay in use.
 */
export class PreparedStatements {
  readonly #names = new Map<string, string>();
  readonly #capacity: number;
  readonly #replanAfterMs: number;
  /** Set for good once a named statement went missing: a pooler sits between the adapter and the server. */
  #unnamed = false;
  #logger: Logger | undefined;

  constructor(options: PreparedStatementsOptions = {}) {
    this.#capacity = options.capacity ?? 500;
    this.#replanAfterMs = options.replanAfterMs ?? 0;
  }

  /** Where the switch to unnamed statements is reported (once, `warn`). */
  useLogger(logger: Logger): void {
    this.#logger = logger;
  }

  /** Marks `text` to be prepared from its next run on. */
  register(text: string): void {
    if (this.#names.has(text) || this.#names.size >= this.#capacity) return;
    // Named by the text's hash, not a counter: two adapters over one pool then agree on every name.
    this.#names.set(text, `mk_${createHash('sha1').update(text).digest('hex')}`);
  }

  /**
   * `pool` with every client it hands out running registered texts as named statements. The clients themselves are
   * not changed (the pool may be the host's): each is wrapped once, and the wrapper kept for as long as the client.
   */
  wrap(pool: PostgresPool): PostgresPool {
    const wrapped = new WeakMap<PostgresPoolClient, Wrapped>();
    const connect = async (): Promise<PostgresPoolClient> => {
      const client = await pool.connect();
      let w = wrapped.get(client);
      if (w === undefined) {
        w = this.#wrapClient(client as PgClient);
        wrapped.set(client, w);
      } else if (!this.#unnamed && this.#replanAfterMs > 0 && w.cachedSince !== undefined) {
        if (Date.now() - w.cachedSince >= this.#replanAfterMs) {
          try {
            await client.query('discard plans', []);
            w.cachedSince = undefined;
          } catch {
            // A connection that died while idle: dropped, and the next one tried. Each try drops one of the
            // pool's idle connections, and a new connection is never discarded, so this ends.
            client.release(true);
            return connect();
          }
        }
      }
      return w.wrapper;
    };
    return { connect, end: () => pool.end() };
  }

  #wrapClient(client: PgClient): Wrapped {
    const w: Wrapped = {
      cachedSince: undefined,
      inTransaction: false,
      wrapper: {
        query: ((text: unknown, values?: readonly unknown[]) => {
          if (typeof text === 'string') {
            const params = values === undefined ? [] : (values as unknown[]);
            const name = this.#unnamed ? undefined : this.#names.get(text);
            if (name === undefined) {
              if (BEGIN.test(text)) w.inTransaction = true;
              else if (END.test(text)) w.inTransaction = false;
              return client.query(text, params);
            }
            w.cachedSince ??= Date.now();
            // Whether it was sent inside a transaction, as of now: a write sent with the COMMIT (pipelining) is
            // answered after the COMMIT went out, and must not be rerun on its own when the transaction aborted.
            const inTransaction = w.inTransaction;
            return client
              .query({ name, text, values: params })
              .catch((error: unknown) => this.#lost(error, inTransaction, () => client.query(text, params)));
          }
          return client.query(text as never);
        }) as PostgresPoolClient['query'],
        release: (destroy?: boolean) => {
          w.inTransaction = false;
          client.release(destroy);
        },
      },
    };
    return w;
  }

  /**
   * A named statement failed with `error`. When its name was not where this connection left it, switches to unnamed
   * statements, then reruns it unnamed (`rerun`) when it was sent outside a transaction, where nothing ran, or marks
   * the error as {@link isPreparedStatementLost} when it was sent inside one (`inTransaction`), which it aborted.
   */
  async #lost<R>(error: unknown, inTransaction: boolean, rerun: () => Promise<R>): Promise<R> {
    const code = sqlstateOf(error);
    if (typeof code !== 'string' || !LOST_CODES.has(code)) throw error;
    if (!this.#unnamed) {
      this.#unnamed = true;
      this.#logger?.warn(
        { code, adapter: 'postgres' },
        'A named prepared statement was not on the server connection that ran it (a pooler such as PgBouncer in ' +
          'transaction mode moves sessions between server connections): the PostgreSQL adapter runs every ' +
          'statement unnamed from now on. Set preparedStatements: false to start that way.',
      );
    }
    if (!inTransaction) return rerun();
    if (typeof error === 'object' && error !== null) lostErrors.add(error);
    throw error;
  }
}
