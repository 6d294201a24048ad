import type { ReplicaReadConsistency, ReplicaReads } from '@marketkit/core';
import { type Dialect, PostgresDialect, type PostgresPool, type PostgresPoolClient } from 'kysely';
import type { PostgresReplicaReadsConfig } from './postgres-adapter-config.js';
import { classifyPostgresError } from './postgres-errors.js';
import { PrimaryPosition, parseLsn } from './wal-position.js';

/** One standby as the router sees it. */
export interface RoutedReplica {
  /** Its pool, made on first use. */
  readonly pool: () => Promise<PostgresPool>;
  /** Ends the pool if the adapter made it (a host's pool is left open). */
  readonly end: () => Promise<void>;
}

interface ReplicaState extends RoutedReplica {
  /** The highest WAL position this standby was seen to have replayed. */
  replayed: bigint;
  /** Left out until then (ms since the epoch) after it refused or dropped a connection. */
  downUntil: number;
}

const REPLAY_LSN = 'select pg_last_wal_replay_lsn()::text as lsn';
const DEFAULTS = { maxLagMs: 10_000, readYourWrites: 'wait', waitTimeoutMs: 100, retryDownAfterMs: 5000 } as const;

/**
 * Routes core's replica-safe reads ({@link ReplicaReads}): each read's connection comes from a standby that has
 * replayed the WAL position the read needs, else from the primary.
 * - The position an `eventual` read needs is the larger of the lag bound ({@link PrimaryPosition.lagBound}) and,
 *   with read-your-writes, the primary's position read after this instance's last write (one query, only when it
 *   wrote since the last one). A `latest` read needs the primary's position read after the read began.
 * - A standby known to have replayed that far is used without a query; otherwise its `pg_last_wal_replay_lsn()` is
 *   polled (every 1 ms for 10 ms, then every 5 ms) until it has, up to `waitTimeoutMs` (`readYourWrites: 'primary'`: checked once).
 * - A standby that refuses a connection or fails the check is left out for `retryDownAfterMs`.
 * @internal made by `postgresAdapter` when it has replicas.
 */
export class ReplicaRouter implements ReplicaReads {
  readonly #primary: () => Promise<PostgresPool>;
  readonly #replicas: ReplicaState[];
  readonly #position: PrimaryPosition;
  readonly #options: Required<PostgresReplicaReadsConfig>;
  readonly #dialects = new Map<ReplicaReadConsistency, Dialect>();
  #turn = 0;
  /** Writes noted so far, and how many of them {@link #ownWrites} covers. */
  #writes = 0;
  #covered = 0;
  /** The primary's WAL position read after the last write this instance noted. */
  #ownWrites = 0n;
  #ended: Promise<void> | undefined;

  constructor(
    primary: () => Promise<PostgresPool>,
    replicas: readonly RoutedReplica[],
    options: PostgresReplicaReadsConfig = {},
  ) {
    this.#primary = primary;
    this.#replicas = replicas.map((r) => ({ ...r, replayed: 0n, downUntil: 0 }));
    this.#options = { ...DEFAULTS, ...options };
    this.#position = new PrimaryPosition(primary, this.#options.maxLagMs);
  }

  dialect(consistency: ReplicaReadConsistency): Dialect {
    let dialect = this.#dialects.get(consistency);
    if (dialect === undefined) {
      const pool: PostgresPool = { connect: () => this.connect(consistency), end: () => this.end() };
      dialect = new PostgresDialect({ pool });
      this.#dialects.set(consistency, dialect);
    }
    return dialect;
  }

  noteWrite(): void {
    this.#writes++;
  }

  /** A connection for one read of `consistency`: from a standby that has replayed far enough, else the primary's. */
  async connect(consistency: ReplicaReadConsistency): Promise<PostgresPoolClient> {
    const started = Date.now();
    // Every replica left out: straight to the primary, without reading its position first.
    if (this.#replicas.every((r) => r.downUntil > started)) return (await this.#primary()).connect();
    const needed = await this.#needed(consistency, started);
    const deadline = started + (this.#options.readYourWrites === 'primary' ? 0 : this.#options.waitTimeoutMs);
    for (let i = 0; i < this.#replicas.length; i++) {
      const replica = this.#replicas[(this.#turn++ & 0x7fffffff) % this.#replicas.length];
      if (replica === undefined || replica.downUntil > Date.now()) continue;
      const client = await this.#replicaClient(replica);
      if (client !== undefined && (await this.#caughtUp(replica, client, needed, deadline))) return client;
    }
    return (await this.#primary()).connect();
  }

  /** Ends the replicas' pools the adapter made (once, whichever dialect asks). The primary's is left alone. */
  end(): Promise<void> {
    this.#ended ??= Promise.all(this.#replicas.map((r) => r.end())).then(() => {});
    return this.#ended;
  }

  async #needed(consistency: ReplicaReadConsistency, now: number): Promise<bigint> {
    if (consistency === 'latest') return this.#position.next();
    if (this.#options.readYourWrites !== 'off' && this.#covered !== this.#writes) {
      const writes = this.#writes;
      const lsn = await this.#position.next();
      if (lsn > this.#ownWrites) this.#ownWrites = lsn;
      if (writes > this.#covered) this.#covered = writes;
    }
    // After a read-your-writes reading, the lag bound has a sample and costs no query.
    const bound = await this.#position.lagBound(now);
    if (bound > this.#ownWrites) return bound; // bigints: no Math.max
    return this.#ownWrites;
  }

  async #replicaClient(replica: ReplicaState): Promise<PostgresPoolClient | undefined> {
    try {
      return await (await replica.pool()).connect();
    } catch (error) {
      // Every pooled connection busy for connectionTimeoutMs: the replica is saturated, not down; this read only
      // goes to the primary.
      if (classifyPostgresError(error) !== 'connectionWaitTimeout') {
        replica.downUntil = Date.now() + this.#options.retryDownAfterMs;
      }
      return undefined;
    }
  }

  /**
   * True when `replica` has replayed `needed` (polling until `deadline`), `client` still held; otherwise `client`
   * is released and false.
   */
  async #caughtUp(replica: ReplicaState, client: PostgresPoolClient, needed: bigint, deadline: number) {
    const since = Date.now();
    try {
      while (replica.replayed < needed) {
        const { rows } = await client.query<{ lsn: string | null }>(REPLAY_LSN, []);
        const replayed = parseLsn(rows[0]?.lsn);
        // No replay position: not a standby (promoted, or misconfigured). It cannot follow the primary: left out.
        if (replayed === undefined) throw new Error('not a standby');
        if (replayed > replica.replayed) replica.replayed = replayed;
        if (replayed >= needed) break;
        // A streaming standby replays a commit within a millisecond or so: poll every 1 ms for the first 10 ms
        // (one tiny query each), then every 5 ms.
        const delay = Date.now() - since < 10 ? 1 : 5;
        if (Date.now() + delay > deadline) {
          client.release();
          return false;
        }
        await new Promise((resolve) => setTimeout(resolve, delay));
      }
      return true;
    } catch (error) {
      replica.downUntil = Date.now() + this.#options.retryDownAfterMs;
      (client.release as (error?: unknown) => void)(error);
      return false;
    }
  }
}
