import { createHash } from 'node:crypto';
import type { PostgresPool, PostgresPoolClient, PostgresQueryResult } from 'kysely';

interface NamedQuery {
  readonly name: string;
  readonly text: string;
  readonly values: unknown[];
}

type PgClient = PostgresPoolClient & { query<R>(query: NamedQuery): Promise<PostgresQueryResult<R>> };

/**
 * The statement texts a pool runs as named prepared statements: those core registered as templates (hot statements
 * that run many times with new values). Each connection parses such a text once, under a name given here, and from
 * then on only binds and executes it, so the server skips parsing and analysing it (and, once PostgreSQL settles on
 * a generic plan, planning it) on every run. Every other text runs unnamed, as before.
 *
 * Capped at `capacity` texts per adapter: templates are a fixed set per process, so the cap only guards against a
 * misuse growing the server's per-connection statement cache without bound.
 */
export class PreparedStatements {
  readonly #names = new Map<string, string>();
  readonly #capacity: number;

  constructor(capacity = 500) {
    this.#capacity = capacity;
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
    const wrappers = new WeakMap<PostgresPoolClient, PostgresPoolClient>();
    return {
      connect: async () => {
        const client = await pool.connect();
        let wrapper = wrappers.get(client);
        if (wrapper === undefined) {
          wrapper = this.#wrapClient(client as PgClient);
          wrappers.set(client, wrapper);
        }
        return wrapper;
      },
      end: () => pool.end(),
    };
  }

  #wrapClient(client: PgClient): PostgresPoolClient {
    return {
      query: ((text: unknown, values?: readonly unknown[]) => {
        if (typeof text === 'string') {
          const name = this.#names.get(text);
          const params = values === undefined ? [] : (values as unknown[]);
          return name === undefined ? client.query(text, params) : client.query({ name, text, values: params });
        }
        return client.query(text as never);
      }) as PostgresPoolClient['query'],
      release: (destroy?: boolean) => client.release(destroy),
    };
  }
}
