import { postgresAdapter } from '@marketkit/adapters/postgres';
import {
  createMarketplace,
  type Logger,
  type Marketplace,
  Money,
  type OutboxEvent,
  type StorageAdapter,
} from '@marketkit/core';
import {
  checkMarketInvariants,
  createFreshDatabase,
  type FreshDatabase,
  ManualClock,
  requirePostgresUrl,
  SandboxPaymentProvider,
} from '@marketkit/testing';
import { runAdapterConformance } from '@marketkit/testing/conformance';
import { sql } from 'kysely';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

/**
 * The PostgreSQL adapter through PgBouncer in transaction pooling mode (`scripts/pg/pgbouncer.sh start`), with its
 * defaults (named prepared statements on): each transaction may run on another server connection, so named
 * statements prepared on one are missing (or already there) on the next. Databases are created directly on the
 * server (`MARKETKIT_PG_URL`) and used through the pooler (`MARKETKIT_PG_POOLER_URL`, same server, `*` entry).
 */
const POOLER_URL = process.env['MARKETKIT_PG_POOLER_URL'];

/** `direct` (a database on the server) as reached through the pooler: the pooler's host, port and user. */
function throughPooler(direct: string): string {
  const url = new URL(POOLER_URL ?? '');
  url.pathname = new URL(direct).pathname;
  return url.toString();
}

/**
 * {@link throughPooler} for a database just created on the server, checked: the pooler must lead to that server (a
 * test run that started its own throwaway server, with `MARKETKIT_PG_URL` unset, would not find the database there).
 */
async function pooledUrl(direct: string): Promise<string> {
  const url = throughPooler(direct);
  const client = new pg.Client({ connectionString: url });
  try {
    await client.connect();
    await client.query('select 1');
  } catch (error) {
    throw new Error(
      `the database made at MARKETKIT_PG_URL is not reachable through MARKETKIT_PG_POOLER_URL: both must lead to the same server (${String(error)})`,
    );
  } finally {
    await client.end().catch(() => {});
  }
  return url;
}

/** The URL with `lock_timeout` set for every connection opened from it (a startup option PgBouncer refuses). */
function withLockTimeout(url: string, ms: number): string {
  const u = new URL(url);
  u.searchParams.set('options', `-c lock_timeout=${Math.trunc(ms)}`);
  return u.toString();
}

/** A logger that keeps the warnings, to check the fallback to unnamed statements is reported (once). */
function recordingLogger(): Logger & { readonly warnings: string[] } {
  const warnings: string[] = [];
  return {
    warnings,
    error: () => {},
    warn: (_obj, msg) => warnings.push(msg ?? ''),
    info: () => {},
    debug: () => {},
  };
}

const buyer = { role: 'buyer', id: 'alice' } as const;
const seller = { role: 'seller', id: 'bob' } as const;

if (POOLER_URL === undefined) {
  describe('postgres adapter through PgBouncer (transaction pooling)', () => {
    it.skip('skipped: MARKETKIT_PG_POOLER_URL is unset (scripts/pg/pgbouncer.sh start, then set it to postgres://root@127.0.0.1:6432/postgres)', () => {});
  });
} else {
  describe('postgres adapter through PgBouncer (transaction pooling)', () => {
    let fresh: FreshDatabase;
    const markets: Marketplace[] = [];
    /** A "process": its own adapter and pool through the pooler, default options (named statements on). */
    const open = (logger: Logger = recordingLogger(), adapter?: StorageAdapter) => {
      const m = createMarketplace({
        adapter: adapter ?? postgresAdapter({ connectionString: throughPooler(fresh.url), max: 6 }),
        clock: new ManualClock(),
        payments: new SandboxPaymentProvider(),
        logger,
      });
      markets.push(m);
      return m;
    };

    beforeAll(async () => {
      fresh = await createFreshDatabase(requirePostgresUrl());
      await pooledUrl(fresh.url);
    });
    afterAll(async () => {
      for (const m of markets.splice(0)) await m.close().catch(() => {});
      await fresh?.drop();
    });

    it('serves 24 concurrent checkouts from four processes with default options, and says once that it fell back', async () => {
      const first = open();
      await first.migrate();
      const listing = await first.listings.create({
        sellerId: 'bob',
        title: 'Lamp',
        price: Money.of('10.00', 'USD'),
        quantity: 100,
      });
      const loggers = [recordingLogger(), recordingLogger(), recordingLogger(), recordingLogger()];
      const processes = loggers.map((l) => open(l));
      const settled = await Promise.allSettled(
        Array.from({ length: 24 }, (_, i) =>
          processes[i % processes.length]!.orders.checkout({
            buyerId: `buyer-${i}`,
            listingId: listing.id,
            quantity: 1,
            paymentMethod: 'tok_visa',
          }),
        ),
      );
      const failures = settled.flatMap((s) => (s.status === 'rejected' ? [String(s.reason)] : []));
      expect(failures).toEqual([]);
      expect((await first.listings.get(listing.id))?.available).toBe(76);
      // A second wave on the same processes: every statement unnamed now, nothing fails.
      const again = await Promise.allSettled(
        Array.from({ length: 16 }, (_, i) =>
          processes[i % processes.length]!.orders.checkout({
            buyerId: `again-${i}`,
            listingId: listing.id,
            quantity: 1,
            paymentMethod: 'tok_visa',
          }),
        ),
      );
      expect(again.flatMap((s) => (s.status === 'rejected' ? [String(s.reason)] : []))).toEqual([]);
      for (const l of loggers) expect(l.warnings.length).toBeLessThanOrEqual(1);
      expect(loggers.some((l) => l.warnings.length === 1)).toBe(true);
      await checkMarketInvariants(first);
    });

    it('runs a marketplace flow: listings, checkout saga, transitions, refunds, payouts, ledger, outbox', async () => {
      const delivered: OutboxEvent[] = [];
      const market = createMarketplace({
        adapter: postgresAdapter({ connectionString: throughPooler(fresh.url), max: 4 }),
        clock: new ManualClock(),
        payments: new SandboxPaymentProvider(),
        logger: recordingLogger(),
        tablePrefix: 'flow_',
        events: { sinks: [{ name: 'test', deliver: async (events) => void delivered.push(...events) }] },
        commission: { kind: 'percentage', percent: '10', minimumMinor: 0n },
      });
      markets.push(market);
      expect((await market.migrate()).applied.length).toBeGreaterThan(0);
      const listing = await market.listings.create({
        sellerId: 'bob',
        title: 'Desk',
        price: Money.of('100.00', 'USD'),
        quantity: 5,
      });
      const order = await market.orders.checkout({
        buyerId: 'alice',
        listingId: listing.id,
        quantity: 2,
        paymentMethod: 'tok_visa',
      });
      expect(order).toMatchObject({ state: 'paid' });
      await market.orders.transition(order.id, 'ship', { actor: seller });
      await market.orders.transition(order.id, 'deliver', { actor: seller });
      const done = await market.orders.transition(order.id, 'confirm', { actor: buyer });
      expect(done).toMatchObject({ state: 'completed' });
      expect(done.commission.minor).toBe(20_00n);
      const cancelled = await market.orders.checkout({
        buyerId: 'alice',
        listingId: listing.id,
        quantity: 1,
        paymentMethod: 'tok_visa',
      });
      const refunded = await market.orders.transition(cancelled.id, 'cancel', { actor: buyer, reason: 'no longer' });
      expect(refunded).toMatchObject({ state: 'cancelled' });
      expect(refunded.refunded.minor).toBe(100_00n);
      const payout = await market.payouts.request({
        payoutId: 'po-1',
        sellerId: 'bob',
        currency: 'USD',
        amountMinor: 50_00n,
        destination: 'ba_bob',
      });
      expect(payout).toMatchObject({ id: 'po-1', status: 'paid' });
      let drained = 0;
      for (let n = await market.events.runOnce(); n > 0; n = await market.events.runOnce()) drained += n;
      expect(drained).toBeGreaterThan(0);
      for (const type of [
        'order.checkout',
        'order.confirmPayment',
        'order.confirm',
        'transfer.created',
        'payout.requested',
      ]) {
        expect(delivered.map((e) => e.type)).toContain(type);
      }
      await checkMarketInvariants(market);
      expect((await market.ledger.verify()).ok).toBe(true);
    });

    it('two processes migrate at once through the pooler: one applies, the other waits and finds nothing to do; no lock is left held', async () => {
      const [a, b] = [0, 1].map(() =>
        createMarketplace({
          adapter: postgresAdapter({ connectionString: throughPooler(fresh.url), max: 2 }),
          logger: recordingLogger(),
          tablePrefix: 'race_',
        }),
      );
      markets.push(a!, b!);
      const [ra, rb] = await Promise.all([a!.migrate(), b!.migrate()]);
      const applied = [...ra.applied, ...rb.applied];
      expect(applied.length).toBeGreaterThan(0);
      expect(new Set(applied).size).toBe(applied.length);
      expect(ra.applied.length === 0 || rb.applied.length === 0).toBe(true);
      // No advisory lock is left held on any server connection of this database (before the fix, Kysely's session
      // lock stayed on one), so a direct migrate() does not wait for one and finds nothing to do.
      const direct = new pg.Client({ connectionString: fresh.url });
      await direct.connect();
      try {
        const { rows } = await direct.query<{ n: string }>(
          "select count(*)::text as n from pg_locks l join pg_database d on d.oid = l.database where l.locktype = 'advisory' and d.datname = current_database()",
        );
        expect(rows[0]?.n).toBe('0');
      } finally {
        await direct.end();
      }
      const straight = createMarketplace({
        adapter: postgresAdapter({ connectionString: fresh.url, max: 2 }),
        logger: recordingLogger(),
        tablePrefix: 'race_',
      });
      markets.push(straight);
      expect((await straight.migrate()).applied).toEqual([]);
    });
  });

  runAdapterConformance({
    name: 'postgres through PgBouncer (transaction pooling)',
    async createAdapter() {
      const fresh = await createFreshDatabase(requirePostgresUrl());
      return {
        adapter: postgresAdapter({ connectionString: await pooledUrl(fresh.url), max: 4 }),
        location: fresh.url,
        cleanup: () => fresh.drop(),
      };
    },
    // PgBouncer refuses the `options` startup parameter, so a connection with its own lock_timeout goes to the server
    // directly (the waiter); every other adapter goes through the pooler.
    openAdapter: (url, { lockTimeoutMs }) =>
      lockTimeoutMs === undefined
        ? postgresAdapter({ connectionString: throughPooler(url), max: 4 })
        : postgresAdapter({ connectionString: withLockTimeout(url, lockTimeoutMs), max: 4 }),
    connectionKiller: {
      async sessionId(db) {
        const { rows } = await sql<{ pid: number }>`select pg_backend_pid() as pid`.execute(db);
        return String(rows[0]?.pid);
      },
      async terminate(db, id) {
        const { rows } = await sql<{
          done: boolean;
        }>`select pg_terminate_backend(${Number(id)}, 10000) as done`.execute(db);
        if (rows[0]?.done !== true) throw new Error(`session ${id} was not terminated`);
      },
    },
  });
}
