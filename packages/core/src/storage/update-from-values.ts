import { type Kysely, type RawBuilder, sql } from 'kysely';
import { TENANT } from './tenant-plugin.js';

/** A column set by {@link updateFromValues}: its name and whether its values are 64-bit integers. */
export interface ValuesColumn {
  readonly name: string;
  readonly int64?: boolean;
}

/** Most bound parameters per statement, under both SQLite's (32766) and PostgreSQL's (65535) limits. */
const MAX_PARAMS = 30_000;

/**
 * Updates many rows with different values in one statement per chunk:
 * `WITH v(key, c1, …) AS (VALUES …) UPDATE t SET c1 = v.c1, … FROM v WHERE t.key = v.key`.
 * Works on PostgreSQL and SQLite ≥ 3.33. `extraSet` adds assignments such as `version = version + 1`.
 */
export async function updateFromValues(
  db: Kysely<unknown>,
  table: string,
  key: string,
  columns: readonly ValuesColumn[],
  rows: readonly (readonly unknown[])[],
  extraSet: readonly RawBuilder<unknown>[] = [],
): Promise<void> {
  const perChunk = Math.max(1, Math.floor(MAX_PARAMS / (columns.length + 1)));
  for (let start = 0; start < rows.length; start += perChunk) {
    const chunk = rows.slice(start, start + perChunk);
    const tuples = chunk.map(
      (row) =>
        sql`(${sql.join(row.map((v, i) => (i > 0 && columns[i - 1]?.int64 ? sql`cast(${v} as bigint)` : sql`${v}`)))})`,
    );
    const names = [key, ...columns.map((c) => c.name)].map((n) => sql.id(n));
    const sets = [...columns.map((c) => sql`${sql.id(c.name)} = v.${sql.id(c.name)}`), ...extraSet];
    await sql`with v(${sql.join(names)}) as (values ${sql.join(tuples)})
      update ${sql.table(table)} set ${sql.join(sets)} from v
      where ${sql.ref(`${table}.tenant`)} = ${TENANT} and ${sql.ref(`${table}.${key}`)} = v.${sql.id(key)}`.execute(db);
  }
}
