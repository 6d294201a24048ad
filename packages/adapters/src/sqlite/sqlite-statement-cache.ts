import { STATEMENT_BATCH } from '@marketkit/core';
import type { SqliteDatabase, SqliteStatement } from 'kysely';

/**
 * Wraps a better-sqlite3 database so kysely's per-query `prepare(sql)` reuses compiled statements: Marketkit's
 * queries repeat with the same text, and preparing each time was the largest single cost of a small write.
 * Beyond `capacity` the statement cached first is dropped (first in, first out: a hit costs one lookup, where
 * keeping recency order would cost a delete and an insert on every statement; Marketkit's hot statements are a
 * fixed set well under the capacity). Statements are run synchronously and never
 * iterated concurrently on one connection, so sharing them is safe. Each statement also runs a batch bound for several
 * rows (`STATEMENT_BATCH`, the adapter's `capabilities.statementBatches`) once per row, in order, in the same call.
 */
export function withStatementCache(db: SqliteDatabase, capacity = 256): SqliteDatabase {
  const cache = new Map<string, SqliteStatement>();
  return {
    close: () => {
      cache.clear();
      db.close();
    },
    prepare(sql: string): SqliteStatement {
      const hit = cache.get(sql);
      if (hit !== undefined) return hit;
      const stmt = batching(db.prepare(sql));
      cache.set(sql, stmt);
      if (cache.size > capacity) cache.delete(cache.keys().next().value as string);
      return stmt;
    },
  };
}

/** Parameters bound for several rows (`StatementTemplate.bindMany`): a marked list of parameter lists. */
function isBatch(parameters: readonly unknown[]): parameters is readonly (readonly unknown[])[] {
  return (parameters as { [STATEMENT_BATCH]?: true })[STATEMENT_BATCH] === true;
}

/**
 * `stmt`, running a batch once per row: a read returns the rows of every run in order, a write the sum of their
 * changes and the last run's rowid. All runs are synchronous, so nothing else runs on the connection between them.
 */
function batching(stmt: SqliteStatement): SqliteStatement {
  return {
    reader: stmt.reader,
    all(parameters) {
      if (!isBatch(parameters)) return stmt.all(parameters);
      const rows: unknown[] = [];
      for (const run of parameters) for (const row of stmt.all(run)) rows.push(row);
      return rows;
    },
    run(parameters) {
      if (!isBatch(parameters)) return stmt.run(parameters);
      let changes = 0;
      let lastInsertRowid: number | bigint = 0;
      for (const run of parameters) {
        const r = stmt.run(run);
        changes += Number(r.changes);
        lastInsertRowid = r.lastInsertRowid;
      }
      return { changes, lastInsertRowid };
    },
    iterate: (parameters) => stmt.iterate(parameters),
  };
}
