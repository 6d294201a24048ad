import type { PostgresPool } from 'kysely';

/**
 * A PostgreSQL WAL position (`pg_lsn`, e.g. `16/B374D848`) as a bigint, so positions compare with `<`. `undefined`
 * for SQL null (`pg_last_wal_replay_lsn()` on a server that is not a standby).
 */
export function parseLsn(text: string | null | undefined): bigint | undefined {
  if (text === null || text === undefined) return undefined;
  const [hi, lo] = text.split('/');
  if (hi === undefined || lo === undefined) return undefined;
  return (BigInt(`0x${hi}`) << 32n) | BigInt(`0x${lo}`);
}

/** One reading of the primary's WAL position and when the query that read it was sent. */
interface Sample {
  readonly at: number;
  readonly lsn: bigint;
}

const INSERT_LSN = 'select pg_current_wal_insert_lsn()::text as lsn';

/**
 * The primary's WAL position as the replica reads need it. {@link next} answers with a position read by a query sent
 * after the call (so it covers every commit that finished before the call), and concurrent callers share one query:
 * while one runs, later callers wait for the one after it. {@link lagBound} keeps the readings of the last `maxLagMs`
 * and answers with the oldest, the position a replica must have replayed to lag by less than `maxLagMs`.
 */
export class PrimaryPosition {
  readonly #pool: () => Promise<PostgresPool>;
  readonly #maxLagMs: number;
  readonly #samples: Sample[] = [];
  #running: Promise<bigint> | undefined;
  #queued: Promise<bigint> | undefined;

  constructor(pool: () => Promise<PostgresPool>, maxLagMs: number) {
    this.#pool = pool;
    this.#maxLagMs = maxLagMs;
  }

  /** The primary's WAL insert position, read by a query sent after this call. */
  next(): Promise<bigint> {
    if (this.#running === undefined) {
      const running = this.#read().finally(() => {
        this.#running = undefined;
      });
      this.#running = running;
      return running;
    }
    if (this.#queued === undefined) {
      this.#queued = this.#running
        .catch(() => 0n)
        .then(() => {
          this.#queued = undefined;
          return this.next();
        });
    }
    return this.#queued;
  }

  /**
   * The position a replica must have replayed to lag the primary by less than `maxLagMs`: the oldest reading not
   * older than that. Reads the primary (and waits) only when there is none; refreshes in the background once the
   * newest is half the bound old.
   */
  async lagBound(now: number): Promise<bigint> {
    while (this.#samples.length > 0 && (this.#samples[0]?.at ?? 0) < now - this.#maxLagMs) this.#samples.shift();
    const oldest = this.#samples[0];
    if (oldest === undefined) return this.next();
    const newest = this.#samples.at(-1) ?? oldest;
    if (newest.at <= now - this.#maxLagMs / 2) this.next().catch(() => {});
    return oldest.lsn;
  }

  async #read(): Promise<bigint> {
    const at = Date.now();
    const pool = await this.#pool();
    const client = await pool.connect();
    try {
      const { rows } = await client.query<{ lsn: string }>(INSERT_LSN, []);
      const lsn = parseLsn(rows[0]?.lsn) ?? 0n;
      // A few readings per bound are enough (and keep the list short under many `latest` reads).
      const last = this.#samples.at(-1);
      if (last === undefined || at - last.at >= this.#maxLagMs / 4) this.#samples.push({ at, lsn });
      return lsn;
    } finally {
      client.release();
    }
  }
}
