import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createFreshDatabase,
  postgresUrlFromEnv,
  requirePostgresUrl,
  startThrowawayPostgres,
  type ThrowawayPostgres,
} from '../../src/postgres/index.js';

async function query<Row extends pg.QueryResultRow>(url: string, sql: string): Promise<Row[]> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query<Row>(sql)).rows;
  } finally {
    await client.end();
  }
}

async function tableExists(url: string, table: string): Promise<boolean> {
  const rows = await query<{ found: boolean }>(url, `select to_regclass('public.${table}') is not null as found`);
  return rows[0]?.found === true;
}

describe('startThrowawayPostgres', () => {
  let server: ThrowawayPostgres;

  beforeAll(async () => {
    server = await startThrowawayPostgres();
  });

  afterAll(async () => {
    await server?.stop();
  });

  it('serves isolated fresh databases', async () => {
    const [first, second] = await Promise.all([createFreshDatabase(server.url), createFreshDatabase(server.url)]);
    expect(first.name).toMatch(/^mk_t_[a-z0-9]{12}$/);
    expect(second.name).not.toBe(first.name);
    expect(new URL(first.url).pathname).toBe(`/${first.name}`);
    expect(new URL(first.url).port).toBe(new URL(server.url).port);

    await query(first.url, 'create table ledger_entry (id int primary key, amount_minor bigint not null)');
    await query(first.url, 'insert into ledger_entry values (1, 1250)');
    expect(await tableExists(first.url, 'ledger_entry')).toBe(true);
    expect(await tableExists(second.url, 'ledger_entry')).toBe(false);

    const [encoding] = await query<{ server_encoding: string }>(first.url, 'show server_encoding');
    expect(encoding?.server_encoding).toBe('UTF8');

    await Promise.all([first.drop(), second.drop()]);
    const names = await query<{ datname: string }>(server.url, 'select datname from pg_database');
    expect(names.map((row) => row.datname)).not.toContain(first.name);
    expect(names.map((row) => row.datname)).not.toContain(second.name);
  });

  it('stop() is idempotent and removes the server', async () => {
    const other = await startThrowawayPostgres();
    expect(await query<{ one: number }>(other.url, 'select 1 as one')).toEqual([{ one: 1 }]);
    await Promise.all([other.stop(), other.stop()]);
    await expect(query(other.url, 'select 1')).rejects.toThrow();
  });
});

describe('createFreshDatabase against MARKETKIT_PG_URL', () => {
  it('sees the URL set by the global setup', () => {
    expect(postgresUrlFromEnv()).toBeDefined();
  });

  it('creates, isolates and drops databases, keeping query parameters', async () => {
    const base = new URL(requirePostgresUrl());
    base.searchParams.set('application_name', 'marketkit_fresh_db_test');
    const databases = await Promise.all(
      Array.from({ length: 6 }, () => createFreshDatabase(base.toString(), { prefix: 'mk_fresh_' })),
    );
    try {
      expect(new Set(databases.map((db) => db.name)).size).toBe(6);
      for (const db of databases) {
        const url = new URL(db.url);
        expect(db.name).toMatch(/^mk_fresh_[a-z0-9]{12}$/);
        expect(url.pathname).toBe(`/${db.name}`);
        expect(url.host).toBe(base.host);
        expect(url.username).toBe(base.username);
        expect(url.searchParams.get('application_name')).toBe('marketkit_fresh_db_test');
      }
      const [first, second] = databases;
      await query(first!.url, 'create table only_here (id int)');
      expect(await tableExists(first!.url, 'only_here')).toBe(true);
      expect(await tableExists(second!.url, 'only_here')).toBe(false);
      const [current] = await query<{ db: string }>(first!.url, 'select current_database() as db');
      expect(current?.db).toBe(first!.name);
    } finally {
      await Promise.all(databases.map((db) => db.drop()));
    }
    const names = await query<{ datname: string }>(base.toString(), 'select datname from pg_database');
    for (const db of databases) expect(names.map((row) => row.datname)).not.toContain(db.name);
  });

  it('rejects unsafe prefixes', async () => {
    await expect(createFreshDatabase(requirePostgresUrl(), { prefix: 'Bad"name' })).rejects.toThrow(/invalid prefix/);
  });
});
