/**
 * `Storage.runRelaxed`: one write whose commit does not wait for the disk where the adapter can allow it safely
 * (SQLite in WAL mode with `synchronous = FULL`), a plain autocommit everywhere else. Either way the write
 * commits, driver errors come back classified, and the connection syncs its commits as configured afterwards.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sqliteAdapter } from '@marketkit/adapters/sqlite';
import { type TestDatabase, testBackends } from '@marketkit/testing';
import { CompiledQuery, sql } from 'kysely';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { migrate } from '../../src/schema/migrate.js';
import type { StatementRunner } from '../../src/storage/statement-template.js';
import { Storage } from '../../src/storage/storage.js';

/** SQLite's `synchronous` on the connection: 1 NORMAL, 2 FULL. */
const SYNCHRONOUS = CompiledQuery.raw('pragma synchronous') as CompiledQuery<{ synchronous: bigint }>;
const level = async (conn: StatementRunner) => Number((await conn.executeQuery(SYNCHRONOUS)).rows[0]!.synchronous);

/** A template inserting one outbox counter row (any table with a primary key would do). */
const counterInsert = (storage: Storage) =>
  storage.templates.compile((db, p) =>
    db
      .insertInto('outbox_aggregates')
      .values({ aggregate_type: sql.lit('test'), aggregate_id: p('id'), last_seq: sql.lit(1), last_key: sql.lit(1) }),
  );
const counterExists = async (storage: Storage, id: string) =>
  (await storage.db.selectFrom('outbox_aggregates').select('aggregate_id').where('aggregate_id', '=', id).execute())
    .length === 1;

describe('relaxed commits on a SQLite file with synchronous = FULL', () => {
  let dir: string;
  let storage: Storage;
  const file = () => join(dir, 'relaxed.db');

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'marketkit-relaxed-'));
    storage = new Storage(sqliteAdapter({ filename: file() }));
    await migrate(storage);
  });
  afterAll(async () => {
    await storage?.destroy();
    rmSync(dir, { recursive: true, force: true });
  });

  it('commits the write without syncing, then syncs every commit again; the write outlives the connection', async () => {
    expect(storage.adapter.relaxedCommit).toEqual({
      relax: 'pragma synchronous = NORMAL',
      restore: 'pragma synchronous = FULL',
    });
    const insert = counterInsert(storage);
    const inside = await storage.runRelaxed(async (conn) => {
      const during = await level(conn);
      const result = await conn.executeQuery(insert.bind({ id: 'relaxed-1' }));
      expect(result.numAffectedRows).toBe(1n);
      return during;
    });
    expect(inside).toBe(1);
    expect(await storage.run((db) => level(db))).toBe(2);
    await storage.destroy();
    storage = new Storage(sqliteAdapter({ filename: file() }));
    expect(await counterExists(storage, 'relaxed-1')).toBe(true);
  });

  it('restores FULL after a failing write, which comes back as a coded error and changed nothing', async () => {
    const insert = counterInsert(storage);
    await storage.runRelaxed((conn) => conn.executeQuery(insert.bind({ id: 'relaxed-2' })));
    await expect(
      storage.runRelaxed((conn) => conn.executeQuery(insert.bind({ id: 'relaxed-2' }))),
    ).rejects.toMatchObject({ code: 'UNIQUE_VIOLATION' });
    await expect(
      storage.runRelaxed(async () => {
        throw new Error('the host’s own failure');
      }),
    ).rejects.toThrow('the host’s own failure');
    expect(await storage.run((db) => level(db))).toBe(2);
    const rows = await storage.db.selectFrom('outbox_aggregates').select('aggregate_id').execute();
    expect(rows.filter((r) => r.aggregate_id === 'relaxed-2')).toHaveLength(1);
  });
});

describe('SQLite with nothing to relax', () => {
  const dirs: string[] = [];
  const storages: Storage[] = [];
  afterEach(async () => {
    for (const s of storages.splice(0)) await s.destroy();
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  });
  const open = async (config: Parameters<typeof sqliteAdapter>[0]) => {
    const storage = new Storage(sqliteAdapter(config));
    storages.push(storage);
    await migrate(storage);
    return storage;
  };

  it.each([
    ['synchronous = NORMAL (no commit waits for the disk)', 'NORMAL' as const, 1],
    ['an in-memory database (no disk at all)', undefined, 2],
  ])('%s: the write runs as a plain autocommit and commits', async (_title, synchronous, configured) => {
    const dir = mkdtempSync(join(tmpdir(), 'marketkit-relaxed-'));
    dirs.push(dir);
    const storage = await open(
      synchronous === undefined ? { filename: ':memory:' } : { filename: join(dir, 'normal.db'), synchronous },
    );
    expect(storage.adapter.relaxedCommit).toBeUndefined();
    const insert = counterInsert(storage);
    const inside = await storage.runRelaxed(async (conn) => {
      await conn.executeQuery(insert.bind({ id: 'plain' }));
      return level(conn);
    });
    expect(inside).toBe(configured);
    expect(await storage.run((db) => level(db))).toBe(configured);
    expect(await counterExists(storage, 'plain')).toBe(true);
  });

  it('an adapter that has not opened its file yet relaxes nothing', () => {
    expect(sqliteAdapter({ filename: ':memory:' }).relaxedCommit).toBeUndefined();
  });
});

for (const backend of testBackends()) {
  describe(`runRelaxed on the ${backend.name} test backend`, () => {
    let database: TestDatabase;
    let storage: Storage;

    beforeAll(async () => {
      database = await backend.createDatabase();
      storage = new Storage(database.adapter(), { tablePrefix: 'rlx_' });
      await migrate(storage);
    });
    afterAll(async () => {
      await storage?.destroy();
      await database?.drop();
    });

    it('commits the write, visible to the next statement, and classifies a driver error', async () => {
      // SQLite runs tests with synchronous = NORMAL, so it relaxes nothing; PostgreSQL relaxes inside the write.
      expect(storage.relaxedCondition).toBe(backend.name === 'postgres' ? PG_RELAXED : undefined);
      const insert = counterInsert(storage);
      await storage.runRelaxed((conn) => conn.executeQuery(insert.bind({ id: 'backend-1' })));
      expect(await counterExists(storage, 'backend-1')).toBe(true);
      await expect(
        storage.runRelaxed((conn) => conn.executeQuery(insert.bind({ id: 'backend-1' }))),
      ).rejects.toMatchObject({ code: 'UNIQUE_VIOLATION' });
    });

    // Only PostgreSQL relaxes from inside the write.
    if (backend.name === 'postgres') {
      it('PostgreSQL: a write carrying the condition commits with synchronous_commit off, and only that write', async () => {
        const condition = storage.relaxedCondition!;
        const bump = storage.templates.compile((db, p) =>
          db
            .updateTable('outbox_aggregates')
            .set({ last_seq: sql`last_seq + 1` })
            .where('aggregate_id', '=', p('id'))
            .where(sql.raw<boolean>(condition))
            .returning(sql<string>`current_setting('synchronous_commit')`.as('during')),
        );
        const setting = CompiledQuery.raw(`select current_setting('synchronous_commit') as now`) as CompiledQuery<{
          now: string;
        }>;
        const [during, after] = await storage.runRelaxed(async (conn) => {
          const result = await conn.executeQuery(bump.bind({ id: 'backend-1' }) as CompiledQuery<{ during: string }>);
          return [result.rows[0]?.during, (await conn.executeQuery(setting)).rows[0]?.now];
        });
        expect(during).toBe('off');
        expect(after).not.toBe('off');
        const row = await storage.db
          .selectFrom('outbox_aggregates')
          .select('last_seq')
          .where('aggregate_id', '=', 'backend-1')
          .executeTakeFirstOrThrow();
        expect(Number(row.last_seq)).toBe(2);
      });
    }
  });
}

/** The condition the PostgreSQL adapter relaxes a write's commit with. */
const PG_RELAXED = "set_config('synchronous_commit', 'off', true) = 'off'";
