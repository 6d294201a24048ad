/**
 * Adapter and marketplace options are input like any other (issue 17, point 3): `postgresAdapter({ max: -1 })`
 * made `migrate()` hang, SQLite's `synchronous` was pasted into a PRAGMA, a commission of '150' or a
 * `stockStrategy` of 'bogus' were taken, `tablePrefix: ''` made unprefixed tables beside the host's, and a bad
 * connection URL or a server that cannot be reached surfaced as a raw pg error. Each bad option now fails with
 * VALIDATION_FAILED when the adapter or marketplace is made, before anything is opened; the same on both databases.
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { postgresAdapter } from '@marketkit/adapters/postgres';
import { sqliteAdapter } from '@marketkit/adapters/sqlite';
import { createMarketplace, type Marketplace, type MarketplaceOptions, Money } from '@marketkit/core';
import { propertyRuns, requirePostgresUrl, type TestDatabase, testBackends } from '@marketkit/testing';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const MAX_MS = 2 ** 31 - 1;

/** What a call threw, as a code: `'ok'` when it returned. */
function outcomeOf(make: () => unknown): string {
  try {
    make();
    return 'ok';
  } catch (e) {
    return (e as { code?: string }).code ?? `raw ${String(e)}`;
  }
}

const isWholeMs = (v: unknown, min: number) => Number.isInteger(v) && (v as number) >= min && (v as number) <= MAX_MS;

/** A value for an option: often of the wrong type, out of range or hostile text, sometimes a good one. */
const anyValue = fc.oneof(
  fc.anything(),
  fc.integer({ min: -5, max: 2000 }),
  fc.constantFrom(Number.NaN, Number.POSITIVE_INFINITY, -1, 0, 1.5, 2 ** 31, '10', '', 'FULL', 'NORMAL', 'off'),
  fc.constantFrom('full', 'NORMAL; PRAGMA foreign_keys = OFF', 'a\u0000b', 'l\uD800', 'bogus', null, true),
);

describe('sqlite adapter options', () => {
  const dir = mkdtempSync(join(tmpdir(), 'marketkit-options-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  let n = 0;

  /** The documented options, written independently of the adapter's schema. */
  const valid = (o: { synchronous?: unknown; busyTimeoutMs?: unknown }) =>
    (o.synchronous === undefined || o.synchronous === 'FULL' || o.synchronous === 'NORMAL') &&
    (o.busyTimeoutMs === undefined || isWholeMs(o.busyTimeoutMs, 0));

  it('takes only FULL or NORMAL and a whole number of ms from 0, refusing the rest before opening the file', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.record({ synchronous: anyValue, busyTimeoutMs: anyValue }, { requiredKeys: [] }),
        async (options) => {
          const filename = join(dir, `db-${n++}.sqlite`);
          const outcome = outcomeOf(() => sqliteAdapter({ filename, ...(options as object) }));
          expect(outcome).toBe(valid(options) ? 'ok' : 'VALIDATION_FAILED');
          if (outcome !== 'ok') expect(existsSync(filename)).toBe(false);
        },
      ),
      { numRuns: propertyRuns(300) },
    );
  });

  it('refuses text pasted into a PRAGMA, lower-case or undocumented modes, a misspelt option, a NUL in a path', () => {
    const filename = join(dir, 'named.sqlite');
    for (const bad of [
      { filename, synchronous: 'FULL; PRAGMA foreign_keys = OFF' },
      { filename, synchronous: 'off' },
      { filename, synchronous: 'full' },
      { filename, synchronous: 'OFF' },
      { filename, synchronous: 'EXTRA' },
      { filename, busyTimeoutMs: '100' },
      { filename, busyTimeoutMs: Number.NaN },
      { filename, busyTimeoutMs: -1 },
      { filename, busyTimout: 100 },
      { filename: '' },
      { filename: `${filename}\u0000x` },
      { filename, database: {} },
    ]) {
      expect(
        outcomeOf(() => sqliteAdapter(bad as never)),
        JSON.stringify(bad),
      ).toBe('VALIDATION_FAILED');
    }
    expect(existsSync(filename)).toBe(false);
  });

  it('still opens with the documented options', async () => {
    const market = createMarketplace({
      adapter: sqliteAdapter({ filename: join(dir, 'good.sqlite'), synchronous: 'NORMAL', busyTimeoutMs: 0 }),
    });
    await market.migrate();
    await market.close();
  });
});

describe.runIf(testBackends().some((b) => b.name === 'postgres'))('postgres adapter options', () => {
  const url = () => requirePostgresUrl();

  it('refuses a pool size or timeout that is not a whole number in range, before connecting (max -1 hung migrate)', () => {
    const validMax = (v: unknown) =>
      v === undefined || (Number.isInteger(v) && (v as number) >= 1 && (v as number) <= 1000);
    const validTimeout = (v: unknown) => v === undefined || isWholeMs(v, 0);
    fc.assert(
      fc.property(fc.record({ max: anyValue, statementTimeoutMs: anyValue }, { requiredKeys: [] }), (options) => {
        const outcome = outcomeOf(() => postgresAdapter({ connectionString: url(), ...(options as object) }));
        const valid = validMax(options.max) && validTimeout(options.statementTimeoutMs);
        expect(outcome).toBe(valid ? 'ok' : 'VALIDATION_FAILED');
      }),
      { numRuns: propertyRuns(300) },
    );
  });

  it('refuses no connection, two connections, a malformed URL, a bad application name, without repeating the URL', () => {
    const secret = 'postgres://u:s3cr3t-pw@[::1/db';
    for (const bad of [
      {},
      { connectionString: '' },
      { connectionString: secret },
      { connectionString: 'http://127.0.0.1/db' },
      { connectionString: 'not a url' },
      { connectionString: 'postgres://127.0.0.1/db\u0000' },
      { connectionString: url(), pool: { connect: async () => ({}) } },
      { connectionString: url(), applicationName: 'caf\u00e9' },
      { connectionString: url(), applicationName: 'x'.repeat(64) },
      { connectionString: url(), planCacheMode: 'FAST' },
      { connectionString: url(), maxConnections: 4 },
    ]) {
      let error: unknown;
      try {
        postgresAdapter(bad as never);
      } catch (e) {
        error = e;
      }
      expect(error, JSON.stringify(bad)).toMatchObject({ code: 'VALIDATION_FAILED' });
      expect(
        JSON.stringify({ message: (error as Error).message, details: (error as { details?: unknown }).details }),
      ).not.toContain('s3cr3t');
    }
  });

  it('fails migrate() with CONNECTION_LOST for a server that cannot be reached and STORAGE_ERROR for a missing database', async () => {
    const unreachable = createMarketplace({
      adapter: postgresAdapter({ connectionString: 'postgres://root@127.0.0.1:1/none' }),
    });
    await expect(unreachable.migrate()).rejects.toMatchObject({ code: 'CONNECTION_LOST' });
    await expect(unreachable.ledger.getAccount('a')).rejects.toMatchObject({ code: 'CONNECTION_LOST' });
    await unreachable.close();
    const target = new URL(url());
    target.pathname = '/mk_no_such_database_here';
    const missing = createMarketplace({ adapter: postgresAdapter({ connectionString: target.toString() }) });
    await expect(missing.migrate()).rejects.toMatchObject({ code: 'STORAGE_ERROR' });
    await missing.close();
  });
});

for (const backend of testBackends()) {
  describe(`marketplace options on ${backend.name}`, () => {
    let database: TestDatabase;

    beforeAll(async () => {
      database = await backend.createDatabase();
    });
    afterAll(async () => {
      await database?.drop();
    });

    const make = (options: Record<string, unknown>) =>
      outcomeOf(() => createMarketplace({ adapter: database.adapter(), ...options } as MarketplaceOptions));

    it('refuses each bad option with VALIDATION_FAILED when the marketplace is made', () => {
      const percent = (p: unknown) => ({ commission: { kind: 'percentage', percent: p } });
      for (const bad of [
        { tablePrefix: '' },
        { tablePrefix: 'Bad-Prefix' },
        { tablePrefix: 'x\uD800' },
        percent('NaN'),
        percent('150'),
        percent('100.5'),
        percent(10),
        { commission: { kind: 'bogus' } },
        { listings: { stockStrategy: 'bogus' } },
        { listings: { stockStratgy: 'rowLock' } },
        { pendingOpTimeoutMs: Number.NaN },
        { pendingOpTimeoutMs: -1 },
        { pendingOpTimeoutMs: 0 },
        { pendingOpTimeoutMs: '60000' },
        { pendingOpTimeoutMs: 1.5 },
        { idempotency: { ttlMs: -1 } },
        { events: { publishers: 'nats' } },
        { events: { publishers: [{}] } },
        { events: { relay: { batchSize: 0 } } },
        { events: { relay: { owner: 'relay\u0000' } } },
        { sagas: 'checkout' },
        { sagas: [{}] },
        { jobs: [{ kind: 'x' }] },
        { payments: {} },
        { clock: { now: 5 } },
        { logger: console.log },
        { logger: { error: () => {} } },
        { process: 'purchase' },
        { ledger: 'coalesce' },
        { ledger: { coalesce: 'yes' } },
        { ledger: { coalesce: { maxBatch: 0 } } },
        { ledger: { coalesce: { maxBatch: 8191 } } },
        { ledger: { coalesce: { maxBatch: 1.5 } } },
        { ledger: { coalesc: true } },
      ]) {
        expect(make(bad), JSON.stringify(bad)).toBe('VALIDATION_FAILED');
      }
    });

    it('takes the documented values, and refuses bad worker options and a commission past 100 % on a listing', async () => {
      let market: Marketplace | undefined;
      try {
        market = createMarketplace({
          adapter: database.adapter(),
          tablePrefix: 'opt_',
          commission: { kind: 'percentage', percent: '100' },
          listings: { stockStrategy: 'rowLock' },
          pendingOpTimeoutMs: 1,
          ledger: { coalesce: { maxBatch: 1 } },
        });
        await market.migrate();
        const m = market;
        for (const bad of [{ onError: 'log' }, { extraPollers: [{}] }, { concurrency: 0 }, { owner: 'w\uDC00' }]) {
          expect(
            outcomeOf(() => m.worker(bad as never)),
            JSON.stringify(bad),
          ).toBe('VALIDATION_FAILED');
        }
        const listing = { sellerId: 'bob', title: 'Lamp', price: Money.of('1.00', 'USD'), quantity: 1 };
        for (const percent of ['150', 'NaN', '100.000001']) {
          await expect(
            m.listings.create({ ...listing, commission: { kind: 'percentage', percent } }),
            percent,
          ).rejects.toMatchObject({ code: 'VALIDATION_FAILED' });
        }
        await expect(
          m.listings.create({ ...listing, commission: { kind: 'percentage', percent: '100' } }),
        ).resolves.toMatchObject({ title: 'Lamp' });
      } finally {
        await market?.close();
      }
    });
  });
}
