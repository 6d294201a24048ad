/**
 * Migration 0015 (tenants) on a database that served one marketplace: migrated to 0014 and holding rows as that
 * schema had them (no tenant column), it migrates in place. The rows become the default tenant's: a marketplace made
 * without `tenant` reads them unchanged (balances, listing, order and its history, feed positions, idempotency key,
 * pending outbox event), a `beta` tenant sees none of them, and the schema check passes.
 */
import { createMarketplace, type Marketplace, type OutboxEvent, partitionOf } from '@marketkit/core';
import { type TestDatabase, testBackends } from '@marketkit/testing';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { migrate } from '../../src/schema/migrate.js';
import { MIGRATIONS } from '../../src/schema/migrations/index.js';
import { Storage } from '../../src/storage/storage.js';
import { tenancySchemaViolations } from './tenancy-checks.js';

const NOW = 1_767_225_600_000; // 2026-01-01

const account = (id: string, owner: string | null, code: number) => ({
  id,
  owner_id: owner,
  code,
  currency: 'USD',
  flags: 0,
  debits_pending: 0,
  debits_posted: 0,
  credits_pending: 0,
  credits_posted: 0,
  user_data: null,
  created_at: NOW,
});

/** Rows as a single-marketplace database at 0014 held them. */
async function writeOldRows(storage: Storage): Promise<void> {
  const db = storage.unscopedDb;
  await db
    .insertInto('accounts')
    .values([
      { ...account('acct-cash', null, 1), debits_posted: 750 },
      { ...account('acct-wallet', 'bob', 2), credits_posted: 750 },
    ])
    .execute();
  await db
    .insertInto('transfers')
    .values(
      [500, 250].map((amount, i) => ({
        id: `tr-${i + 1}`,
        debit_account_id: 'acct-cash',
        credit_account_id: 'acct-wallet',
        amount,
        currency: 'USD',
        code: 0,
        reference: null,
        user_data: null,
        flags: 0,
        pending_id: null,
        created_at: NOW + i,
      })),
    )
    .execute();
  await db
    .insertInto('listings')
    .values({
      id: 'lst-old',
      seller_id: 'bob',
      title: 'Old lamp',
      price_minor: 40_00,
      currency: 'USD',
      quantity: 5,
      commission: null,
      created_at: NOW,
      updated_at: NOW,
    })
    .execute();
  await db
    .insertInto('stock_reservations')
    .values({
      id: 'res-old',
      listing_id: 'lst-old',
      order_id: 'ord-old',
      quantity: 1,
      status: 'released',
      expires_at: NOW + 900_000,
      created_at: NOW,
      updated_at: NOW,
    })
    .execute();
  await db
    .insertInto('orders')
    .values({
      id: 'ord-old',
      process: 'purchase',
      state: 'cancelled',
      buyer_id: 'alice',
      seller_id: 'bob',
      listing_id: 'lst-old',
      quantity: 1,
      amount_minor: 40_00,
      commission_minor: 0,
      currency: 'USD',
      reservation_id: 'res-old',
      payment_method: 'tok_visa',
      authorization_id: null,
      capture_id: null,
      pending_op: null,
      pending_op_expires_at: null,
      state_entered_at: NOW + 2,
      version: 2,
      created_at: NOW,
      updated_at: NOW + 2,
    })
    .execute();
  const event = (id: string, seq: number, transition: string, from: string | null, to: string) => ({
    id,
    order_id: 'ord-old',
    seq,
    transition,
    from_state: from,
    to_state: to,
    actor_role: 'buyer',
    actor_id: 'alice',
    reason: null,
    data: null,
    at: NOW + seq,
  });
  // A row deleted between the others, so that positions have a gap (the migration must keep them as they are).
  await db
    .insertInto('order_events')
    .values(event('oe-1', 1, 'checkout', null, 'checkout'))
    .execute();
  await db
    .insertInto('order_events')
    .values(event('oe-gone', 9, 'noop', null, 'x'))
    .execute();
  await db
    .insertInto('order_events')
    .values(event('oe-2', 2, 'cancel', 'checkout', 'cancelled'))
    .execute();
  await db.deleteFrom('order_events').where('id', '=', 'oe-gone').execute();
  await db
    .insertInto('idempotency_keys')
    .values({
      actor: 'alice',
      operation: 'host.op',
      idempotency_key: 'key-1',
      fingerprint: 'fp-1',
      status: 'succeeded',
      result: JSON.stringify({ kind: 'json', value: { ok: true } }),
      lock_token: null,
      locked_until: null,
      attempt: 1,
      created_at: NOW,
      completed_at: NOW,
      expires_at: 8_000_000_000_000,
    })
    .execute();
  await db
    .insertInto('outbox_events')
    .values({
      id: 'evt-old',
      aggregate_type: 'order',
      aggregate_id: 'ord-old',
      seq: 1,
      partition_no: partitionOf('order', 'ord-old'),
      sort_key: 1,
      type: 'order.cancel',
      payload: JSON.stringify({ orderId: 'ord-old' }),
      created_at: NOW,
      delivered_at: null,
    })
    .execute();
  await db
    .insertInto('outbox_aggregates')
    .values({ aggregate_type: 'order', aggregate_id: 'ord-old', last_seq: 1, last_key: 1 })
    .execute();
}

/** The feed positions of the order events, read straight from the table as the feed computes them. */
async function rawPositions(storage: Storage): Promise<string[]> {
  const db = storage.unscopedDb;
  const { rows } = storage.adapter.capabilities.concurrentWriters
    ? await sql<{ p: string }>`select cast(tx as text) || '-' || cast(pos as text) as p
        from ${sql.table('order_events')} order by tx, pos`.execute(db)
    : await sql<{ p: string }>`select '0-' || cast(rowid as text) as p
        from ${sql.table('order_events')} order by rowid`.execute(db);
  return rows.map((r) => r.p);
}

/** Where the tables live: the defaults, or a prefix of their own (and a schema where the backend has schemas). */
interface Placement {
  readonly tablePrefix?: string;
  readonly schema?: string;
}

function market(
  adapter: Storage['adapter'],
  placement: Placement,
  tenant: string | undefined,
  delivered: OutboxEvent[],
): Marketplace {
  return createMarketplace({
    adapter,
    ...placement,
    ...(tenant === undefined ? {} : { tenant }),
    events: { sinks: [{ name: 'collect', deliver: async (events) => void delivered.push(...events) }] },
  });
}

const placements = (schemas: boolean): Placement[] => [
  {},
  schemas ? { tablePrefix: 'tn_', schema: 'tn' } : { tablePrefix: 'tn_' },
];

for (const backend of testBackends()) {
  for (const placement of placements(backend.name === 'postgres')) {
    describe(`migration 0015 (tenants) in place on ${backend.name}, tables ${JSON.stringify(placement)}`, () => {
      let database: TestDatabase;
      let storage: Storage;
      let plain: Marketplace;
      let beta: Marketplace;
      let positionsBefore: string[];
      let applied: readonly string[];
      const plainDelivered: OutboxEvent[] = [];
      const betaDelivered: OutboxEvent[] = [];

      beforeAll(async () => {
        database = await backend.createDatabase();
        storage = new Storage(database.adapter(), placement);
        const upTo14 = MIGRATIONS.slice(
          0,
          MIGRATIONS.findIndex((m) => m.name === '0015-tenants'),
        );
        expect(upTo14.at(-1)?.name).toBe('0014-payout-destinations');
        await migrate(storage, upTo14);
        await writeOldRows(storage);
        positionsBefore = await rawPositions(storage);
        applied = (await migrate(storage)).applied;
        plain = market(database.adapter(), placement, undefined, plainDelivered);
        beta = market(database.adapter(), placement, 'beta', betaDelivered);
      });
      afterAll(async () => {
        await plain?.close();
        await beta?.close();
        await storage?.destroy();
        await database?.drop();
      });

      it('applies 0015 and after it the schema keeps the tenancy rules', async () => {
        expect(applied[0]).toBe('0015-tenants');
        expect(await tenancySchemaViolations(storage)).toEqual([]);
        const { rows } = await sql<{ tenant: string; n: number | bigint | string }>`
        select tenant, count(*) as n from ${sql.table('orders')} group by tenant`.execute(storage.unscopedDb);
        expect(rows.map((r) => [r.tenant, Number(r.n)])).toEqual([['', 1]]);
      });

      it('lets the default tenant read every old row unchanged', async () => {
        const accounts = await plain.ledger.getAccounts(['acct-cash', 'acct-wallet']);
        expect(accounts.map((a) => [a.id, a.debitsPosted, a.creditsPosted, a.version])).toEqual([
          ['acct-cash', 750n, 0n, 0n],
          ['acct-wallet', 0n, 750n, 0n],
        ]);
        expect(
          (await plain.ledger.listTransfers({ accountId: 'acct-cash' })).transfers.map((t) => t.id).sort(),
        ).toEqual(['tr-1', 'tr-2']);
        expect((await plain.ledger.verify()).problems).toEqual([]);
        expect(await plain.listings.get('lst-old')).toMatchObject({
          sellerId: 'bob',
          title: 'Old lamp',
          quantity: 5,
          available: 5,
          sold: 0,
          reserved: 0,
        });
        expect((await plain.listings.verifyStock()).problems).toEqual([]);
        expect(await plain.orders.get('ord-old')).toMatchObject({
          state: 'cancelled',
          version: 2,
          listingId: 'lst-old',
        });
        expect((await plain.orders.history('ord-old')).map((e) => `${e.seq}:${e.transition}`)).toEqual([
          '1:checkout',
          '2:cancel',
        ]);
        const feed = await plain.orders.feed();
        expect(feed.events.map((e) => e.orderId)).toEqual(['ord-old', 'ord-old']);
        expect(feed.events.map((e) => e.cursor)).toEqual(positionsBefore);
        if (!storage.adapter.capabilities.concurrentWriters) expect(positionsBefore).toEqual(['0-1', '0-3']);
        expect(await plain.orders.feedHead()).toBe(positionsBefore.at(-1));
        expect(await plain.idempotency.inspect({ actor: 'alice', operation: 'host.op', key: 'key-1' })).toMatchObject({
          status: 'succeeded',
          fingerprint: 'fp-1',
        });
      });

      it('hides them from another tenant, which writes the same ids afresh', async () => {
        expect(await beta.ledger.getAccount('acct-cash')).toBeUndefined();
        expect(await beta.listings.get('lst-old')).toBeUndefined();
        expect(await beta.orders.get('ord-old')).toBeUndefined();
        expect((await beta.orders.feed()).events).toEqual([]);
        expect(await beta.idempotency.inspect({ actor: 'alice', operation: 'host.op', key: 'key-1' })).toBeUndefined();
        expect(await beta.ledger.createAccounts([{ id: 'acct-cash', currency: 'EUR', code: 5 }])).toEqual([
          { index: 0, id: 'acct-cash', result: 'ok' },
        ]);
        expect(await plain.ledger.createAccounts([{ id: 'acct-cash', currency: 'EUR', code: 5 }])).toEqual([
          { index: 0, id: 'acct-cash', result: 'existsWithDifferentCurrency' },
        ]);
      });

      it('relays the old pending outbox event through the default tenant’s relay only', async () => {
        for (let i = 0; i < 5 && (await beta.events.runOnce()) > 0; i++) {}
        for (let i = 0; i < 5 && (await plain.events.runOnce()) > 0; i++) {}
        expect(betaDelivered).toEqual([]);
        expect(plainDelivered.map((e) => [e.id, e.type, e.aggregateId, e.sequence])).toEqual([
          ['evt-old', 'order.cancel', 'ord-old', 1],
        ]);
        expect(plainDelivered[0]?.payload).toEqual({ orderId: 'ord-old' });
      });
    });
  }
}
