/**
 * Tenants as the partition key: two marketplaces, `alpha` and `beta`, on ONE database run the whole flow at the same
 * time with identical ids and keys, and each ends exactly as a lone tenant (`solo`) does; neither reads, changes or
 * collides with the other's rows, replays the other's keys, or relays the other's events. The default tenant of a
 * marketplace made without `tenant` is one more tenant, isolated the same way.
 */
import { isMarketkitError, type Marketplace, Money } from '@marketkit/core';
import { checkMarketInvariants, type TestDatabase, testBackends } from '@marketkit/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TestReceiver } from '../webhooks/webhook-fixture.js';
import { drain, type FlowResult, openTenantMarket, runFlow, type TenantMarket } from './tenant-flow.js';

const buyer = { role: 'buyer', id: 'alice' } as const;
const operator = { role: 'operator', id: 'ops' } as const;

/** The flow's result without what is generated per run (the webhook endpoint's id). */
const comparable = ({ endpointId: _, ...rest }: FlowResult) => rest;

const codeOf = (p: Promise<unknown>) =>
  p.then(
    () => 'ok',
    (e: unknown) => (isMarketkitError(e) ? e.code : String(e)),
  );

/** Rows only `t` has, under ids with its name in them. */
async function addOwnRows(t: TenantMarket, name: string): Promise<void> {
  const m = t.market;
  await m.ledger.createAccounts([{ id: `only-${name}`, currency: 'USD', code: 7 }]);
  await m.ledger.createTransfers([
    {
      id: `only-${name}-tr`,
      debitAccountId: 'acct-cash',
      creditAccountId: `only-${name}`,
      amount: 1n,
      currency: 'USD',
    },
  ]);
  await m.listings.create({
    id: `only-${name}`,
    sellerId: 'bob',
    title: name,
    price: Money.of('1.00', 'USD'),
    quantity: 1,
  });
  await m.orders.checkout({
    orderId: `only-${name}-ord`,
    buyerId: 'alice',
    listingId: `only-${name}`,
    quantity: 1,
    paymentMethod: 'tok_visa',
    idempotencyKey: 'only-key',
  });
  await m.payouts.request({ payoutId: `only-${name}-po`, sellerId: 'bob', currency: 'USD', amountMinor: 1_00n });
  await m.worker().runOnce();
  await drain(m);
}

/** `reader` sees none of the rows only `owner` made. */
async function expectBlind(reader: Marketplace, owner: string): Promise<void> {
  expect(await reader.listings.get(`only-${owner}`)).toBeUndefined();
  expect(await reader.ledger.getAccount(`only-${owner}`)).toBeUndefined();
  expect(await reader.orders.get(`only-${owner}-ord`)).toBeUndefined();
  expect(await codeOf(reader.orders.get(`only-${owner}-ord`, { actor: buyer }))).toBe('NOT_FOUND');
  expect(await codeOf(reader.orders.transition(`only-${owner}-ord`, 'cancel', { actor: buyer }))).toBe('NOT_FOUND');
  expect(await reader.payouts.get(`only-${owner}-po`)).toBeUndefined();
  expect(await codeOf(reader.payouts.get(`only-${owner}-po`, { actor: operator }))).toBe('NOT_FOUND');
  expect(await reader.orders.history(`only-${owner}-ord`)).toEqual([]);
  // Nor can it change them: a transfer to the owner's account, a checkout or an edit of its listing.
  const [moved] = await reader.ledger.createTransfers([
    { id: `into-${owner}`, debitAccountId: 'acct-cash', creditAccountId: `only-${owner}`, amount: 1n, currency: 'USD' },
  ]);
  expect(moved?.result).toBe('creditAccountNotFound');
  expect(
    await codeOf(
      reader.orders.checkout({ buyerId: 'alice', listingId: `only-${owner}`, quantity: 1, paymentMethod: 'tok_visa' }),
    ),
  ).toBe('NOT_FOUND');
  expect(await codeOf(reader.listings.update(`only-${owner}`, { expectedVersion: 0, title: 'mine' }))).toBe(
    'NOT_FOUND',
  );
  const transfers = await reader.ledger.listTransfers({ accountId: 'acct-cash', limit: 100 });
  expect(transfers.transfers.map((t) => t.id)).not.toContain(`only-${owner}-tr`);
}

for (const backend of testBackends()) {
  describe(`tenant isolation on ${backend.name}`, () => {
    let database: TestDatabase;
    let receivers: Record<string, TestReceiver & { url: string }>;
    let tenants: Record<'solo' | 'alpha' | 'beta' | 'default', TenantMarket>;
    const results: Record<string, FlowResult> = {};

    beforeAll(async () => {
      database = await backend.createDatabase();
      tenants = {
        solo: openTenantMarket(database.adapter(), 'solo'),
        alpha: openTenantMarket(database.adapter(), 'alpha'),
        beta: openTenantMarket(database.adapter(), 'beta'),
        default: openTenantMarket(database.adapter(), undefined),
      };
      receivers = {};
      for (const [name, t] of Object.entries(tenants)) receivers[name] = await TestReceiver.start(t.clock);
      await tenants.solo.market.migrate(); // once, for every tenant
      results['solo'] = await runFlow(tenants.solo, receivers['solo']!.url);
      const [alpha, beta] = await Promise.all([
        runFlow(tenants.alpha, receivers['alpha']!.url),
        runFlow(tenants.beta, receivers['beta']!.url),
      ]);
      results['alpha'] = alpha;
      results['beta'] = beta;
    });
    afterAll(async () => {
      for (const r of Object.values(receivers ?? {})) await r.close();
      for (const t of Object.values(tenants ?? {})) await t.market.close();
      await database?.drop();
    });

    it('ends each of two concurrent tenants with identical ids exactly as a lone tenant', () => {
      const solo = results['solo']!;
      expect(solo.orders.map((o) => o?.state)).toEqual(['completed', 'cancelled', 'completed', 'paid']);
      expect(solo.customerAction).toMatchObject({
        before: 'awaitingCustomer',
        after: 'paid',
        duplicate: [false, true],
      });
      expect(solo.payout).toMatchObject({ status: 'paid', amountMinor: 20_00n });
      expect(solo.fresh).toEqual([false, false]);
      expect(solo.replayed).toBe(true);
      expect(solo.created.accounts).toEqual(['ok', 'ok']);
      expect(solo.created.transfers).toEqual(['ok', 'ok']);
      expect(solo.listing).toMatchObject({ sold: 4, reserved: 0, available: 6 });
      expect(solo.timed).toEqual({ hold: 'ok', ord3: 'completed', lease: 1n, wallet: 0n });
      // analytics reads its own tenant's money only: the GMV of the orders the flow paid, the same in every tenant
      const paid = solo.orders.filter((o) => o !== undefined && o.state !== 'cancelled');
      expect(paid.length).toBeGreaterThan(0);
      expect(solo.analytics.reduce((sum, d) => sum + d.gmv, 0n)).toBeGreaterThanOrEqual(
        paid.reduce((sum, o) => sum + (o?.amount ?? 0n), 0n),
      );
      // The ledger's queries: the hold debited cash, expired since, and was pending on the wallet when made.
      expect(solo.queries).toEqual({
        accounts: ['acct-cash', 'acct-wallet'],
        cash: ['tr-1', 'tr-hold'],
        expired: ['tr-hold'],
        newest: 1,
        walletAtHold: [12_34n, 1_00n],
      });
      expect(comparable(results['alpha']!)).toEqual(comparable(solo));
      expect(comparable(results['beta']!)).toEqual(comparable(solo));
    });

    it('keeps every invariant per tenant, reconciled against each tenant’s own provider', async () => {
      for (const name of ['solo', 'alpha', 'beta'] as const) {
        await checkMarketInvariants(tenants[name].market, { provider: tenants[name].psp });
      }
    });

    it('relays and delivers each tenant’s events only through its own relay, sink and endpoint', async () => {
      const ids = (t: TenantMarket) => new Set(t.delivered.map((e) => e.id));
      const [a, b, s] = [ids(tenants.alpha), ids(tenants.beta), ids(tenants.solo)];
      expect(a.size).toBeGreaterThan(5);
      expect(a.size).toBe(s.size);
      expect(b.size).toBe(s.size);
      for (const id of a) expect(b.has(id) || s.has(id)).toBe(false);
      for (const id of b) expect(s.has(id)).toBe(false);
      // Every event a tenant's endpoint received is one its own relay delivered, and it received all of them.
      for (const name of ['solo', 'alpha', 'beta'] as const) {
        expect(new Set(receivers[name]!.accepted().keys())).toEqual(ids(tenants[name]));
      }
    });

    it('lets neither tenant read, change or list the other’s rows, nor replay its keys', async () => {
      const { alpha, beta } = tenants;
      await Promise.all([addOwnRows(alpha, 'alpha'), addOwnRows(beta, 'beta')]);
      await expectBlind(alpha.market, 'beta');
      await expectBlind(beta.market, 'alpha');
      // The same key in the other tenant ran afresh: an order of its own, not a replay.
      const [oa, ob] = [await alpha.market.orders.get('only-alpha-ord'), await beta.market.orders.get('only-beta-ord')];
      expect(oa).toMatchObject({ state: 'paid', listingId: 'only-alpha' });
      expect(ob).toMatchObject({ state: 'paid', listingId: 'only-beta' });
      // Lists and the feed hold only the tenant's own rows.
      for (const [t, own, other] of [
        [alpha, 'alpha', 'beta'],
        [beta, 'beta', 'alpha'],
      ] as const) {
        const feed = await t.market.orders.feed({ limit: 1000 });
        const orderIds = new Set(feed.events.map((e) => e.orderId));
        expect([...orderIds].sort()).toEqual(['ord-1', 'ord-2', 'ord-3', 'ord-4', `only-${own}-ord`].sort());
        expect(await t.market.webhooks.list()).toHaveLength(1);
        const deliveries = await t.market.webhooks.listDeliveries({ limit: 500 });
        expect(deliveries.some((d) => d.aggregateId.includes(other))).toBe(false);
        expect(deliveries.some((d) => d.aggregateId.includes(own))).toBe(true);
        expect(t.delivered.some((e) => JSON.stringify(e.payload).includes(`only-${other}`))).toBe(false);
        expect(t.delivered.some((e) => JSON.stringify(e.payload).includes(`only-${own}`))).toBe(true);
        expect(await t.market.sagas.listFailed()).toEqual([]);
        const listing = await t.market.listings.get('lst-lamp');
        expect(listing).toMatchObject({ sold: 4, available: 6, title: 'Lamp' });
        await checkMarketInvariants(t.market, { provider: t.psp });
      }
      // A tenant's webhook endpoint id means nothing in the other tenant.
      expect(await codeOf(beta.market.webhooks.get(results['alpha']!.endpointId))).toBe('NOT_FOUND');
      expect(await codeOf(alpha.market.webhooks.get(results['beta']!.endpointId))).toBe('NOT_FOUND');
      // Solo, which ran before both, is unchanged by them.
      const solo = await tenants.solo.market.ledger.getAccount('acct-cash');
      expect(solo?.debitsPosted).toBe(12_34n);
    });

    it('isolates the default tenant of a marketplace made without a tenant', async () => {
      const { default: plain, alpha } = tenants;
      const m = plain.market;
      expect(await m.listings.get('lst-lamp')).toBeUndefined();
      expect(await m.orders.get('ord-1')).toBeUndefined();
      expect((await m.orders.feed()).events).toEqual([]);
      await m.ledger.createAccounts([
        { id: 'acct-cash', currency: 'EUR', code: 9 },
        { id: 'acct-wallet', currency: 'EUR', code: 9 },
      ]);
      expect(
        await m.ledger.createTransfers([
          { id: 'tr-1', debitAccountId: 'acct-cash', creditAccountId: 'acct-wallet', amount: 7n, currency: 'EUR' },
        ]),
      ).toEqual([{ index: 0, id: 'tr-1', result: 'ok' }]);
      await m.listings.create({
        id: 'lst-lamp',
        sellerId: 'carol',
        title: 'Default',
        price: Money.of('9.00', 'EUR'),
        quantity: 3,
      });
      await drain(m);
      expect(plain.delivered.map((e) => e.type)).toEqual(['transfer.created']);
      expect(plain.delivered[0]?.payload).toMatchObject({ amount: '7' });
      expect(await m.listings.get('lst-lamp')).toMatchObject({ sellerId: 'carol', quantity: 3, sold: 0 });
      expect(await m.ledger.getAccount('acct-cash')).toMatchObject({ currency: 'EUR', debitsPosted: 7n });
      await expectBlind(m, 'alpha');
      expect(await alpha.market.listings.get('lst-lamp')).toMatchObject({ sellerId: 'bob', title: 'Lamp', sold: 4 });
      expect(await alpha.market.ledger.getAccount('acct-cash')).toMatchObject({
        currency: 'USD',
        debitsPosted: 12_35n,
      });
      const before = alpha.delivered.length;
      await drain(alpha.market);
      expect(alpha.delivered.length).toBe(before);
      await checkMarketInvariants(m);
    });
  });
}
