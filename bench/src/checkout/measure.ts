/**
 * Measuring lanes of checkouts against each other in the same run (warm-up, rounds, medians), and counting and
 * timing statements on PostgreSQL.
 */
import { performance } from 'node:perf_hooks';
import type { PostgresCursor, PostgresPool, PostgresPoolClient } from 'kysely';
import type pg from 'pg';
import { median, spread } from '../report.js';

export interface BenchOptions {
  readonly rounds: number;
  readonly roundMs: number;
  readonly warmupMs: number;
  readonly only: 'sqlite' | 'postgres' | undefined;
}

export function parseOptions(args: readonly string[]): BenchOptions {
  const quick = args.includes('--quick');
  const only = args.find((a) => a.startsWith('--only='))?.slice('--only='.length);
  if (only !== undefined && only !== 'sqlite' && only !== 'postgres')
    throw new Error(`--only=${only}: sqlite|postgres`);
  return quick ? { rounds: 1, roundMs: 250, warmupMs: 150, only } : { rounds: 5, roundMs: 700, warmupMs: 3000, only };
}

/** Something that performs one full checkout per call (the SDK, or a baseline), on its own stream of checkouts. */
export interface Lane {
  readonly name: string;
  run(): Promise<void>;
}

/** Median checkouts per second of a lane over the rounds, with the spread of the rounds. */
export interface LaneFigure {
  readonly rate: number;
  readonly spread: number | undefined;
}

export interface Measured {
  readonly lanes: LaneFigure[];
  /** Median over the rounds of rate(lane 0) / rate(lane j), for every j (1 for j = 0). */
  readonly ratios: number[];
  /** Checkouts per lane in the measured rounds, and the time each lane spent on them. */
  readonly count: number;
  readonly ms: number[];
}

/**
 * Warms every lane up, then runs rounds sized so that lane 0 spends about `roundMs` in each. Sequential
 * (`inFlight` = 1): the lanes take turns call by call, the order rotating, so noise hits all alike. Otherwise each
 * lane runs `inFlight` calls at a time, one lane after another (the first lane rotating from round to round).
 */
export async function measure(
  o: BenchOptions,
  lanes: readonly Lane[],
  inFlight: number,
  beforeRounds: () => void = () => {},
): Promise<Measured> {
  const run = (count: number, round: number) =>
    inFlight === 1 ? interleaved(lanes, count) : oneAfterAnother(lanes, count, inFlight, round);
  let [warmCount, warmMs] = [0, 0];
  for (let k = inFlight; warmMs < o.warmupMs; k *= 2) {
    warmMs += (await run(k, 0))[0]!;
    warmCount += k;
  }
  const count = Math.max(inFlight * 4, Math.round((warmCount * o.roundMs) / warmMs));
  beforeRounds();
  const rates: number[][] = lanes.map(() => []);
  const ratios: number[][] = lanes.map(() => []);
  const ms = lanes.map(() => 0);
  for (let r = 0; r < o.rounds; r++) {
    const t = await run(count, r);
    for (const [j, laneMs] of t.entries()) {
      rates[j]!.push((count * 1000) / laneMs);
      ratios[j]!.push(laneMs / t[0]!);
      ms[j]! += laneMs;
    }
  }
  return {
    lanes: rates.map((r) => ({ rate: median(r), spread: spread(r) })),
    ratios: ratios.map((r) => median(r)),
    count: count * o.rounds,
    ms,
  };
}

async function interleaved(lanes: readonly Lane[], count: number): Promise<number[]> {
  const ms = lanes.map(() => 0);
  for (let i = 0; i < count; i++) {
    for (let j = 0; j < lanes.length; j++) {
      const k = (i + j) % lanes.length;
      const t0 = performance.now();
      await lanes[k]!.run();
      ms[k]! += performance.now() - t0;
    }
  }
  return ms;
}

async function oneAfterAnother(lanes: readonly Lane[], count: number, inFlight: number, round: number) {
  const ms = lanes.map(() => 0);
  for (let j = 0; j < lanes.length; j++) {
    const k = (round + j) % lanes.length;
    let left = count;
    const worker = async () => {
      while (left > 0) {
        left--;
        await lanes[k]!.run();
      }
    };
    const t0 = performance.now();
    await Promise.all(Array.from({ length: inFlight }, worker));
    ms[k] = performance.now() - t0;
  }
  return ms;
}

// ---------------------------------------------------------------------------------------------------------------
// Counting and timing statements on PostgreSQL

/** Calls and time per kind of statement, failed statements by SQLSTATE, and optionally the statements in order. */
export class StatementStats {
  readonly #by = new Map<string, { calls: number; ms: number }>();
  readonly errors = new Map<string, number>();
  trace: string[] | undefined;

  record(label: string, ms: number): void {
    const e = this.#by.get(label) ?? { calls: 0, ms: 0 };
    e.calls++;
    e.ms += ms;
    this.#by.set(label, e);
    this.trace?.push(label);
  }

  recordError(error: unknown): void {
    const code = String((error as { code?: unknown }).code ?? 'other');
    this.errors.set(code, (this.errors.get(code) ?? 0) + 1);
  }

  reset(): void {
    this.#by.clear();
    this.errors.clear();
  }

  get calls(): number {
    return [...this.#by.values()].reduce((n, e) => n + e.calls, 0);
  }

  get ms(): number {
    return [...this.#by.values()].reduce((n, e) => n + e.ms, 0);
  }

  count(label: string): number {
    return this.#by.get(label)?.calls ?? 0;
  }

  entries(): [string, { calls: number; ms: number }][] {
    return [...this.#by.entries()].map(([l, e]) => [l, { ...e }]);
  }

  clone(): StatementStats {
    const copy = new StatementStats();
    for (const [label, e] of this.#by) copy.#by.set(label, { ...e });
    for (const [code, n] of this.errors) copy.errors.set(code, n);
    return copy;
  }

  get errorCount(): number {
    return [...this.errors.values()].reduce((a, b) => a + b, 0);
  }
}

/**
 * A short name for one of the SDK's statements: verb, table, and what makes it special, e.g.
 * `select orders for update`, `upsert outbox_aggregates`, `update accounts from (values)`, `select order_events max(seq)`.
 */
export function statementLabel(sql: string): string {
  const s = sql.trim().toLowerCase();
  const bare = /^(begin|commit|rollback)\b/.exec(s)?.[1];
  if (bare !== undefined) return bare;
  if (s.startsWith('with') && /\bas\s*\(\s*(insert|update|delete)\b/.test(s)) {
    // A whole transaction as one statement: name the tables it writes.
    const writes = [...s.matchAll(/\b(?:insert into|(?<!do )update|delete from)\s+(?:"?\w+"?\.)?"?(\w+)"?/g)].map((m) =>
      (m[1] ?? '?').replace(/^mk_/, ''),
    );
    return `with … (${writes.length} write CTEs: ${[...new Set(writes)].join(', ')})`;
  }
  const body = s.startsWith('with') ? (/\)\s+((?:select|insert|update|delete)\b[\s\S]*)$/.exec(s)?.[1] ?? s) : s;
  const table = /(?:insert into|update|from)\s+"?(\w+)"?/.exec(body)?.[1]?.replace(/^mk_/, '') ?? '?';
  let verb = body.split(/\s/, 1)[0] ?? '?';
  if (verb === 'insert' && /\bon conflict\b/.test(body))
    verb = /\bdo nothing\b/.test(body) ? 'insert…nothing' : 'upsert';
  const extra = [
    s.startsWith('with') && /\(values\b/.test(s) ? 'from (values)' : '',
    /\bmax\(/.test(body) ? 'max(seq)' : '',
    /\bfor update\b/.test(body) ? 'for update' : '',
  ].filter((x) => x !== '');
  return [verb, table, ...extra].join(' ');
}

/** A statement the adapter runs prepared. */
interface NamedQuery {
  readonly name: string;
  readonly text: string;
  readonly values?: unknown[];
}

/**
 * A pool for `postgresAdapter({ pool })` whose clients time every query (and count failed ones). Wrappers are
 * kept per client so that kysely, which keys its connections by client, reuses them. `end` does nothing: the
 * bench ends the shared pg pool itself.
 */
export function countingPool(inner: pg.Pool, stats: StatementStats): PostgresPool {
  const wrappers = new WeakMap<object, PostgresPoolClient>();
  const wrap = (client: pg.PoolClient): PostgresPoolClient => ({
    query: ((query: string | NamedQuery | PostgresCursor<unknown>, parameters?: unknown[]) => {
      const text = typeof query === 'string' ? query : 'name' in query ? query.text : undefined;
      if (text === undefined) return client.query(query as never);
      const t0 = performance.now();
      // A named (prepared) statement arrives as one object: `{ name, text, values }`.
      const run = typeof query === 'string' ? client.query(query, parameters) : client.query(query as pg.QueryConfig);
      return run.then(
        (res) => {
          stats.record(statementLabel(text), performance.now() - t0);
          return res;
        },
        (error: unknown) => {
          stats.record(statementLabel(text), performance.now() - t0);
          stats.recordError(error);
          throw error;
        },
      );
    }) as unknown as PostgresPoolClient['query'],
    release: (destroy) => client.release(destroy),
  });
  return {
    async connect() {
      const client = await inner.connect();
      let w = wrappers.get(client);
      if (w === undefined) {
        w = wrap(client);
        wrappers.set(client, w);
      }
      return w;
    },
    end: async () => {},
  };
}
