import { type Kysely, sql } from 'kysely';
import type { MarketkitMigration, MigrationContext } from '../migration-context.js';

/**
 * The tables as they were before this migration. Written out rather than imported: a released migration never
 * changes meaning; a table added later is created with its tenant column by its own migration.
 */
const TABLES = [
  'accounts',
  'transfers',
  'pending_transfers',
  'outbox_events',
  'outbox_aggregates',
  'outbox_partitions',
  'leases',
  'jobs',
  'saga_instances',
  'saga_steps',
  'idempotency_keys',
  'listings',
  'stock_reservations',
  'orders',
  'order_events',
  'payouts',
  'webhook_endpoints',
  'webhook_deliveries',
  'provider_events',
  'payout_destinations',
] as const;

/**
 * Tenants as the partition key (Citus's rules for multi-tenant tables): every table gets a `tenant` column (`''`
 * for the rows of a database that served one marketplace, so it migrates in place), and its primary key, unique
 * constraints and indexes get `tenant` as their first column. Each index keeps its name, its other columns and its
 * predicate. PostgreSQL changes the constraints in place; SQLite, which cannot change a primary key, rebuilds each
 * table (rows copied with their `rowid`, which the SQLite order feed reads as its position).
 */
export const tenantsMigration: MarketkitMigration = {
  name: '0015-tenants',
  async up(db, ctx) {
    // Only the tables that exist: a host (or a test) may have run a subset of the migrations before this one.
    for (const table of TABLES) {
      if (!(await tableExists(db, ctx, `${ctx.prefix}${table}`))) continue;
      if (ctx.capabilities.schemas) await tenantPostgres(db, ctx, table);
      else await tenantSqlite(db, `${ctx.prefix}${table}`);
    }
  },
};

/** Whether the physical table `physical` exists (a host may have run only some migrations). @internal */
export async function tableExists(db: Kysely<unknown>, ctx: MigrationContext, physical: string): Promise<boolean> {
  const found = ctx.capabilities.schemas
    ? sql<{ found: unknown }>`select 1 as found where to_regclass(quote_ident(${
        ctx.schema === undefined ? sql`current_schema()` : sql.lit(ctx.schema)
      }) || '.' || quote_ident(${physical})) is not null`
    : sql<{ found: unknown }>`select 1 as found from sqlite_master where type = 'table' and name = ${physical}`;
  return (await found.execute(db)).rows.length > 0;
}

/** `(a, b)` → `(tenant, a, b)` at the first column list after `marker` (`PRIMARY KEY`, `USING btree`, `on "t"`). */
function withTenantFirst(definition: string, marker: RegExp): string {
  const match = marker.exec(definition);
  if (match === null) throw new Error(`0015-tenants: cannot place the tenant column in: ${definition}`);
  const at = match.index + match[0].length;
  return `${definition.slice(0, at)}"tenant", ${definition.slice(at)}`;
}

async function tenantPostgres(db: Kysely<unknown>, ctx: MigrationContext, table: string): Promise<void> {
  const physical = `${ctx.prefix}${table}`;
  await db.schema
    .alterTable(table)
    .addColumn('tenant', 'text', (c) => c.notNull().defaultTo(''))
    .execute();
  const schema = ctx.schema === undefined ? sql`current_schema()` : sql.lit(ctx.schema);
  const relation = sql`to_regclass(quote_ident(${schema}) || '.' || quote_ident(${sql.lit(physical)}))`;
  const constraints = await sql<{ name: string; definition: string }>`
    select conname as name, pg_get_constraintdef(oid) as definition from pg_constraint
    where conrelid = ${relation} and contype in ('p', 'u') order by conname`.execute(db);
  const indexes = await sql<{ name: string; definition: string }>`
    select i.relname as name, pg_get_indexdef(i.oid) as definition
    from pg_index x join pg_class i on i.oid = x.indexrelid
    where x.indrelid = ${relation} and not exists (select 1 from pg_constraint c where c.conindid = x.indexrelid)
    order by i.relname`.execute(db);
  if (constraints.rows.length > 0) {
    const changes = constraints.rows.flatMap((c) => [
      sql`drop constraint ${sql.id(c.name)}`,
      sql`add constraint ${sql.id(c.name)} ${sql.raw(withTenantFirst(c.definition, /(PRIMARY KEY|UNIQUE) \(/))}`,
    ]);
    await sql`alter table ${sql.table(table)} ${sql.join(changes)}`.execute(db);
  }
  for (const index of indexes.rows) {
    await sql`drop index ${ctx.schema === undefined ? sql.id(index.name) : sql.id(ctx.schema, index.name)}`.execute(db);
    await sql.raw(withTenantFirst(index.definition, /USING \w+ \(/)).execute(db);
  }
}

interface SqliteColumn {
  name: string;
  type: string;
  /** Numbers or bigints, as the connection reads integers. */
  notnull: number | bigint;
  dflt_value: string | null;
  pk: number | bigint;
}

async function tenantSqlite(db: Kysely<unknown>, physical: string): Promise<void> {
  const q = (name: string) => `"${name.replaceAll('"', '""')}"`;
  const columns = (await sql<SqliteColumn>`select * from pragma_table_info(${physical})`.execute(db)).rows;
  const uniques = (
    await sql<{ name: string; origin: string }>`select name, origin from pragma_index_list(${physical})
      where origin = 'u' order by name`.execute(db)
  ).rows;
  const uniqueColumns: string[][] = [];
  for (const u of uniques) {
    const cols = await sql<{ name: string }>`select name from pragma_index_info(${u.name}) order by seqno`.execute(db);
    uniqueColumns.push(cols.rows.map((c) => c.name));
  }
  const indexes = (
    await sql<{ sql: string }>`select sql from sqlite_master
      where type = 'index' and tbl_name = ${physical} and sql is not null order by name`.execute(db)
  ).rows;
  const pk = columns.filter((c) => Number(c.pk) > 0).sort((a, b) => Number(a.pk) - Number(b.pk));
  const definitions = [
    `"tenant" text not null default ''`,
    ...columns.map(
      (c) =>
        `${q(c.name)} ${c.type}${Number(c.notnull) ? ' not null' : ''}${c.dflt_value === null ? '' : ` default ${c.dflt_value}`}`,
    ),
    `primary key ("tenant", ${pk.map((c) => q(c.name)).join(', ')})`,
    ...uniqueColumns.map((cols) => `unique ("tenant", ${cols.map(q).join(', ')})`),
  ];
  const rebuilt = `${physical}__tenant`;
  const names = columns.map((c) => q(c.name)).join(', ');
  await sql.raw(`create table ${q(rebuilt)} (${definitions.join(', ')})`).execute(db);
  await sql.raw(`insert into ${q(rebuilt)} (rowid, ${names}) select rowid, ${names} from ${q(physical)}`).execute(db);
  await sql.raw(`drop table ${q(physical)}`).execute(db);
  await sql.raw(`alter table ${q(rebuilt)} rename to ${q(physical)}`).execute(db);
  for (const index of indexes) {
    await sql.raw(withTenantFirst(index.sql, /\bon\s+("[^"]+"|\w+)\s*\(/i)).execute(db);
  }
}
