/**
 * Read replicas on a real hot standby (`scripts/pg/replica.sh start`; `.ci/run` starts it and sets
 * MARKETKIT_PG_REPLICA_URL). Proves where reads go by what they return while the standby's replay is paused
 * (`pg_wal_replay_pause()`): old data can only come from the standby, new data only from the primary.
 */
import { postgresAdapter } from '@marketkit/adapters/postgres';
import { createMarketplace, type Marketplace, Money } from '@marketkit/core';
import {
  createFreshDatabase,
  type FreshDatabase,
  requirePostgresUrl,
  SandboxPaymentProvider,
} from '@marketkit/testing';
import { Kysely, sql } from 'kysely';
import pg from 'pg';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { PrimaryPosition, parseLsn } from '../../src/postgres/wal-position.js';

const REPLICA_URL_ENV = 'MARKETKIT_PG_REPLICA_URL';
const replicaBase = process.env[REPLICA_URL_ENV];

/** `base` with its database replaced by `name` (a standby holds every database of its primary). */
function onDatabase(base: string, name: string): string {
  const url = new URL(base);
  url.pathname = `/${name}`;
  return url.toString();
}

async function query<R>(url: string, text: string, values: unknown[] = []): Promise<R[]> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query(text, values)).rows as R[];
  } finally {
    await client.end();
  }
}

describe('postgres adapter: read replica options', () => {
  it('refuses replicaReads without replicas, and unknown or out-of-range replica options (VALIDATION_FAILED)', () => {
    const connectionString = 'postgres://root@127.0.0.1:5432/x';
    const bad: unknown[] = [
      { connectionString, replicaReads: { maxLagMs: 1000 } },
      { connectionString, replicas: [{}] },
      { connectionString, replicas: [{ connectionString, pool: { connect: () => {} } }] },
      { connectionString, replicas: [{ connectionString: 'http://x' }] },
      { connectionString, replicas: [{ connectionString, port: 5433 }] },
      { connectionString, replicas: [{ connectionString }], replicaReads: { readYourWrites: 'always' } },
      { connectionString, replicas: [{ connectionString }], replicaReads: { maxLagMs: 0 } },
      { connectionString, replicas: [{ connectionString }], replicaReads: { waitTimeoutMs: 60_001 } },
      { connectionString, replicas: Array.from({ length: 17 }, () => ({ connectionString })) },
    ];
    for (const config of bad) {
      expect(() => postgresAdapter(config as never), JSON.stringify(config)).toThrow(
        expect.objectContaining({ code: 'VALIDATION_FAILED' }),
      );
    }
    const ok = postgresAdapter({
      connectionString,
      replicas: [{ connectionString, max: 2, connectionTimeoutMs: 500 }],
      replicaReads: { maxLagMs: 1, readYourWrites: 'off', waitTimeoutMs: 0, retryDownAfterMs: 0 },
    });
    expect(ok.replicaReads).toBeDefined();
    expect(postgresAdapter({ connectionString }).replicaReads).toBeUndefined();
  });
});

describe('postgres read replicas: the primary position', () => {
  it('parses pg_lsn text into ordered bigints', () => {
    expect(parseLsn('0/0')).toBe(0n);
    expect(parseLsn('16/B374D848')).toBe((0x16n << 32n) | 0xb374d848n);
    expect((parseLsn('1/0') ?? 0n) > (parseLsn('0/FFFFFFFF') ?? 0n)).toBe(true);
    expect(parseLsn(null)).toBeUndefined();
  });

  it('answers concurrent callers with at most two queries, each read after the call', async () => {
    const pool = new pg.Pool({ connectionString: requirePostgresUrl(), max: 2 });
    let queries = 0;
    pool.on('connect', (client) => {
      const q = client.query.bind(client) as (...args: unknown[]) => unknown;
      client.query = ((...args: unknown[]) => {
        queries++;
        return q(...args);
      }) as typeof client.query;
    });
    try {
      const position = new PrimaryPosition(async () => pool as never, 60_000);
      const first = await position.next();
      queries = 0;
      const [{ lsn } = { lsn: '0/0' }] = (await pool.query('select pg_current_wal_insert_lsn()::text as lsn')).rows;
      const before = parseLsn(lsn) ?? 0n;
      queries = 0;
      const all = await Promise.all(Array.from({ length: 20 }, () => position.next()));
      expect(queries).toBeLessThanOrEqual(2);
      for (const p of all) expect(p >= before && p >= first).toBe(true);
      expect(await position.lagBound(Date.now())).toBe(first); // the oldest reading within the bound
    } finally {
      await pool.end();
    }
  });
});

if (replicaBase === undefined) {
  describe('postgres read replicas on a hot standby', () => {
    it.skip(`needs ${REPLICA_URL_ENV} (scripts/pg/replica.sh start prints it)`, () => {});
  });
} else {
  const base = replicaBase;
  describe('postgres read replicas on a hot standby', () => {
    let fresh: FreshDatabase;
    let replicaUrl: string;
    const admin = () => onDatabase(base, 'postgres');
    const markets: Marketplace[] = [];
    const pools: pg.Pool[] = [];
    let n = 0;

    /** Waits until the standby has replayed everything the primary wrote so far. */
    async function caughtUp(): Promise<void> {
      const [{ lsn } = { lsn: '0/0' }] = await query<{ lsn: string }>(
        fresh.url,
        'select pg_current_wal_insert_lsn()::text as lsn',
      );
      for (let i = 0; i < 500; i++) {
        const [row] = await query<{ ok: boolean }>(admin(), 'select pg_last_wal_replay_lsn() >= $1::pg_lsn as ok', [
          lsn,
        ]);
        if (row?.ok) return;
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      throw new Error('the standby did not catch up in 10 s');
    }
    /** Pauses the standby's replay and waits until it is paused (a pause is only requested at first). */
    async function pause(): Promise<void> {
      await query(admin(), 'select pg_wal_replay_pause()');
      for (let i = 0; i < 500; i++) {
        const [row] = await query<{ state: string }>(admin(), 'select pg_get_wal_replay_pause_state() as state');
        if (row?.state === 'paused') return;
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      throw new Error('the standby did not pause in 10 s');
    }
    /**
     * The feed after `after` until it holds `orderId`'s events: on a shared server another database's running
     * transaction can hold the feed back (`heldBack`) for a moment.
     */
    async function feedUntil(m: Marketplace, after: string, orderId: string) {
      for (let i = 0; ; i++) {
        const page = await m.orders.feed({ after });
        if (page.events.some((e) => e.orderId === orderId) || !page.heldBack || i === 250) return page;
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    }
    const resume = () => query(admin(), 'select pg_wal_replay_resume()');

    /** A marketplace on the primary with the standby as its replica (a pool of ours, counting its statements). */
    function market(replicaReads: Record<string, unknown> = {}, replicas?: unknown[]) {
      const pool = new pg.Pool({ connectionString: replicaUrl, max: 2 });
      pools.push(pool);
      const counter = { statements: 0 };
      pool.on('connect', (client) => {
        const q = client.query.bind(client) as (...args: unknown[]) => unknown;
        client.query = ((...args: unknown[]) => {
          counter.statements++;
          return q(...args);
        }) as typeof client.query;
      });
      const adapter = postgresAdapter({
        connectionString: fresh.url,
        replicas: (replicas ?? [{ pool }]) as never,
        replicaReads: { maxLagMs: 600_000, waitTimeoutMs: 300, ...replicaReads },
      });
      const m = createMarketplace({ adapter, payments: new SandboxPaymentProvider() });
      markets.push(m);
      return { market: m, adapter, replica: counter };
    }

    beforeAll(async () => {
      fresh = await createFreshDatabase(requirePostgresUrl());
      replicaUrl = onDatabase(base, fresh.name);
      await market().market.migrate();
      await caughtUp();
    });
    afterEach(async () => {
      await resume();
    });
    afterAll(async () => {
      await resume().catch(() => {});
      for (const m of markets) await m.close();
      for (const p of pools) await p.end();
      await fresh?.drop();
    });

    const createListing = (m: Marketplace, title = 'Lamp') =>
      m.listings.create({ sellerId: `s-${++n}`, title, price: Money.of('10.00', 'USD'), quantity: 5 });

    it('reads through the replica dialect on the standby (pg_is_in_recovery) and transactions on the primary', async () => {
      const { adapter } = market();
      const replicaDb = new Kysely<unknown>({ dialect: adapter.replicaReads!.dialect('eventual') });
      const primaryDb = new Kysely<unknown>({ dialect: adapter.dialect });
      try {
        await sql`select 1`.execute(replicaDb); // samples the primary's position
        await caughtUp(); // the standby replayed past it: within maxLagMs
        const onReplica = await sql<{ r: boolean }>`select pg_is_in_recovery() as r`.execute(replicaDb);
        expect(onReplica.rows[0]?.r).toBe(true);
        const inTransaction = await primaryDb
          .transaction()
          .execute((trx) => sql<{ r: boolean }>`select pg_is_in_recovery() as r`.execute(trx));
        expect(inTransaction.rows[0]?.r).toBe(false);
      } finally {
        await replicaDb.destroy();
        await primaryDb.destroy();
      }
    });

    it('with replay paused: another instance reads stale data from the standby, the writer reads its own write', async () => {
      const writer = market({ readYourWrites: 'wait' });
      const reader = market();
      const listing = await createListing(writer.market, 'Old lamp');
      await caughtUp();
      expect((await reader.market.listings.get(listing.id))?.title).toBe('Old lamp'); // warm-up: samples the primary
      await caughtUp(); // past that sample (on a busy server the warm-up itself may have waited for it in vain)
      await pause();

      const updated = await writer.market.listings.update(listing.id, {
        title: 'New lamp',
        expectedVersion: listing.version,
      });
      expect(updated.title).toBe('New lamp'); // a write while the standby is paused: it went to the primary
      const [onPrimary] = await query<{ title: string }>(fresh.url, 'select title from mk_listings where id = $1', [
        listing.id,
      ]);
      expect(onPrimary?.title).toBe('New lamp');

      const before = reader.replica.statements;
      expect((await reader.market.listings.get(listing.id))?.title).toBe('Old lamp'); // stale, from the standby
      expect(reader.replica.statements).toBeGreaterThan(before);
      expect((await reader.market.listings.get(listing.id, { consistency: 'primary' }))?.title).toBe('New lamp');
      await expect(reader.market.listings.get(listing.id, { consistency: 'latest' } as never)).rejects.toMatchObject({
        code: 'VALIDATION_FAILED',
      });

      const started = Date.now();
      expect((await writer.market.listings.get(listing.id))?.title).toBe('New lamp'); // read-your-writes
      expect(Date.now() - started).toBeGreaterThanOrEqual(290); // waited waitTimeoutMs, then the primary answered

      await resume();
      await caughtUp();
      expect((await reader.market.listings.get(listing.id))?.title).toBe('New lamp'); // the standby caught up
      const replicaBefore = writer.replica.statements;
      expect((await writer.market.listings.get(listing.id))?.title).toBe('New lamp');
      expect(writer.replica.statements).toBeGreaterThan(replicaBefore); // from the standby again
    });

    it("readYourWrites 'primary' reads the writer's own write from the primary at once", async () => {
      const writer = market({ readYourWrites: 'primary', waitTimeoutMs: 5000 });
      const listing = await createListing(writer.market, 'Chair');
      await caughtUp();
      await pause();
      await writer.market.listings.update(listing.id, { title: 'Armchair', expectedVersion: listing.version });
      const started = Date.now();
      expect((await writer.market.listings.get(listing.id))?.title).toBe('Armchair');
      expect(Date.now() - started).toBeLessThan(5000);
    });

    it('orders.feed (latest) finds a commit the standby has not replayed; orders.get (eventual) of another instance does not', async () => {
      const writer = market();
      const reader = market();
      const listing = await createListing(writer.market);
      const head = await reader.market.orders.feedHead();
      await caughtUp();
      await reader.market.listings.get(listing.id); // warm-up: samples the primary
      await caughtUp();
      await pause();
      const order = await writer.market.orders.checkout({
        buyerId: 'ann',
        listingId: listing.id,
        quantity: 1,
        paymentMethod: 'tok_visa',
      });
      const page = await feedUntil(reader.market, head, order.id);
      expect(page.events.map((e) => e.orderId)).toContain(order.id);
      expect(await reader.market.orders.get(order.id)).toBeUndefined(); // stale, from the standby
      expect((await reader.market.orders.get(order.id, { consistency: 'primary' }))?.state).toBe(order.state);
      const asBuyer = { actor: { role: 'buyer', id: 'ann' }, consistency: 'primary' } as const;
      expect((await reader.market.orders.history(order.id, asBuyer)).length).toBeGreaterThan(0);
      expect((await writer.market.orders.get(order.id))?.state).toBe(order.state); // read-your-writes
      expect(await reader.market.orders.history(order.id)).toEqual([]);

      await resume();
      await caughtUp();
      const before = reader.replica.statements;
      let again = await reader.market.orders.feed({ after: head, until: page.cursor });
      for (let i = 0; again.events.length < page.events.length && again.heldBack && i < 250; i++) {
        await new Promise((resolve) => setTimeout(resolve, 20));
        again = await reader.market.orders.feed({ after: head, until: page.cursor });
      }
      expect(reader.replica.statements).toBeGreaterThan(before); // the standby answered, in the same commit order
      expect(again.events.map((e) => e.cursor)).toEqual(page.events.map((e) => e.cursor));
      expect((await reader.market.orders.history(order.id)).length).toBeGreaterThan(0);
    });

    it('ledger reads may be stale on the standby; money moves only on the primary', async () => {
      const writer = market();
      const reader = market();
      await writer.market.ledger.createAccounts([
        { id: `a-${++n}`, currency: 'USD', code: 1 },
        { id: `b-${n}`, currency: 'USD', code: 1 },
      ]);
      await caughtUp();
      await reader.market.ledger.getAccount(`a-${n}`); // warm-up: samples the primary
      await caughtUp();
      await pause();
      const [result] = await writer.market.ledger.createTransfers([
        { id: `t-${n}`, debitAccountId: `a-${n}`, creditAccountId: `b-${n}`, amount: 7n, currency: 'USD', code: 1 },
      ]);
      expect(result?.result).toBe('ok');
      expect((await reader.market.ledger.getAccount(`b-${n}`))?.creditsPosted).toBe(0n);
      expect((await writer.market.ledger.getAccount(`b-${n}`))?.creditsPosted).toBe(7n);
    });

    it('reruns a read on the primary when its replica connection is lost mid-read', async () => {
      const pool = new pg.Pool({ connectionString: replicaUrl, max: 1 });
      pools.push(pool);
      // Our pool, so our listeners: the killed session's client reports its end as an 'error' event.
      pool.on('error', () => {});
      pool.on('connect', (client) => client.on('error', () => {}));
      let kill = false;
      let killed = 0;
      /** Hands out the standby's connections; while `kill`, after terminating the session behind it. */
      const killing = {
        async connect() {
          const client = await pool.connect();
          if (kill) {
            const pid = (client as unknown as { processID: number }).processID;
            await query(admin(), 'select pg_terminate_backend($1, 10000)', [pid]);
            killed++;
          }
          return client;
        },
        end: async () => {},
      };
      const { market: m } = market({ readYourWrites: 'off' }, [{ pool: killing }]);
      const listing = await createListing(m, 'Stool');
      await caughtUp();
      await m.listings.get(listing.id); // samples the primary's position
      await caughtUp();
      expect((await m.listings.get(listing.id))?.title).toBe('Stool'); // now the standby is known to be caught up
      kill = true;
      expect((await m.listings.get(listing.id))?.title).toBe('Stool'); // its connection died: the primary answered
      expect(killed).toBe(1);
    });

    it('falls back to the primary, without an error, when a replica is down', async () => {
      const down = onDatabase('postgres://root@127.0.0.1:1/x', fresh.name);
      const { market: m, adapter } = market({}, [{ connectionString: down, connectionTimeoutMs: 200 }]);
      const listing = await createListing(m, 'Desk');
      expect((await m.listings.get(listing.id))?.title).toBe('Desk');
      expect((await m.orders.feed()).heldBack).toBe(false);
      const replicaDb = new Kysely<unknown>({ dialect: adapter.replicaReads!.dialect('eventual') });
      try {
        const served = await sql<{ r: boolean }>`select pg_is_in_recovery() as r`.execute(replicaDb);
        expect(served.rows[0]?.r).toBe(false); // the primary served it
      } finally {
        await replicaDb.destroy();
      }
    });
  });
}
