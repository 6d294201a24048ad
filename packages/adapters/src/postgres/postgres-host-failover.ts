import type { PostgresPool, PostgresPoolClient } from 'kysely';
import { classifyPostgresError } from './postgres-errors.js';
import type { PostgresHosts } from './postgres-hosts.js';

/** The few members of pg's `Client` this file uses (pg is an optional peer, typed structurally). */
interface PgClientLike {
  connect(callback?: (error?: Error) => void): unknown;
  query(text: string): Promise<{ rows: Record<string, unknown>[] }>;
}
type PgClientClass = new (config: Record<string, unknown>) => PgClientLike;

/** SQLSTATE `read_only_sql_transaction`: a write reached a server that takes none (a standby, a demoted primary). */
export const READ_ONLY_SQLSTATE = '25006';

/** The URL a client was opened to, kept on the client so that a failure can name its host. */
const HOST_URL = Symbol('marketkit.hostUrl');
type Tagged = PgClientLike & { [HOST_URL]?: string };

/**
 * libpq's multi-host connection for pg, which has none: every new connection goes to the current host; one that
 * cannot connect, or finds a server that is not what `targetSessionAttrs` asks for (a standby when writes are
 * wanted), makes the next host in the list current, and the pool tries again, once around the list. The current
 * host stays current while it answers, so after a failover the connections go to the promoted server and stay
 * there (even if the old primary comes back as a second primary: libpq would go back to the first listed host).
 * A connection that hits a read-only error (25006) later, when its server was demoted, is dropped on release.
 */
export class HostFailover {
  readonly #hosts: PostgresHosts;
  #current = 0;

  constructor(hosts: PostgresHosts) {
    this.#hosts = hosts;
  }

  /** pg's `Client`, opening each connection to the current host (pg-pool's `Client` option). */
  clientClass(Client: PgClientClass): PgClientClass {
    const failover = this;
    return class FailoverClient extends Client {
      constructor(config: Record<string, unknown>) {
        const url = failover.#url();
        super({ ...config, connectionString: url });
        (this as Tagged)[HOST_URL] = url;
      }

      override connect(callback?: (error?: Error) => void): unknown {
        const url = (this as Tagged)[HOST_URL];
        if (callback !== undefined) {
          return super.connect((error) => {
            if (error !== undefined && error !== null) failover.#failed(url);
            callback(error);
          });
        }
        return Promise.resolve(super.connect()).catch((error: unknown) => {
          failover.#failed(url);
          throw error;
        });
      }
    };
  }

  /**
   * Checks a new connection against `targetSessionAttrs` (run by pg-pool's `onConnect` before the pool hands the
   * connection out): throws a read-only error (25006, classified `connectionLost`) for a server that is not what is
   * asked for, and moves on to the next host.
   */
  async check(client: PgClientLike): Promise<void> {
    const attrs = this.#hosts.targetSessionAttrs;
    if (attrs === 'any') return;
    const sql = attrs === 'primary' ? 'select pg_is_in_recovery()::text as no' : 'show transaction_read_only';
    const { rows } = await client.query(sql);
    const answer = Object.values(rows[0] ?? {})[0];
    if (answer === 'off' || answer === 'false') return;
    this.#failed((client as Tagged)[HOST_URL]);
    throw Object.assign(new Error(`the server is not ${attrs} (target_session_attrs); trying the next host`), {
      code: READ_ONLY_SQLSTATE,
    });
  }

  /**
   * `pool` trying each host once when a new connection cannot be had (the hosts are all down, or none is what
   * `targetSessionAttrs` asks for: the last error, classified `connectionLost`, is thrown), and dropping a
   * connection that met a read-only error on its release.
   */
  wrap(pool: PostgresPool): PostgresPool {
    const wrappers = new WeakMap<PostgresPoolClient, PostgresPoolClient>();
    const connect = async (): Promise<PostgresPoolClient> => {
      let last: unknown;
      for (let i = 0; i < this.#hosts.urls.length; i++) {
        try {
          const client = await pool.connect();
          let w = wrappers.get(client);
          if (w === undefined) {
            w = discardingOnReadOnly(client);
            wrappers.set(client, w);
          }
          return w;
        } catch (error) {
          if (classifyPostgresError(error) !== 'connectionLost') throw error;
          last = error;
        }
      }
      throw last;
    };
    return { connect, end: () => pool.end() };
  }

  #url(): string {
    return this.#hosts.urls[this.#current] ?? this.#hosts.urls[0] ?? '';
  }

  #failed(url: string | undefined): void {
    if (url === this.#url()) this.#current = (this.#current + 1) % this.#hosts.urls.length;
  }
}

/** `client`, released with destroy when one of its queries failed with a read-only error (its server was demoted). */
function discardingOnReadOnly(client: PostgresPoolClient): PostgresPoolClient {
  let readOnly = false;
  const query = ((...args: unknown[]) =>
    (client.query as (...a: unknown[]) => Promise<unknown>)(...args).catch((error: unknown) => {
      if ((error as { code?: unknown } | null)?.code === READ_ONLY_SQLSTATE) readOnly = true;
      throw error;
    })) as PostgresPoolClient['query'];
  return { query, release: (destroy?: boolean) => client.release(destroy === true || readOnly) };
}
