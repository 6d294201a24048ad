import { createHash } from 'node:crypto';
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
 */
export class PreparedStatements {
  readonly #names = new Map<string, string>();
  readonly #capacity: number;
  readonly #replanAfterMs: number;

  constructor(options: PreparedStatementsOptions = {}) {
    this.#capacity = options.capacity ?? 500;
    this.#replanAfterMs = options.replanAfterMs ?? 0;
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
      } else if (this.#replanAfterMs > 0 && w.cachedSince !== undefined) {
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
      wrapper: {
        query: ((text: unknown, values?: readonly unknown[]) => {
          if (typeof text === 'string') {
            const name = this.#names.get(text);
            const params = values === undefined ? [] : (values as unknown[]);
            if (name === undefined) return client.query(text, params);
            w.cachedSince ??= Date.now();
            return client.query({ name, text, values: params });
          }
          return client.query(text as never);
        }) as PostgresPoolClient['query'],
        release: (destroy?: boolean) => client.release(destroy),
      },
    };
    return w;
  }
}
