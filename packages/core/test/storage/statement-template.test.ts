import { systemClock } from '@marketkit/core';
import { type TestDatabase, testBackends } from '@marketkit/testing';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { defineSaga, SagaRegistry, Sagas } from '../../src/sagas/index.js';
import { migrate } from '../../src/schema/migrate.js';
import { Storage } from '../../src/storage/storage.js';

/** A template inserting an aggregate counter row from `type`, `id` and `seq` (as both its seq and key). */
function counterInsert(storage: Storage) {
  return storage.templates.compile((db, p) =>
    db.insertInto('outbox_aggregates').values({
      aggregate_type: p('type'),
      aggregate_id: p('id'),
      last_seq: p('seq'),
      last_key: p('seq'),
    }),
  );
}
for (const backend of testBackends()) {
  describe(`statement templates on ${backend.name}`, () => {
    let database: TestDatabase;
    let storage: Storage;
    let schema: string | undefined;
    /** The physical name of a table under this storage's prefix and schema. */
    const physical = (table: string) => sql.raw(`${schema === undefined ? '' : `"${schema}".`}"tpl_${table}"`);

    beforeAll(async () => {
      database = await backend.createDatabase();
      const adapter = database.adapter();
      schema = adapter.capabilities.schemas ? 'tpl_s' : undefined;
      storage = new Storage(adapter, { tablePrefix: 'tpl_', ...(schema === undefined ? {} : { schema }) });
      await migrate(storage);
    });
    afterAll(async () => {
      await storage?.destroy();
      await database?.drop();
    });

    it('compiles once under the prefix and schema, then binds new values each time', async () => {
      const insert = counterInsert(storage);
      expect(insert.sql).toContain('tpl_outbox_aggregates');
      if (schema !== undefined) expect(insert.sql).toContain(`"${schema}"`);
      // The tenant is a parameter too, bound from the storage (the empty tenant here) without the caller naming it.
      // Where placeholders are numbered (PostgreSQL's `$n`) a name used twice is one placeholder, bound and sent once;
      // with `?` placeholders (SQLite) each use is its own.
      const numbered = insert.sql.includes('$1');
      expect(insert.parameterNames).toEqual(
        numbered ? ['type', 'id', 'seq', 'tenant'] : ['type', 'id', 'seq', 'seq', 'tenant'],
      );
      if (numbered) expect(insert.sql.match(/\$3(?!\d)/g)).toHaveLength(2);
      for (let i = 1; i <= 3; i++) {
        const result = await storage.db.executeQuery(insert.bind({ type: 'order', id: `o${i}`, seq: i * 10 }));
        expect(result.numAffectedRows).toBe(1n);
      }
      const rows = await sql<{ aggregate_id: string; last_seq: unknown }>`
        select aggregate_id, last_seq from ${physical('outbox_aggregates')} order by aggregate_id`.execute(storage.db);
      expect(rows.rows.map((r) => [r.aggregate_id, Number(r.last_seq)])).toEqual([
        ['o1', 10],
        ['o2', 20],
        ['o3', 30],
      ]);
    });

    it('keeps one placeholder per use when the text holds something that looks like a placeholder', async () => {
      // The literal '$1' makes the text's numbers differ from Kysely's own: nothing is renumbered, both uses bound.
      const odd = storage.templates.compile((db, p) => {
        const statement = sql`select ${p('a')} as x, '$1' as y, ${p('a')} as z`;
        return { compile: () => statement.compile(db) };
      });
      expect(odd.parameterNames).toEqual(['a', 'a']);
      const result = await storage.db.executeQuery<{ x: string; y: string; z: string }>(odd.bind({ a: 'v' }));
      expect(result.rows).toEqual([{ x: 'v', y: '$1', z: 'v' }]);
    });

    it('runs a statement bound for several rows once per row in one query, where the adapter batches', async (ctx) => {
      if (storage.adapter.capabilities.statementBatches !== true) return ctx.skip();
      const insert = counterInsert(storage);
      const read = storage.templates.compile((db, p) =>
        db.selectFrom('outbox_aggregates').select(['aggregate_id', 'last_seq']).where('aggregate_id', '=', p('id')),
      );
      const rows = [3, 1, 2].map((i) => ({ type: 'batch', id: `b${i}`, seq: i * 7 }));
      const written = await storage.db.executeQuery(insert.bindMany(rows));
      expect(written.numAffectedRows).toBe(3n);
      // A read returns every run's rows, in the order of the runs; a run that finds nothing adds nothing.
      const found = await storage.db.executeQuery<{ aggregate_id: string; last_seq: unknown }>(
        read.bindMany(['b2', 'missing', 'b3', 'b1'].map((id) => ({ id }))),
      );
      expect(found.rows.map((r) => [r.aggregate_id, Number(r.last_seq)])).toEqual([
        ['b2', 14],
        ['b3', 21],
        ['b1', 7],
      ]);
      // A run that fails fails the query, and in a transaction nothing of the batch stays.
      const clash = [
        { type: 'batch', id: 'b4', seq: 1 },
        { type: 'batch', id: 'b1', seq: 1 },
      ];
      await expect(storage.transaction((trx) => trx.executeQuery(insert.bindMany(clash)))).rejects.toMatchObject({
        code: 'UNIQUE_VIOLATION',
      });
      const after = await storage.db.executeQuery(read.bindMany([{ id: 'b4' }]));
      expect(after.rows).toEqual([]);
    });

    it('hands each template’s text to the adapter’s prepare once, as compiled', () => {
      const seen: string[] = [];
      const recording = new Storage(
        { ...database.adapter(), prepare: (text: string) => seen.push(text) },
        { tablePrefix: 'tpl_', ...(schema === undefined ? {} : { schema }) },
      );
      const build = (key: string) =>
        recording.templates.get(key, (db, p) =>
          db
            .updateTable('outbox_aggregates')
            .set({ last_seq: p('seq') })
            .where('aggregate_id', '=', p('id')),
        );
      const first = build('a');
      expect(build('a')).toBe(first);
      build('b');
      expect(seen).toEqual([first.sql, first.sql]);
      expect(first.sql).toContain('tpl_outbox_aggregates');
    });

    it('refuses a value written into the template and a missing value at bind time', () => {
      expect(() =>
        storage.templates.compile((db, p) =>
          db.updateTable('outbox_aggregates').set({ last_seq: 5 }).where('aggregate_id', '=', p('id')),
        ),
      ).toThrow(/parameter \$1 is a literal value/);
      const t = storage.templates.compile((db, p) =>
        db
          .updateTable('outbox_aggregates')
          .set({ last_seq: p('seq') })
          .where('aggregate_id', '=', p('id')),
      );
      expect(() => t.bind({ id: 'o1' })).toThrow(/no value for seq/);
      // null is a value
      expect(t.bind({ id: 'o1', seq: null }).parameters).toEqual([null, 'o1', '']);
    });

    it('runs a template transaction’s statements on one connection: all committed, or none when one fails', async () => {
      const insert = storage.templates.get('test:aggregate', (db, p) =>
        db.insertInto('outbox_aggregates').values({
          aggregate_type: p('type'),
          aggregate_id: p('id'),
          last_seq: p('seq'),
          last_key: p('seq'),
        }),
      );
      const ids = async () =>
        (
          await sql<{ aggregate_id: string }>`
            select aggregate_id from ${physical('outbox_aggregates')} where aggregate_type = 'tx' order by 1`.execute(
            storage.db,
          )
        ).rows.map((r) => r.aggregate_id);
      const row = (id: string) => insert.bind({ type: 'tx', id, seq: 1 });
      const done = await storage.templateTransaction(async (conn) => {
        await conn.executeQuery(row('t1'));
        await conn.executeQuery(row('t2'));
        return 'done';
      });
      expect(done).toBe('done');
      expect(await ids()).toEqual(['t1', 't2']);
      // A statement that fails: classified as the storage layer classifies it, and the one before it rolled back.
      await expect(
        storage.templateTransaction(async (conn) => {
          await conn.executeQuery(row('t3'));
          await conn.executeQuery(row('t1'));
        }),
      ).rejects.toMatchObject({ code: 'UNIQUE_VIOLATION' });
      // The work's own error, as thrown, and the same.
      const mine = new Error('changed my mind');
      await expect(
        storage.templateTransaction(async (conn) => {
          await conn.executeQuery(row('t4'));
          throw mine;
        }),
      ).rejects.toBe(mine);
      expect(await ids()).toEqual(['t1', 't2']);
      // Its connection is its own: a transaction open meanwhile (here one that then rolls back) takes nothing of it.
      let opened!: () => void;
      const isOpen = new Promise<void>((resolve) => {
        opened = resolve;
      });
      const other = storage.db.transaction().execute(async (trx) => {
        await trx.executeQuery(row('t5'));
        opened();
        await new Promise((resolve) => setTimeout(resolve, 50));
        throw mine;
      });
      await isOpen;
      const templated = storage.templateTransaction((conn) => conn.executeQuery(row('t6')));
      await expect(other).rejects.toBe(mine);
      await templated;
      expect(await ids()).toEqual(['t1', 't2', 't6']);
    });

    it('rolls a template transaction back when its commit fails, leaving the connection free', async () => {
      // A deferred foreign key is checked at commit: the commit fails, and on SQLite the transaction stays open.
      const [parent, child] = [physical('fk_parent'), physical('fk_child')];
      await sql`create table ${parent} (id text primary key)`.execute(storage.db);
      await sql`create table ${child} (id text primary key,
        parent text references ${parent} (id) deferrable initially deferred)`.execute(storage.db);
      const insertChild = (id: string, parentId: string) =>
        sql`insert into ${child} (id, parent) values (${id}, ${parentId})`.compile(storage.db);
      await expect(
        storage.templateTransaction(async (conn) => {
          await conn.executeQuery(insertChild('orphan', 'missing'));
        }),
      ).rejects.toMatchObject({ code: 'STORAGE_ERROR' });
      // Nothing left open: the next transaction begins, and only its rows are there.
      await storage.templateTransaction(async (conn) => {
        await conn.executeQuery(sql`insert into ${parent} (id) values ('p')`.compile(storage.db));
        await conn.executeQuery(insertChild('c', 'p'));
      });
      const rows = await sql<{ id: string }>`select id from ${child} order by id`.execute(storage.db);
      expect(rows.rows.map((r) => r.id)).toEqual(['c']);
    });

    it('runs the saga engine’s templated writes against the prefixed tables', async () => {
      const saga = defineSaga('tpl', {
        input: z.object({ n: z.number() }),
        steps: [
          { name: 'one', kind: 'local', run: async () => 1 },
          { name: 'two', kind: 'local', run: async () => 2 },
        ],
      });
      const sagas = new Sagas(storage, new SagaRegistry([saga]), systemClock);
      expect(await sagas.run('tpl', { n: 1 }, { id: 'tpl-1' })).toBe('completed');
      const steps = await sql<{ step_name: string }>`
        select step_name from ${physical('saga_steps')} where saga_id = ${'tpl-1'} order by id`.execute(storage.db);
      expect(steps.rows.map((r) => r.step_name)).toEqual(['one', 'two']);
      expect((await sagas.get('tpl-1'))?.outputs).toEqual({ one: 1, two: 2 });
    });
  });
}
