import { type RawBuilder, sql } from 'kysely';
import { MarketkitError } from '../errors/marketkit-error.js';
import type { ParamRef, StatementTemplate } from './statement-template.js';
import type { Storage, TransactionOptions } from './storage.js';

/** A condition a one-statement write must meet, evaluated over its CTEs once they ran. */
export interface StatementCheck {
  /** Reported when the condition fails. A constant: it is compiled into the statement. */
  readonly name: string;
  /** A boolean over the statement's CTEs, e.g. `(select count(*) from o) = 1`. */
  readonly ok: RawBuilder<unknown>;
}

/** The parts of a checked statement: its CTEs, its checks, and the CTE whose rows it returns (if any). */
export interface CheckedShape {
  readonly ctes: readonly RawBuilder<unknown>[];
  readonly checks: readonly StatementCheck[];
  readonly result?: string;
}

/** What a checked statement did: its result rows, or the first check that failed (and then it changed nothing). */
export type CheckedOutcome<R> =
  | { readonly ok: true; readonly rows: readonly R[] }
  | { readonly ok: false; readonly failed: string };

const MARKER = 'marketkit check failed: ';

/**
 * A whole write transaction as ONE statement, sent alone (autocommit): data-modifying CTEs, then `checks` over what
 * they did. When a check fails the statement raises, so PostgreSQL rolls all of it back, and {@link run} returns
 * `{ ok: false, failed }`: the caller then knows nothing changed and can find out why (say by running the same
 * work step by step in a transaction, which throws the precise error). Otherwise `run` returns the rows of the
 * shape's `result` CTE (all its columns plus `mk_verdict`; one row of nulls when it is empty), or none. A shape
 * without checks (each write depends on a guarded first write, so nothing is written when the guard fails) returns
 * the `result` rows alone, as they are.
 *
 * The statement is a {@link StatementTemplate}: built with `p(name)` for every value (constants as `sql.lit`),
 * compiled through Kysely (so the table prefix and schema apply) once, on first use; each run only binds values. Data-modifying CTEs all see one snapshot and run
 * to completion whatever the main query reads; they must not write the same row twice. Needs
 * `capabilities.writableCtes`. Serialization failures and deadlocks rerun the statement.
 *
 * @example
 * ```ts
 * const paid = new CheckedStatement(storage, (p) => ({
 *   ctes: [sql`o as (update ${sql.table('orders')} set state = 'paid' where id = ${p('id')} returning id)`],
 *   checks: [{ name: 'order found', ok: sql`(select count(*) from o) = 1` }],
 * }));
 * const out = await paid.run({ id: 'ord_1' });
 * ```
 */
export class CheckedStatement {
  readonly #storage: Storage;
  readonly #build: (p: ParamRef) => CheckedShape;
  #template: StatementTemplate | undefined;

  constructor(storage: Storage, build: (p: ParamRef) => CheckedShape) {
    this.#storage = storage;
    this.#build = build;
  }

  /** Runs the statement with `values` (one per name the build used). */
  async run<R = Record<string, unknown>>(
    values: Readonly<Record<string, unknown>>,
    options: TransactionOptions = {},
  ): Promise<CheckedOutcome<R>> {
    this.#template ??= this.#storage.templates.compile((db, p) => {
      const statement = this.#statement(p);
      return { compile: () => statement.compile(db) };
    });
    const query = this.#template.bind(values);
    try {
      const out = await this.#storage.autocommit((db) => db.executeQuery<R>(query), options);
      return { ok: true, rows: out.rows };
    } catch (error) {
      const failed = checkFailure(error);
      if (failed === undefined) throw error;
      return { ok: false, failed };
    }
  }

  #statement(p: ParamRef): RawBuilder<unknown> {
    const shape = this.#build(p);
    const ctes = sql.join(shape.ctes);
    // Without checks (every write depends on a guarded first one, say) there is nothing to raise for.
    if (shape.checks.length === 0) {
      return shape.result === undefined
        ? sql`with ${ctes} select 1 as mk_verdict`
        : sql`with ${ctes} select * from ${sql.id(shape.result)}`;
    }
    // Each check evaluated once, in a subquery the planner may not pull up (`offset 0`: pulled up, its columns'
    // subqueries would be copied into both branches below). A check that is NULL (a subquery that found no row)
    // fails too. The raising branch depends on the CTEs, so the planner cannot fold it into an error at plan time.
    const column = (i: number) => sql.id(`c${i}`);
    const passed = (i: number) => sql`coalesce(${column(i)}, false)`;
    const columns = sql.join(shape.checks.map((c, i) => sql`(${c.ok}) as ${column(i)}`));
    const all = sql.join(
      shape.checks.map((_, i) => passed(i)),
      sql` and `,
    );
    const which = sql.join(
      shape.checks.map((c, i) => sql`when not ${passed(i)} then ${sql.lit(c.name)}`),
      sql` `,
    );
    const verdict = sql`select case when ${all} then 'ok'
        else cast(${sql.lit(MARKER)} || (case ${which} else '?' end) as integer)::text end as mk_verdict
      from (select ${columns} offset 0) as checks`;
    const main =
      shape.result === undefined
        ? verdict
        : sql`select v.mk_verdict, r.* from (${verdict}) v left join ${sql.id(shape.result)} r on true`;
    return sql`with ${ctes} ${main}`;
  }
}

/**
 * The values of a {@link CheckedStatement} gathered from the parts that build it (each module names its own):
 * throws `INTERNAL` when two parts use one name, which would bind one part's value into the other's place.
 */
export function statementValues(...parts: readonly Readonly<Record<string, unknown>>[]): Record<string, unknown> {
  const values: Record<string, unknown> = {};
  for (const part of parts) {
    for (const [name, value] of Object.entries(part)) {
      if (name in values) throw new MarketkitError('INTERNAL', { message: `checked statement: ${name} named twice` });
      values[name] = value;
    }
  }
  return values;
}

/** The name of the check a {@link CheckedStatement} raised for, or `undefined` for any other error. */
function checkFailure(error: unknown): string | undefined {
  for (let e: unknown = error; e !== undefined && e !== null; e = (e as { cause?: unknown }).cause) {
    const message = (e as { message?: unknown }).message;
    if (typeof message !== 'string') continue;
    const at = message.indexOf(MARKER);
    if (at >= 0) return message.slice(at + MARKER.length).replace(/"$/, '');
  }
  return undefined;
}
