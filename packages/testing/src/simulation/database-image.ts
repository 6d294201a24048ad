import type Database from 'better-sqlite3';

interface TableImage {
  readonly clear: Database.Statement;
  readonly insert: Database.Statement;
  readonly rows: readonly unknown[][];
}

/**
 * The rows of every table of a migrated database, taken once and written back before each run: resetting the one
 * connection in place keeps its parsed schema and prepared statements, which a fresh database per run would
 * rebuild. The migration tables are left as they are.
 * @internal
 */
export class DatabaseImage {
  readonly #tables: readonly TableImage[];
  readonly #restore: () => void;

  constructor(
    readonly db: Database.Database,
    prefix: string,
  ) {
    const names = (
      db
        .prepare(`select name from sqlite_master where type = 'table' and name not like 'sqlite_%' order by name`)
        .all() as { name: string }[]
    )
      .map((r) => r.name)
      .filter((n) => n !== `${prefix}migrations` && n !== `${prefix}migrations_lock`);
    const hasSequence = db.prepare(`select 1 from sqlite_master where name = 'sqlite_sequence'`).get() !== undefined;
    if (hasSequence) names.push('sqlite_sequence');
    this.#tables = names.map((table) => {
      const stmt = db.prepare(`select * from "${table}"`).raw(true);
      const rows = stmt.all() as unknown[][];
      const columns = stmt.columns().map((c) => `"${c.name}"`);
      const insert = db.prepare(
        `insert into "${table}" (${columns.join(', ')}) values (${columns.map(() => '?').join(', ')})`,
      );
      return { clear: db.prepare(`delete from "${table}"`), insert, rows };
    });
    this.#restore = db.transaction(() => {
      for (const t of this.#tables) t.clear.run();
      for (const t of this.#tables) for (const row of t.rows) t.insert.run(...row);
    });
  }

  /** Puts every table back as it was when the image was taken. */
  restore(): void {
    const { db } = this;
    db.pragma('foreign_keys = OFF');
    try {
      this.#restore();
    } finally {
      db.pragma('foreign_keys = ON');
    }
  }
}
