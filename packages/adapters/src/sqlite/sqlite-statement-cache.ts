import type { SqliteDatabase, SqliteStatement } from 'kysely';

/**
 * Wraps a better-sqlite3 database so kysely's per-query `prepare(sql)` reuses compiled statements: Marketkit's
 * queries repeat with the same text, and preparing each time was the largest single cost of a small write.
 * Beyond `capacity` the statement cached first is dropped (first in, first out: a hit costs one lookup, where
 * keeping recency order would cost a delete and an insert on every statement; Marketkit's hot statements are a
 * fixed set well under the capacity). Statements are run synchronously and never
 * iterated concurrently on one connection, so sharing them is safe.
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
      const stmt = db.prepare(sql);
      cache.set(sql, stmt);
      if (cache.size > capacity) cache.delete(cache.keys().next().value as string);
      return stmt;
    },
  };
}
