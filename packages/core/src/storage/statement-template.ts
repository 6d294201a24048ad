import { type Compilable, type CompiledQuery, createQueryId, type Kysely, type QueryResult, RawNode } from 'kysely';
import type { MarketkitDatabase } from '../schema/database.js';

const MARK = '\u0000mk-param:';

/** `p('tenant')`: how the tenant plugin marks the tenant in a statement template, bound from the template's defaults. */
export const TENANT_PARAM_MARK = `${MARK}tenant`;

/**
 * What runs a bound template: a Kysely instance or transaction, or the connection a transaction holds (see
 * `trx.getExecutor().provideConnection`), which skips Kysely's per-statement layers (connection hand-over, result
 * plugins); only for statements compiled through the same Kysely instance, whose plugins leave results as they are.
 */
export interface StatementRunner {
  executeQuery<R>(query: CompiledQuery<R>): Promise<QueryResult<R>>;
}

/**
 * Marks the parameters of a statement bound for several rows at once (`StatementTemplate.bindMany`): a list of
 * parameter lists, one per run. An adapter that declares `capabilities.statementBatches` runs the statement once per
 * list, in order, within the one `executeQuery` call, and returns the rows of every run (a registered symbol, so an
 * adapter need not import it).
 *
 * @example
 * ```ts
 * const runs = (parameters as { [STATEMENT_BATCH]?: true })[STATEMENT_BATCH] === true ? parameters : [parameters];
 * ```
 */
export const STATEMENT_BATCH: unique symbol = Symbol.for('marketkit.statementBatch') as never;

/** Stands for the value of the named parameter where a statement template is built. */
export type ParamRef = (name: string) => never;

/** Builds a statement with `p(name)` wherever a value goes; it is compiled once, then only bound. */
export type TemplateBuild = (db: Kysely<MarketkitDatabase>, p: ParamRef) => Compilable;

/**
 * A statement compiled once through the Kysely instance (so the table prefix or schema applies) and then
 * executed any number of times with new values: no query building, plugin pass or compilation per call. On a
 * hot path that saves 100–300 µs of CPU per statement here, more than a statement's round trip costs the
 * server. Build the statement with `p(name)` for every value; a value written inline (not through `p`) is
 * rejected when the template is compiled, so a template can never carry a stale value.
 *
 * @example
 * ```ts
 * const bump = storage.templates.compile((db, p) =>
 *   db.updateTable('accounts').set({ user_data: p('data') }).where('id', '=', p('id')));
 * await trx.executeQuery(bump.bind({ id: 'acc_1', data: 'x' }));
 * ```
 */
export class StatementTemplate {
  /** The compiled SQL text. */
  readonly sql: string;
  readonly #names: readonly string[];
  /** The operation node of every bound statement (what `CompiledQuery.raw` would build anew for each). */
  readonly #node: RawNode;

  readonly #defaults: Readonly<Record<string, unknown>>;

  /**
   * @param prepare - called once with the compiled text, so the adapter can prepare it
   * (`StorageAdapter.prepare`).
   * @param defaults - values of parameters a call need not give (the storage's `tenant`).
   */
  constructor(
    db: Kysely<MarketkitDatabase>,
    build: TemplateBuild,
    prepare?: (sql: string) => void,
    defaults: Readonly<Record<string, unknown>> = {},
  ) {
    this.#defaults = defaults;
    const compiled = build(db, (name) => `${MARK}${name}` as never).compile();
    const names = compiled.parameters.map((value, i) => {
      if (typeof value !== 'string' || !value.startsWith(MARK)) {
        throw new Error(`statement template: parameter $${i + 1} is a literal value, not p(name)`);
      }
      return value.slice(MARK.length);
    });
    const once = placeholderPerName(compiled.sql, names);
    this.sql = once.sql;
    this.#names = once.names;
    this.#node = RawNode.createWithSql(this.sql);
    prepare?.(this.sql);
  }

  /** The names of the parameters, in the order of the compiled statement's placeholders. */
  get parameterNames(): readonly string[] {
    return this.#names;
  }

  /** The statement with `values` in place, ready for `db.executeQuery` (in a transaction or not). */
  bind(values: Readonly<Record<string, unknown>>): CompiledQuery {
    // What `CompiledQuery.raw(this.sql, params)` returns, without freezing a new node, parameter array and query
    // on every call: nothing holds on to them past the statement.
    return { sql: this.sql, query: this.#node, parameters: this.#parameters(values), queryId: createQueryId() };
  }

  /**
   * The statement once per entry of `rows`, as one query for an adapter with `capabilities.statementBatches`
   * (SQLite): its parameters are a {@link STATEMENT_BATCH}-marked list of parameter lists, which the adapter runs
   * one after another in the same call (a read returns the rows of every run, in order). Only for such adapters.
   */
  bindMany(rows: readonly Readonly<Record<string, unknown>>[]): CompiledQuery {
    const batch: unknown[][] & { [STATEMENT_BATCH]?: true } = rows.map((values) => this.#parameters(values));
    batch[STATEMENT_BATCH] = true;
    return { sql: this.sql, query: this.#node, parameters: batch, queryId: createQueryId() };
  }

  #parameters(values: Readonly<Record<string, unknown>>): unknown[] {
    const params = new Array<unknown>(this.#names.length);
    for (let i = 0; i < params.length; i++) {
      const name = this.#names[i]!;
      let value = values[name];
      if (value === undefined && !(name in values)) {
        if (!(name in this.#defaults)) throw new Error(`statement template: no value for ${name}`);
        value = this.#defaults[name];
      }
      params[i] = value;
    }
    return params;
  }
}

/** A `$n` placeholder (PostgreSQL's numbered parameters), not followed by another digit. */
const NUMBERED = /\$(\d+)(?!\d)/g;

/**
 * The statement with one numbered placeholder per distinct name: Kysely gives every `p(name)` its own `$n`, so a name
 * used in several places (the tenant in every CTE, the time, an id) was bound and sent once per place (111 values
 * for the checkout's create, of which 74 distinct). With `$n` placeholders (PostgreSQL) each later use of a name
 * becomes the first one's number. Left as it is when the text does not hold exactly `$1`…`$N` once each, in order, as
 * Kysely compiles them (`?` placeholders, or a literal that looks like one).
 */
function placeholderPerName(sql: string, names: readonly string[]): { sql: string; names: readonly string[] } {
  const numbers = [...sql.matchAll(NUMBERED)].map((m) => Number(m[1]));
  if (numbers.length !== names.length || numbers.some((n, i) => n !== i + 1)) return { sql, names };
  const distinct: string[] = [];
  const numberOf = new Map<string, number>();
  const renumbered = names.map((name) => {
    let n = numberOf.get(name);
    if (n === undefined) {
      distinct.push(name);
      n = distinct.length;
      numberOf.set(name, n);
    }
    return n;
  });
  if (distinct.length === names.length) return { sql, names };
  return { sql: sql.replace(NUMBERED, (_, n: string) => `$${renumbered[Number(n) - 1]}`), names: distinct };
}

/**
 * Templates by key, compiled on first use. Keep one per Kysely instance: the compiled text depends on its
 * dialect and plugins.
 * @internal
 */
export class StatementTemplates {
  readonly #db: Kysely<MarketkitDatabase>;
  readonly #prepare: ((sql: string) => void) | undefined;
  readonly #cache = new Map<string, StatementTemplate>();
  readonly #defaults: Readonly<Record<string, unknown>>;

  /** @param defaults - values every template may leave out of `bind` (the tenant). */
  constructor(
    db: Kysely<MarketkitDatabase>,
    prepare?: (sql: string) => void,
    defaults: Readonly<Record<string, unknown>> = {},
  ) {
    this.#db = db;
    this.#prepare = prepare;
    this.#defaults = defaults;
  }

  /** The template cached under `key`, built by `build` the first time. A key must always name the same shape. */
  get(key: string, build: TemplateBuild): StatementTemplate {
    let template = this.#cache.get(key);
    if (template === undefined) {
      template = this.compile(build);
      this.#cache.set(key, template);
    }
    return template;
  }

  /** A template compiled through this instance's Kysely and handed to the adapter to prepare, not cached here. */
  compile(build: TemplateBuild): StatementTemplate {
    return new StatementTemplate(this.#db, build, this.#prepare, this.#defaults);
  }
}

/**
 * Runs `template` once per entry of `rows`, in order, and returns the rows of every run: one batched query
 * (`bindMany`) with `batches` (the adapter's `capabilities.statementBatches`), else one query per entry.
 */
export async function runPerRow<R>(
  runner: StatementRunner,
  template: StatementTemplate,
  rows: readonly Readonly<Record<string, unknown>>[],
  batches: boolean,
): Promise<R[]> {
  if (rows.length === 0) return [];
  if (batches) return (await runner.executeQuery<R>(template.bindMany(rows))).rows as R[];
  const out: R[] = [];
  for (const values of rows) for (const r of (await runner.executeQuery<R>(template.bind(values))).rows) out.push(r);
  return out;
}
