/**
 * `market.backup(path)` on SQLite (issue 20, part G): an online copy taken while checkouts and ledger transfers keep
 * running opens as a marketplace whose invariants hold; its worker finishes the checkout that was waiting on a
 * timed-out provider call, once, with the same provider keys (no money moved twice); reconciliation against the
 * provider finds exactly the checkouts the copy missed, as captures it does not record.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sqliteAdapter } from '@marketkit/adapters/sqlite';
import { createMarketplace, type Marketplace, Money, silentLogger } from '@marketkit/core';
import { checkMarketInvariants, ManualClock, SandboxPaymentProvider } from '@marketkit/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const dir = mkdtempSync(join(tmpdir(), 'mk-backup-'));
const live = join(dir, 'live.db');
const copy = join(dir, 'copy.db');
const clock = new ManualClock();
const psp = new SandboxPaymentProvider({ clock });
const open = (filename: string): Marketplace =>
  createMarketplace({ adapter: sqliteAdapter({ filename }), clock, payments: psp, logger: silentLogger });

describe('market.backup on a SQLite file under load', () => {
  let market: Marketplace;
  let restored: Marketplace | undefined;

  beforeAll(async () => {
    market = open(live);
    await market.migrate();
    await market.ledger.createAccounts([
      { id: 'a', currency: 'USD', code: 1 },
      { id: 'b', currency: 'USD', code: 1 },
    ]);
  });
  afterAll(async () => {
    await restored?.close();
    await market?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const checkout = async (orderId: string) => {
    const { id } = await market.listings.create({
      sellerId: `seller-${orderId}`,
      title: 'Lamp',
      price: Money.of('20.00', 'USD'),
      quantity: 3,
    });
    return market.orders.checkout({ orderId, buyerId: 'alice', listingId: id, quantity: 1, paymentMethod: 'tok_visa' });
  };

  it('copies a consistent database while writes go on; the copy resumes in-flight sagas once', async () => {
    // In flight: the provider captured, the caller saw a timeout; the saga waits for a retry.
    psp.injectFault('capture', 'errorAfterApply');
    await expect(checkout('ord-inflight')).rejects.toMatchObject({ code: 'PROVIDER_TIMEOUT' });
    expect(await market.sagas.get('checkout:ord-inflight')).toMatchObject({ status: 'running', stepIndex: 2 });
    for (let i = 0; i < 20; i++) await checkout(`ord-before-${i}`);
    const acknowledgedBefore = Array.from({ length: 20 }, (_, i) => `ord-before-${i}`);

    // Load: checkouts and transfers running while the backup copies.
    let backingUp = true;
    const loadOrders: string[] = [];
    let transfers = 0;
    const load = async (worker: number) => {
      // While the backup runs, then two more each after it finished (those the copy cannot have).
      let after = 0;
      for (let i = 0; backingUp || after++ < 2; i++) {
        const orderId = `ord-load-${worker}-${i}`;
        loadOrders.push(orderId);
        await checkout(orderId);
        const [r] = await market.ledger.createTransfers([
          { id: `t-${worker}-${i}`, debitAccountId: 'a', creditAccountId: 'b', amount: 1n, currency: 'USD' },
        ]);
        expect(r?.result).toBe('ok');
        transfers++;
        // Everything here is synchronous SQLite under promises: yield to the event loop, as requests arriving
        // over the network do, so the backup's steps (scheduled with setImmediate) get their turn.
        await new Promise((resolve) => setImmediate(resolve));
      }
    };
    const loads = [0, 1, 2].map(load);
    const result = await market.backup(copy);
    backingUp = false;
    await Promise.all(loads);
    expect(result).toMatchObject({ destination: copy, totalPages: expect.any(Number) });
    expect(result.totalPages).toBeGreaterThan(0);
    expect(transfers).toBe(loadOrders.length);
    // The live database is consistent too (its in-flight capture is recorded only once a worker retries it).
    await checkMarketInvariants(market);

    // Restore: a new marketplace on the copy.
    restored = open(copy);
    await restored.migrate();
    await checkMarketInvariants(restored);
    for (const id of acknowledgedBefore) expect(await restored.orders.get(id)).toMatchObject({ state: 'paid' });
    expect(await restored.sagas.get('checkout:ord-inflight')).toMatchObject({ status: 'running', stepIndex: 2 });

    // Its worker resumes the waiting checkout: the retry finds the capture under the same key, nothing is charged.
    const captures = psp.effects().counts.capture;
    const authorizations = psp.effects().counts.authorize;
    clock.advance(5 * 60 * 1000);
    const worker = restored.worker({ logger: silentLogger });
    await worker.runOnce();
    await worker.runOnce();
    expect(await restored.sagas.get('checkout:ord-inflight')).toMatchObject({ status: 'completed' });
    expect(await restored.orders.get('ord-inflight')).toMatchObject({ state: 'paid' });
    expect(psp.effects().counts.capture).toBe(captures);
    expect(psp.effects().counts.authorize).toBe(authorizations);
    await checkMarketInvariants(restored);

    // What the copy lacks are the checkouts paid after it: each one is a capture it does not record, and nothing else.
    const missed: string[] = [];
    for (const id of loadOrders) {
      const order = await restored.orders.get(id).catch(() => undefined);
      if (order?.state !== 'paid') missed.push(id);
    }
    const report = await restored.payments.reconcile({ from: 0, to: clock.now() + 1, provider: psp });
    const unrecorded = report.discrepancies.filter((d) => d.kind === 'capture_not_recorded').map((d) => d.orderId);
    expect(unrecorded.sort()).toEqual([...missed].sort());
    expect(
      report.discrepancies.filter((d) => d.kind !== 'capture_not_recorded' && !missed.includes(d.orderId ?? '')),
    ).toEqual([]);
    // Some load ran after the copy's last step, and some went into it: writes went on during the backup.
    expect(missed.length).toBeGreaterThanOrEqual(6);
    expect(missed.length).toBeLessThan(loadOrders.length);
  });

  it('copies an in-memory database to a file that opens with what it held', async () => {
    const memory = createMarketplace({ adapter: sqliteAdapter(), clock, payments: psp, logger: silentLogger });
    const file = join(dir, 'from-memory.db');
    try {
      await memory.migrate();
      await memory.ledger.createAccounts([{ id: 'kept', currency: 'EUR', code: 7 }]);
      expect((await memory.backup(file)).totalPages).toBeGreaterThan(0);
    } finally {
      await memory.close();
    }
    const reopened = open(file);
    try {
      expect((await reopened.migrationStatus()).pending).toEqual([]);
      expect(await reopened.ledger.getAccount('kept')).toMatchObject({ id: 'kept', currency: 'EUR', code: 7 });
    } finally {
      await reopened.close();
    }
  });

  it('refuses a bad path with VALIDATION_FAILED, the live file included', async () => {
    for (const path of ['', '   ', ':memory:', 'file:copy.db?mode=memory', live, 42]) {
      await expect(market.backup(path as string)).rejects.toMatchObject({ code: 'VALIDATION_FAILED' });
    }
  });
});
