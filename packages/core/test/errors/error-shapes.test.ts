import { postgresAdapter } from '@marketkit/adapters/postgres';
import { sqliteAdapter } from '@marketkit/adapters/sqlite';
import {
  createMarketplace,
  ERROR_CODES,
  ERROR_DETAILS_SCHEMAS,
  type ErrorCode,
  isMarketkitError,
  type Lease,
  type MarketkitTransaction,
  type Marketplace,
  Money,
  purchaseProcess,
  Storage,
  silentLogger,
} from '@marketkit/core';
import {
  ManualClock,
  SANDBOX_3DS_PAYMENT_METHOD,
  SandboxPaymentProvider,
  type TestDatabase,
  testBackends,
} from '@marketkit/testing';
import Database from 'better-sqlite3';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

/**
 * Codes a backend cannot raise, with the reason. Every other code is triggered for real, through the public API,
 * on each backend.
 */
const HTTP_ONLY = {
  RATE_LIMITED: 'raised by @marketkit/express when a caller is over its rate limit, never by core',
  UNAUTHENTICATED: 'raised by @marketkit/express for a request without valid credentials, never by core',
  WEBHOOK_SIGNATURE_INVALID:
    'raised by a provider webhook handler (@marketkit/adapters/stripe) for a request not signed by the provider, never by core',
} as const;
const CANNOT_ARISE: Readonly<Record<'sqlite' | 'postgres', Partial<Record<ErrorCode, string>>>> = {
  sqlite: {
    ...HTTP_ONLY,
    SERIALIZATION_FAILURE:
      'every SQLite transaction begins IMMEDIATE (one writer at a time), so no snapshot goes stale before it writes',
    DEADLOCK_DETECTED: 'SQLite has one writer at a time: there is no lock cycle to detect',
    OVERLOADED:
      'core raises it for a pool whose wait for a connection ran out; SQLite has one connection and no pool ' +
      '(@marketkit/express also raises it past its in-flight bound)',
    BACKUP_UNSUPPORTED: 'the SQLite adapter copies its database online (market.backup); only PostgreSQL refuses',
  },
  postgres: { ...HTTP_ONLY },
};

const buyer = { role: 'buyer', id: 'alice' } as const;

/** A promise with its resolve function outside. */
function gate(): { readonly promise: Promise<void>; readonly open: () => void } {
  let open = (): void => {};
  const promise = new Promise<void>((resolve) => {
    open = resolve;
  });
  return { promise, open };
}

/** The error `run` rejects with (fails the test if it resolves). */
async function rejection(run: () => Promise<unknown>): Promise<unknown> {
  const outcome = await run().then(
    (value: unknown) => ({ ok: true as const, value }),
    (error: unknown) => ({ ok: false as const, error }),
  );
  if (outcome.ok) throw new Error(`expected a rejection, got ${String(outcome.value)}`);
  return outcome.error;
}

for (const backend of testBackends()) {
  describe(`every error code, with its one details shape, on ${backend.name}`, () => {
    let database: TestDatabase;
    let market: Marketplace;
    let storage: Storage;
    let other: Storage;
    const clock = new ManualClock();
    const psp = new SandboxPaymentProvider();
    let listingId: string;
    const seen = new Set<ErrorCode>();

    /** Checks that `error` is a Marketkit error with `code` whose details parse strictly as the code's shape. */
    function expectShaped(error: unknown, code: ErrorCode): void {
      expect(isMarketkitError(error), `expected a MarketkitError, got ${String(error)}`).toBe(true);
      if (!isMarketkitError(error)) return;
      expect(error.code, error.message).toBe(code);
      const parsed = ERROR_DETAILS_SCHEMAS[code].safeParse(error.details);
      expect(parsed.error?.issues ?? [], `${code} details ${JSON.stringify(error.details)}`).toEqual([]);
      expect(error.retryable).toBe(ERROR_CODES[code].retryable);
      // What an API sends: plain JSON that comes back equal.
      expect(JSON.parse(JSON.stringify(error.toJSON()))).toStrictEqual({ ...error.toJSON(), details: error.details });
      seen.add(code);
    }

    const checkout = (extra: Record<string, unknown> = {}) =>
      market.orders.checkout({ buyerId: 'alice', listingId, quantity: 1, paymentMethod: 'tok_visa', ...extra });

    beforeAll(async () => {
      database = await backend.createDatabase();
      market = createMarketplace({ adapter: database.adapter(), clock, payments: psp });
      await market.migrate();
      storage = new Storage(database.adapter());
      other = new Storage(database.adapter());
      await storage.transaction(async (trx) => {
        await sql`create table err_probe (id integer primary key, v integer not null check (v >= 0))`.execute(trx);
        await sql`insert into err_probe (id, v) values (1, 0), (2, 0)`.execute(trx);
      });
      listingId = (
        await market.listings.create({ sellerId: 'bob', title: 'Lamp', price: Money.of('40.00', 'USD'), quantity: 5 })
      ).id;
    });
    afterAll(async () => {
      await market?.close();
      await storage?.destroy();
      await other?.destroy();
      await database?.drop();
    });

    it('VALIDATION_FAILED: malformed input at an entry point', async () => {
      expectShaped(await rejection(() => market.listings.create({} as never)), 'VALIDATION_FAILED');
      expectShaped(await rejection(async () => Money.of('1', 'USD').allocate([])), 'VALIDATION_FAILED');
    });

    it('UNKNOWN_CURRENCY, CURRENCY_MISMATCH, AMOUNT_NOT_REPRESENTABLE: money', async () => {
      expectShaped(await rejection(async () => Money.of('1', 'ZZZ')), 'UNKNOWN_CURRENCY');
      expectShaped(await rejection(async () => Money.of('1', 'USD').add(Money.of('1', 'EUR'))), 'CURRENCY_MISMATCH');
      expectShaped(await rejection(async () => Money.of('1.001', 'USD')), 'AMOUNT_NOT_REPRESENTABLE');
      expectShaped(await rejection(async () => Money.fromMinor(2 ** 60, 'USD')), 'AMOUNT_NOT_REPRESENTABLE');
    });

    it('INSUFFICIENT_FUNDS: a payout beyond the seller balance (replayed from the saga with its details)', async () => {
      const error = await rejection(() =>
        market.payouts.request({ sellerId: 'nobody', amountMinor: 100n, currency: 'USD', destination: 'acct_1' }),
      );
      expectShaped(error, 'INSUFFICIENT_FUNDS');
      expect(error).toMatchObject({ details: { accountId: 'mk:seller:nobody:USD', amountMinor: '100' } });
    });

    it('PAYOUT_DESTINATION_MISSING: a payout without destination for a seller with none stored', async () => {
      const error = await rejection(() =>
        market.payouts.request({ sellerId: 'nowhere', amountMinor: 100n, currency: 'USD' }),
      );
      expectShaped(error, 'PAYOUT_DESTINATION_MISSING');
      expect(error).toMatchObject({ details: { sellerId: 'nowhere' } });
    });

    it('INSUFFICIENT_STOCK and NOT_FOUND: checkouts the stock or the catalogue cannot serve', async () => {
      expectShaped(await rejection(() => checkout({ quantity: 99 })), 'INSUFFICIENT_STOCK');
      const missing = await rejection(() => checkout({ listingId: 'no-such-listing' }));
      expectShaped(missing, 'NOT_FOUND');
      expect(missing).toMatchObject({ details: { resource: 'listing', id: 'no-such-listing' } });
    });

    it('RESERVATION_EXPIRED: selling a hold past its expiry', async () => {
      const hold = await market.listings.reserve({ listingId, quantity: 1, ttlMs: 1000 });
      clock.advance(1001);
      expectShaped(await rejection(() => market.listings.markSold(hold.id)), 'RESERVATION_EXPIRED');
    });

    it('CONCURRENCY_CONFLICT: an update from a stale version', async () => {
      const error = await rejection(() => market.listings.update(listingId, { expectedVersion: 99, title: 'Desk' }));
      expectShaped(error, 'CONCURRENCY_CONFLICT');
      expect(error).toMatchObject({ details: { reason: 'version', resource: 'listing', id: listingId } });
    });

    it('INVALID_TRANSITION and FORBIDDEN: transitions the process or the role refuses', async () => {
      const order = await checkout();
      expectShaped(
        await rejection(() => market.orders.transition(order.id, 'confirm', { actor: buyer })),
        'INVALID_TRANSITION',
      );
      const forbidden = await rejection(() => market.orders.transition(order.id, 'ship', { actor: buyer }));
      expectShaped(forbidden, 'FORBIDDEN');
      expect(forbidden).toMatchObject({ details: { role: 'buyer', actorId: 'alice', operation: 'ship' } });
    });

    it('IDEMPOTENCY_KEY_REUSED: the same shape on the checkout path as on any keyed call', async () => {
      await checkout({ idempotencyKey: 'reused-1' });
      const onCheckout = await rejection(() => checkout({ idempotencyKey: 'reused-1', quantity: 2 }));
      expectShaped(onCheckout, 'IDEMPOTENCY_KEY_REUSED');
      expect(onCheckout).toMatchObject({
        message: expect.stringMatching(/idempotency key reused-1/),
        details: { key: 'reused-1', actor: 'alice', operation: 'orders.checkout' },
      });
      // An order id the caller chose is the checkout's key too: reused for another request, the same shape.
      await checkout({ orderId: 'ord-reused' });
      const onOrderId = await rejection(() => checkout({ orderId: 'ord-reused', quantity: 2 }));
      expectShaped(onOrderId, 'IDEMPOTENCY_KEY_REUSED');
      expect(onOrderId).toMatchObject({ details: { key: 'ord-reused', actor: 'alice', operation: 'orders.checkout' } });
      const call = { key: 'reused-2', actor: 'alice', operation: 'notes.write', request: { n: 1 } };
      await market.idempotency.execute(call, async () => 'ok');
      const onExecute = await rejection(() =>
        market.idempotency.execute({ ...call, request: { n: 2 } }, async () => 'ok'),
      );
      expectShaped(onExecute, 'IDEMPOTENCY_KEY_REUSED');
      expect(onExecute).toMatchObject({ details: { key: 'reused-2', actor: 'alice', operation: 'notes.write' } });
    });

    it('IDEMPOTENCY_CONFLICT: a key whose first request is still running', async () => {
      const call = { key: 'busy-1', actor: 'alice', operation: 'notes.write', request: {} };
      expect(await market.idempotency.begin(call)).toMatchObject({ status: 'started' });
      expectShaped(await rejection(() => market.idempotency.begin(call)), 'IDEMPOTENCY_CONFLICT');
    });

    it('PAYMENT_DECLINED, PROVIDER_ERROR, PROVIDER_TIMEOUT: what the provider answers a checkout', async () => {
      expectShaped(await rejection(() => checkout({ paymentMethod: 'tok_decline' })), 'PAYMENT_DECLINED');
      psp.injectFault('authorize', 'error', 20);
      expectShaped(await rejection(() => checkout()), 'PROVIDER_ERROR');
      psp.clearFaults();
      psp.injectFault('authorize', 'timeout', 20);
      expectShaped(await rejection(() => checkout()), 'PROVIDER_TIMEOUT');
      psp.clearFaults();
    });

    it('PROVIDER_UNAVAILABLE: a checkout while the provider breaker is open', async () => {
      const down = new SandboxPaymentProvider();
      const guarded = createMarketplace({
        adapter: database.adapter(),
        clock,
        payments: down,
        providerBreaker: { threshold: 1, resetTimeoutMs: 60_000 },
        logger: silentLogger,
      });
      try {
        down.injectFault('authorize', 'error');
        const call = { idempotencyKey: 'k', amountMinor: 1n, currency: 'USD', paymentMethod: 'tok', reference: 'r' };
        expectShaped(await rejection(() => guarded.payments.breaker!.provider.authorize(call)), 'PROVIDER_ERROR');
        const request = { buyerId: 'alice', listingId, quantity: 1, paymentMethod: 'tok_visa' };
        expectShaped(await rejection(() => guarded.orders.checkout(request)), 'PROVIDER_UNAVAILABLE');
      } finally {
        await guarded.close();
      }
    });

    it('WEBHOOK_TARGET_REFUSED: a webhook endpoint on a private address', async () => {
      expectShaped(
        await rejection(() => market.webhooks.create({ url: 'https://10.0.0.7/hooks', eventTypes: ['*'] })),
        'WEBHOOK_TARGET_REFUSED',
      );
    });

    it('CUSTOMER_ACTION_UNSUPPORTED: a payment that needs the customer, under a process that cannot wait for one', async () => {
      const base = purchaseProcess();
      const noWait = {
        ...base,
        name: 'no-wait',
        states: Object.fromEntries(Object.entries(base.states).filter(([s]) => s !== 'awaitingCustomer')),
        transitions: base.transitions
          .filter((t) => t.name !== 'awaitCustomer' && t.name !== 'expireCustomerAction')
          .map((t) => (t.name === 'confirmPayment' || t.name === 'cancelUnpaid' ? { ...t, from: 'checkout' } : t)),
      };
      const strict = createMarketplace({ adapter: database.adapter(), clock, payments: psp, process: noWait });
      try {
        const lamp = await strict.listings.create({
          sellerId: 'bob',
          title: 'Lamp',
          price: Money.of('40.00', 'USD'),
          quantity: 1,
        });
        const paymentMethod = SANDBOX_3DS_PAYMENT_METHOD;
        expectShaped(
          await rejection(() =>
            strict.orders.checkout({ buyerId: 'alice', listingId: lamp.id, quantity: 1, paymentMethod }),
          ),
          'CUSTOMER_ACTION_UNSUPPORTED',
        );
      } finally {
        await strict.close();
      }
    });

    it('PROVIDER_CAPABILITY_MISSING: reconciling against a provider that cannot list its effects', async () => {
      const { listEffects: _listEffects, ...bare } = {
        name: 'bare',
        authorize: psp.authorize.bind(psp),
        capture: psp.capture.bind(psp),
        void: psp.void.bind(psp),
        refund: psp.refund.bind(psp),
        payout: psp.payout.bind(psp),
        listEffects: undefined,
      };
      expectShaped(
        await rejection(() => market.payments.reconcile({ from: 0, to: clock.now() + 1, provider: bare })),
        'PROVIDER_CAPABILITY_MISSING',
      );
    });

    it('BACKUP_UNSUPPORTED: market.backup on PostgreSQL, which is backed up with pg_dump or PITR', async (ctx) => {
      ctx.skip(backend.name === 'sqlite', CANNOT_ARISE.sqlite.BACKUP_UNSUPPORTED);
      expectShaped(await rejection(() => market.backup('/tmp/never-written.db')), 'BACKUP_UNSUPPORTED');
    });

    it('LEASE_LOST: renewing a lease another owner took over', async () => {
      const first = (await market.leases.acquire('err-lease', 'w1', 1000)) as Lease;
      clock.advance(1001);
      expect(await market.leases.acquire('err-lease', 'w2', 1000)).toBeDefined();
      expectShaped(await rejection(() => market.leases.renew(first, 1000)), 'LEASE_LOST');
    });

    it('INTERNAL: a stored idempotent outcome the database no longer holds as Marketkit wrote it', async () => {
      // INTERNAL means an invariant of Marketkit's own broke: no correct call provokes it. The nearest real
      // trigger is a corrupted row: a stored outcome whose code no release ever had is replayed as INTERNAL.
      const call = { key: 'tampered', actor: 'alice', operation: 'notes.write', request: {} };
      await market.idempotency.execute(call, async () => 'ok');
      await storage.transaction((trx) =>
        trx
          .updateTable('idempotency_keys')
          .set({ status: 'failed', result: '{"code":"NO_SUCH_CODE","message":"tampered","details":{}}' })
          .where('idempotency_key', '=', 'tampered')
          .execute(),
      );
      expectShaped(await rejection(() => market.idempotency.execute(call, async () => 'ok')), 'INTERNAL');
    });

    it('MIGRATION_FAILED: a migration that meets a table the host already has', async () => {
      const clash = createMarketplace({ adapter: database.adapter(), clock, tablePrefix: 'clash_' });
      try {
        await storage.transaction((trx) => sql`create table clash_accounts (x integer)`.execute(trx));
        const error = await rejection(() => clash.migrate());
        expectShaped(error, 'MIGRATION_FAILED');
      } finally {
        await clash.close();
      }
    });

    /*
     * The storage codes are what the transaction wrapper (`Storage`, exported for adapters and their conformance
     * suite) makes of a driver error. No Marketkit operation provokes a unique or a check violation by itself (each
     * is idempotent and checks its input first), so these tests provoke the driver errors with SQL on a table of
     * their own, through that wrapper, with real concurrent connections where a code needs two.
     */
    const once = { maxAttempts: 1 } as const;

    it('UNIQUE_VIOLATION and STORAGE_ERROR: constraint violations', async () => {
      expectShaped(
        await rejection(() =>
          storage.transaction((trx) => sql`insert into err_probe (id, v) values (1, 0)`.execute(trx)),
        ),
        'UNIQUE_VIOLATION',
      );
      const check = await rejection(() =>
        storage.transaction((trx) => sql`update err_probe set v = -1 where id = 1`.execute(trx)),
      );
      expectShaped(check, 'STORAGE_ERROR');
      expect(check).toMatchObject({ details: { kind: 'checkViolation' } });
    });

    it('LOCK_NOT_AVAILABLE: a lock another connection holds, without waiting', async () => {
      const holding = gate();
      const release = gate();
      const holder = storage.transaction(async (trx) => {
        await sql`update err_probe set v = v + 1 where id = 2`.execute(trx);
        holding.open();
        await release.promise;
      });
      await holding.promise;
      const impatient =
        backend.name === 'sqlite'
          ? new Storage(sqliteAdapter({ filename: database.location, busyTimeoutMs: 20 }))
          : other;
      try {
        const error = await rejection(() =>
          impatient.transaction(
            (trx: MarketkitTransaction) =>
              backend.name === 'sqlite'
                ? sql`update err_probe set v = v + 1 where id = 2`.execute(trx)
                : sql`select v from err_probe where id = 2 for update nowait`.execute(trx),
            once,
          ),
        );
        expectShaped(error, 'LOCK_NOT_AVAILABLE');
      } finally {
        release.open();
        await holder;
        if (impatient !== other) await impatient.destroy();
      }
    });

    it('SERIALIZATION_FAILURE: a repeatable-read transaction updating a row another committed meanwhile', async (ctx) => {
      ctx.skip(backend.name === 'sqlite', CANNOT_ARISE.sqlite.SERIALIZATION_FAILURE);
      const error = await rejection(() =>
        storage.transaction(async (trx) => {
          await sql`set transaction isolation level repeatable read`.execute(trx);
          await sql`select v from err_probe where id = 1`.execute(trx); // takes the snapshot
          await other.transaction((t) => sql`update err_probe set v = v + 1 where id = 1`.execute(t));
          await sql`update err_probe set v = v + 1 where id = 1`.execute(trx);
        }, once),
      );
      expectShaped(error, 'SERIALIZATION_FAILURE');
    });

    it('DEADLOCK_DETECTED: two connections locking two rows in opposite orders', async (ctx) => {
      ctx.skip(backend.name === 'sqlite', CANNOT_ARISE.sqlite.DEADLOCK_DETECTED);
      const bothHoldFirst = (() => {
        let arrived = 0;
        const all = gate();
        return async () => {
          arrived += 1;
          if (arrived === 2) all.open();
          await all.promise;
        };
      })();
      const run = (s: Storage, first: number, second: number) =>
        s.transaction(async (trx) => {
          await sql`select v from err_probe where id = ${first} for update`.execute(trx);
          await bothHoldFirst();
          await sql`select v from err_probe where id = ${second} for update`.execute(trx);
        }, once);
      const outcomes = await Promise.allSettled([run(storage, 1, 2), run(other, 2, 1)]);
      const victims = outcomes.flatMap((o) => (o.status === 'rejected' ? [o.reason as unknown] : []));
      expect(victims).toHaveLength(1);
      expectShaped(victims[0], 'DEADLOCK_DETECTED');
    });

    it('CONNECTION_LOST: a connection that goes away under a transaction', async () => {
      if (backend.name === 'sqlite') {
        // The host's own better-sqlite3 connection, closed by the host while Marketkit still uses it.
        const connection = new Database(database.location);
        const mine = new Storage(sqliteAdapter({ database: connection }));
        connection.close();
        expectShaped(await rejection(() => mine.transaction((trx) => sql`select 1`.execute(trx))), 'CONNECTION_LOST');
        return;
      }
      const doomed = new Storage(database.adapter({ max: 1 }));
      try {
        const error = await rejection(() =>
          doomed.transaction((trx) => sql`select pg_terminate_backend(pg_backend_pid())`.execute(trx), once),
        );
        expectShaped(error, 'CONNECTION_LOST');
      } finally {
        await doomed.destroy().catch(() => {});
      }
    });

    it('OVERLOADED: no pooled connection free within connectionTimeoutMs (the database up, not CONNECTION_LOST)', async (ctx) => {
      ctx.skip(backend.name === 'sqlite', CANNOT_ARISE.sqlite.OVERLOADED);
      const small = new Storage(
        postgresAdapter({ connectionString: database.location, max: 1, connectionTimeoutMs: 150 }),
      );
      const held = gate();
      const release = gate();
      const holder = small.transaction(async (trx) => {
        await sql`select 1`.execute(trx);
        held.open();
        await release.promise;
      }, once);
      try {
        await held.promise;
        const started = Date.now();
        const error = await rejection(() =>
          small.transaction((trx) => sql`update err_probe set v = v + 100 where id = 2`.execute(trx)),
        );
        expect(Date.now() - started).toBeLessThan(5000);
        expectShaped(error, 'OVERLOADED');
        expect(error).toMatchObject({ details: { resource: 'database-connections', retryAfterMs: 1000 } });
      } finally {
        release.open();
        await holder;
      }
      // Nothing was written, and the pool serves again once the connection is back.
      const rows = await small.run((db) => sql<{ v: number }>`select v from err_probe where id = 2`.execute(db));
      expect(Number(rows.rows[0]?.v)).toBeLessThan(100);
      await small.destroy();
      // A server that does not answer stays CONNECTION_LOST, whatever the bound.
      const down = new Storage(
        postgresAdapter({ connectionString: 'postgres://root@127.0.0.1:1/none', max: 1, connectionTimeoutMs: 150 }),
      );
      try {
        const lost = await rejection(() => down.run((db) => sql`select 1`.execute(db)));
        expect(lost).toMatchObject({ code: 'CONNECTION_LOST' });
      } finally {
        await down.destroy().catch(() => {});
      }
    });

    it('has triggered every code in ERROR_CODES that this backend can raise', () => {
      const expected = (Object.keys(ERROR_CODES) as ErrorCode[]).filter(
        (c) => CANNOT_ARISE[backend.name][c] === undefined,
      );
      expect([...seen].sort()).toEqual(expected.sort());
    });
  });
}
