// Raw SQL on a test database through a connection of the test's own (tables prefixed `mk_`, as Marketkit names them
// by default): how a test corrupts rows by hand, past every check Marketkit makes, to show a verifier catches it.
import { Storage } from '@marketkit/core';
import type { TestDatabase } from '@marketkit/testing';
import type { RawBuilder } from 'kysely';

/** Runs raw statements on `database` over a connection of its own; `close` it with the test. */
export function rawSql(database: TestDatabase) {
  const storage = new Storage(database.adapter());
  return {
    /** Runs one statement. */
    run: (statement: RawBuilder<unknown>) => storage.run((db) => statement.execute(db)).then(() => undefined),
    /** Runs one query and returns its rows. */
    rows: <R>(statement: RawBuilder<R>) => storage.run(async (db) => (await statement.execute(db)).rows),
    close: () => storage.destroy(),
  };
}
