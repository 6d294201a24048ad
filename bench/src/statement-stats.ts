/**
 * Counting and timing statements on PostgreSQL, for the benches that show where a call's time goes: a pool whose
 * clients time every query, and the calls and time per kind of statement.
 */
import { performance } from 'node:perf_hooks';
import type { PostgresCursor, PostgresPool, PostgresPoolClient } from 'kysely';

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

  get(label: string): { calls: number; ms: number } {
    return { ...(this.#by.get(label) ?? { calls: 0, ms: 0 }) };
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
export function countingPool(inner: PostgresPool, stats: StatementStats): PostgresPool {
  const wrappers = new WeakMap<object, PostgresPoolClient>();
  const wrap = (client: PostgresPoolClient): PostgresPoolClient => ({
    query: ((query: string | NamedQuery | PostgresCursor<unknown>, parameters?: unknown[]) => {
      const text = typeof query === 'string' ? query : 'name' in query ? query.text : undefined;
      if (text === undefined) return client.query(query as never);
      const t0 = performance.now();
      // A named (prepared) statement arrives as one object: `{ name, text, values }`.
      const run = (
        typeof query === 'string' ? client.query(query, parameters ?? []) : client.query(query as never)
      ) as Promise<unknown>;
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
