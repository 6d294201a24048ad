// Checks of the multi-tenant rules (Citus's rules for tables distributed by tenant) that tenancy tests share: the
// schema check (every Marketkit table carries `tenant` first in its primary key and unique indexes), a statement
// recorder over an adapter, and the statement check (every statement a marketplace sends filters by its tenant).
import type {
  CompiledQuery,
  DatabaseConnection,
  Dialect,
  Driver,
  Kysely,
  QueryResult,
  TransactionSettings,
} from 'kysely';
import { CompiledQuery as Compiled, sql } from 'kysely';
import { STATEMENT_BATCH, type StorageAdapter } from '../../src/index.js';
import { MARKETKIT_TABLES } from '../../src/schema/database.js';
import type { Storage } from '../../src/storage/storage.js';

/** Exists only while migration 0010 rebuilds the step log. */
const TRANSIENT_TABLES = new Set(['saga_steps_rebuild']);

/**
 * The physical tables the tenancy rules apply to: every table of `MARKETKIT_TABLES` under the storage's prefix,
 * and every other table carrying the prefix (a table added by hand, or by a migration that forgot the tenant),
 * except the migration bookkeeping tables.
 */
function physicalTables(storage: Storage, present: readonly string[]): string[] {
  const prefix = storage.tablePrefix;
  const bookkeeping = new Set([`${prefix}migrations`, `${prefix}migrations_lock`]);
  const known = MARKETKIT_TABLES.filter((t) => !TRANSIENT_TABLES.has(t)).map((t) => `${prefix}${t}`);
  const extra = present.filter(
    (t) =>
      t.startsWith(prefix) &&
      !bookkeeping.has(t) &&
      !known.includes(t) &&
      !TRANSIENT_TABLES.has(t.slice(prefix.length)) &&
      !t.endsWith('__tenant'),
  );
  return [...known, ...extra].sort();
}

interface KeyIndex {
  readonly table: string;
  readonly name: string;
  readonly primary: boolean;
  /** The first column, or null for an expression. */
  readonly first: string | null;
}

/**
 * Every way the storage's tables break the tenancy rules, as readable lines (empty when none): a Marketkit table
 * that is missing or has no `tenant` column, has no primary key, or has a primary key or a unique index
 * (constraint or not) or a foreign key whose first column is not `tenant`. PostgreSQL is read from pg_catalog, SQLite from its
 * pragmas.
 */
export async function tenancySchemaViolations(storage: Storage): Promise<string[]> {
  const db = storage.unscopedDb as unknown as Kysely<unknown>;
  const problems: string[] = [];
  let present: string[];
  const columns = new Map<string, Set<string>>();
  const keys: KeyIndex[] = [];
  if (storage.adapter.capabilities.schemas) {
    const schema = storage.schema === undefined ? sql`current_schema()` : sql`${storage.schema}`;
    present = (
      await sql<{ name: string }>`select c.relname as name from pg_class c
        join pg_namespace n on n.oid = c.relnamespace
        where n.nspname = ${schema} and c.relkind in ('r', 'p')`.execute(db)
    ).rows.map((r) => r.name);
    const tables = physicalTables(storage, present);
    const cols = await sql<{ table: string; column: string }>`select c.relname as table, a.attname as column
      from pg_attribute a join pg_class c on c.oid = a.attrelid join pg_namespace n on n.oid = c.relnamespace
      where n.nspname = ${schema} and c.relname = any(${tables}) and a.attnum > 0 and not a.attisdropped`.execute(db);
    for (const r of cols.rows) columns.set(r.table, (columns.get(r.table) ?? new Set()).add(r.column));
    const idx = await sql<{ table: string; name: string; primary: boolean; first: string | null }>`
      select c.relname as table, i.relname as name, x.indisprimary as primary, a.attname as first
      from pg_index x
      join pg_class c on c.oid = x.indrelid
      join pg_class i on i.oid = x.indexrelid
      join pg_namespace n on n.oid = c.relnamespace
      left join pg_attribute a on a.attrelid = c.oid and a.attnum = x.indkey[0]
      where n.nspname = ${schema} and c.relname = any(${tables}) and (x.indisprimary or x.indisunique)
      order by c.relname, i.relname`.execute(db);
    keys.push(...idx.rows);
    // Citus: a foreign key between distributed tables must include the distribution column.
    const fks = await sql<{ table: string; name: string; first: string | null }>`
      select c.relname as table, k.conname as name, a.attname as first
      from pg_constraint k
      join pg_class c on c.oid = k.conrelid
      join pg_namespace n on n.oid = c.relnamespace
      left join pg_attribute a on a.attrelid = c.oid and a.attnum = k.conkey[1]
      where n.nspname = ${schema} and c.relname = any(${tables}) and k.contype = 'f'`.execute(db);
    for (const fk of fks.rows) {
      if (fk.first !== 'tenant')
        problems.push(`${fk.table}: foreign key ${fk.name} starts with ${fk.first}, not tenant`);
    }
  } else {
    present = (await sql<{ name: string }>`select name from sqlite_master where type = 'table'`.execute(db)).rows.map(
      (r) => r.name,
    );
    for (const table of physicalTables(storage, present)) {
      if (!present.includes(table)) continue;
      const info = await sql<{
        name: string;
        pk: number | bigint;
      }>`select name, pk from pragma_table_info(${table})`.execute(db);
      columns.set(table, new Set(info.rows.map((r) => r.name)));
      const pk = info.rows.filter((r) => Number(r.pk) > 0).sort((a, b) => Number(a.pk) - Number(b.pk));
      // A primary key declared on the table (or an INTEGER PRIMARY KEY alias of the rowid) appears in table_info;
      // its autoindex, if any, appears again below as origin 'pk'.
      if (pk.length > 0) keys.push({ table, name: `${table} primary key`, primary: true, first: pk[0]!.name });
      const fks = await sql<{ id: number | bigint; seq: number | bigint; from: string }>`
        select id, seq, "from" from pragma_foreign_key_list(${table})`.execute(db);
      for (const fk of fks.rows.filter((r) => Number(r.seq) === 0 && r.from !== 'tenant')) {
        problems.push(`${table}: foreign key ${fk.id} starts with ${fk.from}, not tenant`);
      }
      const list = await sql<{ name: string; unique: number | bigint; origin: string }>`
        select name, "unique", origin from pragma_index_list(${table})`.execute(db);
      for (const index of list.rows) {
        if (Number(index.unique) === 0 || index.origin === 'pk') continue;
        const first = await sql<{ name: string | null }>`select name from pragma_index_info(${index.name})
          where seqno = 0`.execute(db);
        keys.push({ table, name: index.name, primary: false, first: first.rows[0]?.name ?? null });
      }
    }
  }
  for (const table of physicalTables(storage, present)) {
    if (!present.includes(table)) {
      problems.push(`${table}: missing`);
      continue;
    }
    if (!columns.get(table)?.has('tenant')) problems.push(`${table}: no tenant column`);
    const own = keys.filter((k) => k.table === table);
    if (!own.some((k) => k.primary)) problems.push(`${table}: no primary key`);
    for (const k of own) {
      if (k.first === 'tenant') continue;
      const what = k.primary ? 'primary key' : 'unique index';
      problems.push(`${table}: ${what} ${k.name} starts with ${k.first ?? 'an expression'}, not tenant`);
    }
  }
  return problems;
}

/** One statement as the marketplace sent it to the driver. */
export interface RecordedStatement {
  readonly sql: string;
  readonly parameters: readonly unknown[];
}

/**
 * `dialect`, recording every query its connections run (text and parameters) into `sink`: the statements a
 * marketplace sends, built through query builders, raw SQL or statement templates alike. Modelled on core's
 * `waitingDialect`.
 */
export function recordingDialect(dialect: Dialect, sink: RecordedStatement[]): Dialect {
  return {
    createAdapter: () => dialect.createAdapter(),
    createIntrospector: (db) => dialect.createIntrospector(db),
    createQueryCompiler: () => dialect.createQueryCompiler(),
    createDriver: () => recordingDriver(dialect.createDriver(), sink),
  };
}

/** `adapter` with its dialect recording into `sink` (see {@link recordingDialect}). */
export function recordingAdapter(adapter: StorageAdapter, sink: RecordedStatement[]): StorageAdapter {
  return { ...adapter, dialect: recordingDialect(adapter.dialect, sink) };
}

function recordingConnection(conn: DatabaseConnection, sink: RecordedStatement[]): DatabaseConnection {
  return {
    executeQuery<R>(query: CompiledQuery): Promise<QueryResult<R>> {
      // A statement bound for several rows (`bindMany`) runs once per row: each run is a statement sent.
      const batch = (query.parameters as { [STATEMENT_BATCH]?: true })[STATEMENT_BATCH] === true;
      const runs = batch ? (query.parameters as readonly (readonly unknown[])[]) : [query.parameters];
      for (const parameters of runs) sink.push({ sql: query.sql, parameters: [...parameters] });
      return conn.executeQuery<R>(query);
    },
    streamQuery<R>(query: CompiledQuery, chunkSize?: number): AsyncIterableIterator<QueryResult<R>> {
      sink.push({ sql: query.sql, parameters: [...query.parameters] });
      return conn.streamQuery<R>(query, chunkSize);
    },
  };
}

function recordingDriver(driver: Driver, sink: RecordedStatement[]): Driver {
  // Kysely hands the driver back the connection it acquired: map the wrapper to the driver's own.
  const inner = new WeakMap<DatabaseConnection, DatabaseConnection>();
  const unwrap = (c: DatabaseConnection) => inner.get(c) ?? c;
  return {
    init: () => driver.init(),
    async acquireConnection() {
      const conn = await driver.acquireConnection();
      const wrapped = recordingConnection(conn, sink);
      inner.set(wrapped, conn);
      return wrapped;
    },
    beginTransaction: (conn: DatabaseConnection, settings: TransactionSettings) =>
      driver.beginTransaction(unwrap(conn), settings),
    commitTransaction: (conn) => driver.commitTransaction(unwrap(conn)),
    rollbackTransaction: (conn) => driver.rollbackTransaction(unwrap(conn)),
    releaseConnection: (conn) => driver.releaseConnection(unwrap(conn)),
    destroy: () => driver.destroy(),
    ...(driver.savepoint === undefined
      ? {}
      : {
          savepoint: (
            conn: DatabaseConnection,
            name: string,
            compile: Parameters<NonNullable<Driver['savepoint']>>[2],
          ) => driver.savepoint!(unwrap(conn), name, compile),
        }),
    ...(driver.rollbackToSavepoint === undefined
      ? {}
      : {
          rollbackToSavepoint: (
            conn: DatabaseConnection,
            name: string,
            compile: Parameters<NonNullable<Driver['rollbackToSavepoint']>>[2],
          ) => driver.rollbackToSavepoint!(unwrap(conn), name, compile),
        }),
    ...(driver.releaseSavepoint === undefined
      ? {}
      : {
          releaseSavepoint: (
            conn: DatabaseConnection,
            name: string,
            compile: Parameters<NonNullable<Driver['releaseSavepoint']>>[2],
          ) => driver.releaseSavepoint!(unwrap(conn), name, compile),
        }),
  };
}

/** The physical names of the Marketkit tables under `prefix` (the `tables` of {@link statementViolations}). */
export function physicalTableNames(prefix: string): string[] {
  return MARKETKIT_TABLES.filter((t) => !TRANSIENT_TABLES.has(t)).map((t) => `${prefix}${t}`);
}

const CONTROL = /^\s*(begin|start transaction|commit|rollback|savepoint|release|set|reset|listen|unlisten|notify)\b/i;

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** A table name as it may appear in SQL text: bare, quoted, or schema-qualified. */
function tablePattern(tables: readonly string[]): RegExp {
  return new RegExp(`(?<![A-Za-z0-9_])"?(${tables.map(escapeRegExp).join('|')})"?(?![A-Za-z0-9_])`, 'g');
}

interface PlanNode {
  readonly 'Node Type': string;
  readonly 'Relation Name'?: string;
  readonly Alias?: string;
  readonly Plans?: readonly PlanNode[];
  readonly [key: string]: unknown;
}

const CONDITION_KEYS = ['Index Cond', 'Filter', 'Recheck Cond', 'TID Cond', 'Join Filter', 'One-Time Filter'];

/** The conditions of a scan node, and of the bitmap index scans under a bitmap heap scan. */
function scanConditions(node: PlanNode): string[] {
  const own = CONDITION_KEYS.map((k) => node[k]).filter((c): c is string => typeof c === 'string');
  if (node['Node Type'] !== 'Bitmap Heap Scan') return own;
  const below: string[] = [];
  const walk = (n: PlanNode) => {
    if (n['Node Type'].startsWith('Bitmap')) {
      const c = n['Index Cond'];
      if (typeof c === 'string') below.push(c);
      for (const p of n.Plans ?? []) walk(p);
    }
  };
  for (const p of node.Plans ?? []) walk(p);
  return [...own, ...below];
}

/** Every `INSERT INTO` one of `names` in `text` that has no column list or does not list the tenant column. */
function insertProblems(text: string, names: ReadonlySet<string>): string[] {
  const problems: string[] = [];
  const oneLine = text.replace(/\s+/g, ' ').trim();
  for (const insert of text.matchAll(
    /\binsert\s+(?:or\s+\w+\s+)?into\s+((?:"[^"]+"|\w+)(?:\s*\.\s*(?:"[^"]+"|\w+))?)\s*/gi,
  )) {
    const table = (insert[1] ?? '').split('.').at(-1)!.replaceAll('"', '').trim();
    if (!names.has(table)) continue;
    const rest = text.slice((insert.index ?? 0) + insert[0].length);
    const list = /^(?:as\s+\w+\s*)?\(([^)]*)\)/i.exec(rest);
    if (list === null) problems.push(`insert into ${table} without a column list: ${oneLine}`);
    else if (!/(^|[\s,"])tenant("|\s|,|$)/.test(list[1] ?? '')) {
      problems.push(`insert into ${table} without the tenant column: ${oneLine}`);
    }
  }
  return problems;
}

/**
 * For any backend: every insert among the recorded `statements` (distinct texts) into one of `tables` (physical
 * names) that does not write the tenant column (see {@link statementViolations}, which checks this too).
 */
export function insertViolations(statements: readonly RecordedStatement[], tables: readonly string[]): string[] {
  const names = new Set(tables);
  return [...new Set(statements.map((s) => s.sql))].flatMap((text) => insertProblems(text, names));
}

/**
 * For PostgreSQL: every way the recorded `statements` break the tenancy rules for `tenant` (empty when none). Each
 * distinct SQL text that names one of `tables` (physical names) is explained (`EXPLAIN (FORMAT JSON)`, with its
 * first recording's parameters) on `db`, and every scan of one of `tables` in the plan must carry a condition on
 * `tenant` (index condition, filter or recheck condition), with no other tenant's literal in it; every
 * `INSERT INTO` one of `tables` must list the tenant column. Transaction control and statements naming none of
 * `tables` are skipped. Each violation names the statement's text. `explained` receives each text explained.
 */
export async function statementViolations(
  db: Kysely<unknown>,
  statements: readonly RecordedStatement[],
  tenant: string,
  tables: readonly string[],
  explained: string[] = [],
): Promise<string[]> {
  const problems: string[] = [];
  const seen = new Set<string>();
  const names = new Set(tables);
  for (const statement of statements) {
    if (seen.has(statement.sql)) continue;
    seen.add(statement.sql);
    const text = statement.sql;
    if (CONTROL.test(text)) continue;
    if (!tablePattern(tables).test(text)) continue;
    const oneLine = text.replace(/\s+/g, ' ').trim();
    problems.push(...insertProblems(text, names));
    let plan: PlanNode;
    try {
      const result = await db.executeQuery<Record<string, unknown>>(
        Compiled.raw(`explain (format json) ${text}`, [...statement.parameters]),
      );
      const json = Object.values(result.rows[0] ?? {})[0];
      const parsed = (typeof json === 'string' ? JSON.parse(json) : json) as Array<{ Plan: PlanNode }>;
      plan = parsed[0]!.Plan;
      explained.push(text);
    } catch (error) {
      problems.push(`cannot explain (${(error as Error).message}): ${oneLine}`);
      continue;
    }
    const walk = (node: PlanNode) => {
      const relation = node['Relation Name'];
      if (relation !== undefined && names.has(relation) && node['Node Type'] !== 'ModifyTable') {
        const conditions = scanConditions(node);
        const onTenant = conditions.filter((c) => /\btenant\b/.test(c));
        if (onTenant.length === 0) {
          problems.push(`${node['Node Type']} on ${relation} without a tenant condition: ${oneLine}`);
        }
        for (const c of onTenant) {
          for (const m of c.matchAll(/\btenant\s*=\s*'((?:[^']|'')*)'/g)) {
            if (m[1]!.replaceAll("''", "'") !== tenant) {
              problems.push(`${node['Node Type']} on ${relation} filters by tenant '${m[1]}': ${oneLine}`);
            }
          }
        }
      }
      for (const child of node.Plans ?? []) walk(child);
    };
    walk(plan);
  }
  return problems;
}

const NOT_ALIASES = new Set([
  'where',
  'set',
  'on',
  'join',
  'inner',
  'left',
  'cross',
  'values',
  'select',
  'default',
  'using',
  'order',
  'group',
  'limit',
  'returning',
  'union',
  'as',
  'indexed',
  'not',
]);

/** The names each of `tables` goes by in `text`: its own, and every alias given to it. */
function tableAliases(text: string, tables: ReadonlySet<string>): Map<string, string> {
  const names = new Map<string, string>();
  for (const m of text.matchAll(
    /(?<![A-Za-z0-9_])"?([A-Za-z0-9_]+)"?(?=\s+(?:as\s+)?"?([A-Za-z_][A-Za-z0-9_]*)"?|)/gi,
  )) {
    const table = m[1]!;
    if (!tables.has(table)) continue;
    names.set(table, table);
    const alias = m[2];
    if (alias !== undefined && !NOT_ALIASES.has(alias.toLowerCase())) names.set(alias, table);
  }
  return names;
}

/**
 * For SQLite: every way the recorded `statements` break the tenancy rules, read from `EXPLAIN QUERY PLAN` (with
 * each distinct text's first parameters). Every index of a Marketkit table starts with `tenant`, so a statement that
 * filters by tenant reaches each of its tables by a `SEARCH … (tenant=? …)`; a `SCAN` of one of `tables`, or a
 * `SEARCH` without `tenant=?`, reads rows of every tenant. Inserts must list the tenant column. SQLite's plans do not
 * show the value compared, so a wrong tenant is not caught here (the PostgreSQL check and the isolation test do).
 */
export async function sqliteStatementViolations(
  db: Kysely<unknown>,
  statements: readonly RecordedStatement[],
  tables: readonly string[],
  explained: string[] = [],
): Promise<string[]> {
  const problems: string[] = [];
  const names = new Set(tables);
  const seen = new Set<string>();
  for (const statement of statements) {
    const text = statement.sql;
    if (seen.has(text)) continue;
    seen.add(text);
    if (CONTROL.test(text) || /^\s*pragma\b/i.test(text) || !tablePattern(tables).test(text)) continue;
    const oneLine = text.replace(/\s+/g, ' ').trim();
    problems.push(...insertProblems(text, names));
    let details: string[];
    try {
      const result = await db.executeQuery<{ detail: string }>(
        Compiled.raw(`explain query plan ${text}`, [...statement.parameters]),
      );
      details = result.rows.map((r) => r.detail);
      explained.push(text);
    } catch (error) {
      problems.push(`cannot explain (${(error as Error).message}): ${oneLine}`);
      continue;
    }
    const aliases = tableAliases(text, names);
    for (const detail of details) {
      const m = /^(SCAN|SEARCH) ("?[A-Za-z0-9_]+"?)/.exec(detail);
      if (m === null) continue;
      const table = aliases.get(m[2]!.replaceAll('"', ''));
      if (table === undefined) continue;
      if (m[1] === 'SCAN') problems.push(`${detail} (${table}) reads every tenant's rows: ${oneLine}`);
      else if (!/\(tenant=/.test(detail)) problems.push(`${detail} (${table}) not by tenant: ${oneLine}`);
    }
  }
  return problems;
}
