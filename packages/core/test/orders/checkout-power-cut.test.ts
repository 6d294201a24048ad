/**
 * On SQLite with `synchronous = FULL`, a checkout syncs two of its three commits: the order's (before the provider
 * is called) and the confirm (before the caller hears "paid"). The authorization record in between commits without
 * waiting for the disk, because losing it costs nothing: the saga, durable since the order's commit, replays the
 * authorization and the capture by their keys. These tests read which statements ran unsynced, then cut the power
 * at the worst moment (the record and everything after it lost, the capture already taken) and recover.
 */
import { copyFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sqliteAdapter } from '@marketkit/adapters/sqlite';
import { createMarketplace, type Marketplace, Money } from '@marketkit/core';
import { checkMarketInvariants, ManualClock } from '@marketkit/testing';
import Database from 'better-sqlite3';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { HookedProvider } from './fixtures/hooked-provider.js';

describe('checkout commits on a SQLite file with synchronous = FULL', () => {
  let dir: string;
  const markets: Marketplace[] = [];
  let n = 0;

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'marketkit-power-cut-'));
  });
  afterEach(async () => {
    for (const m of markets.splice(0)) await m.close();
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  const open = (file: string, payments: HookedProvider, clock: ManualClock, log?: string[]) => {
    const database = new Database(file, log === undefined ? {} : { verbose: (s) => log.push(String(s)) });
    const market = createMarketplace({ adapter: sqliteAdapter({ database }), payments, clock });
    markets.push(market);
    return market;
  };
  const listing = async (market: Marketplace) =>
    (
      await market.listings.create({
        sellerId: `seller-${++n}`,
        title: 'Kettle',
        price: Money.of('25.00', 'USD'),
        quantity: 5,
      })
    ).id;

  it('syncs the order’s commit and the confirm; only the authorization record commits unsynced', async () => {
    const log: string[] = [];
    const market = open(join(dir, 'statements.db'), new HookedProvider(), new ManualClock(), log);
    await market.migrate();
    const listingId = await listing(market);
    log.length = 0;
    const order = await market.orders.checkout({
      buyerId: 'bob',
      listingId,
      quantity: 1,
      paymentMethod: 'tok_visa',
      idempotencyKey: 'power-cut-statements',
    });
    expect(order.state).toBe('paid');
    let relaxed = false;
    const unsynced: string[] = [];
    const commits: string[] = [];
    for (const statement of log) {
      if (statement === 'pragma synchronous = NORMAL') relaxed = true;
      else if (statement === 'pragma synchronous = FULL') relaxed = false;
      else if (relaxed) unsynced.push(statement);
      else if (statement === 'commit') commits.push(statement);
    }
    expect(relaxed).toBe(false);
    expect(unsynced).toHaveLength(1);
    expect(unsynced[0]).toMatch(/^update "mk_orders" set "authorization_id" = '[^']+' where "id" = /);
    expect(commits).toHaveLength(2);
  });

  it('recovers a power cut that lost the authorization record after the capture went through: paid, charged once', async () => {
    const file = join(dir, 'cut.db');
    const snapshot = join(dir, 'cut-snapshot.db');
    const psp = new HookedProvider();
    const clock = new ManualClock();
    const before = open(file, psp, clock);
    await before.migrate();
    const listingId = await listing(before);
    const orderId = `ord-power-cut-${n}`;
    // The disk as a power cut right after the capture would leave it: every commit up to the order's (synced),
    // none after (the authorization record never synced; the confirm never ran). A consistent copy taken while the
    // provider has authorized and the record is not yet written is exactly that.
    psp.afterAuthorize = async () => {
      const reader = new Database(file, { readonly: true });
      try {
        await reader.backup(snapshot);
      } finally {
        reader.close();
      }
    };
    const paid = await before.orders.checkout({
      orderId,
      buyerId: 'bob',
      listingId,
      quantity: 2,
      paymentMethod: 'tok_visa',
    });
    expect(paid).toMatchObject({ state: 'paid' });
    const effects = psp.effects();
    await before.close();
    markets.splice(markets.indexOf(before), 1);

    for (const suffix of ['-wal', '-shm']) rmSync(file + suffix, { force: true });
    copyFileSync(snapshot, file);
    const after = open(file, psp, clock);
    expect(await after.orders.get(orderId)).toMatchObject({
      state: 'checkout',
      authorizationId: null,
      captureId: null,
    });
    expect(await after.sagas.get(`checkout:${orderId}`)).toMatchObject({ status: 'running', stepIndex: 1 });

    // The inline caller's lease runs out (it died with the power); a worker takes the saga over and replays.
    clock.advance(61_000);
    await after.worker().runOnce();
    expect(await after.sagas.get(`checkout:${orderId}`)).toMatchObject({ status: 'completed' });
    const recovered = await after.orders.get(orderId);
    expect(recovered).toMatchObject({
      state: 'paid',
      authorizationId: paid.authorizationId,
      captureId: paid.captureId,
    });
    // Replays answered from the provider's keys: nothing authorized, captured or voided again.
    expect(psp.effects()).toMatchObject({
      counts: effects.counts,
      capturedMinor: effects.capturedMinor,
      openAuthorizedMinor: effects.openAuthorizedMinor,
    });
    expect(psp.effects().calls.capture).toBe(effects.calls.capture + 1);
    expect(await after.listings.get(listingId)).toMatchObject({ sold: 2, reserved: 0 });
    await checkMarketInvariants(after);
  });
});
