import { hasErrorCode, type StorageCapabilities } from '@marketkit/core';
import { ManualClock, propertyRuns, type TestDatabase, testBackends } from '@marketkit/testing';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Lease } from '../../src/locking/lease-types.js';
import { Leases } from '../../src/locking/leases.js';
import type { Storage } from '../../src/storage/storage.js';
import { closeAll, openStorages } from './locking-fixture.js';

const OWNERS = ['w0', 'w1', 'w2', 'w3'] as const;
type Owner = (typeof OWNERS)[number];

/** What the database should hold for the lease, and every lease object handed out so far (renewals included). */
interface Model {
  owner: Owner | null;
  token: bigint;
  expiresAt: number;
  readonly history: Lease[];
}

/** The system under test for one run: a fresh lease name, shared clock, one `Leases` per simulated process. */
interface Real {
  readonly name: string;
  readonly clock: ManualClock;
  readonly leases: readonly Leases[];
  readonly storage: Storage;
  readonly stats: Stats;
  step: number;
}

/** What the runs exercised, so the property cannot pass vacuously. */
interface Stats {
  takeovers: number;
  lostRaces: number;
  staleFenced: number;
  fenced: number;
}

const leasesOf = (r: Real, owner: Owner) => r.leases[OWNERS.indexOf(owner) % r.leases.length] as Leases;
const isFree = (m: Model, now: number) => m.owner === null || m.expiresAt <= now;
/** Whether `lease` is the one the database says is held (expired but not taken over counts: no newer token). */
const isCurrent = (m: Model, lease: Lease) => m.owner === lease.owner && m.token === lease.token;
/** A lease from the history, chosen by an arbitrary index: often the latest, sometimes a stale one. */
const pick = (m: Readonly<Model>, index: number) =>
  m.history[m.history.length - 1 - (index % m.history.length)] as Lease;

function recordWin(m: Model, r: Real, lease: Lease): void {
  if (m.owner !== null) r.stats.takeovers += 1;
  expect(lease.token).toBe(m.token + 1n); // strictly increasing, by exactly one per acquisition
  m.owner = lease.owner as Owner;
  m.token = lease.token;
  m.expiresAt = lease.expiresAt;
  m.history.push(lease);
}

/** After every command: the row matches the model, and of each owner's latest lease at most one passes the fence. */
async function checkInvariants(m: Model, r: Real): Promise<void> {
  const status = await r.leases[0]?.inspect(r.name);
  if (m.token === 0n) {
    expect(status).toBeUndefined();
    return;
  }
  expect(status).toMatchObject({ owner: m.owner, token: m.token, expiresAt: m.expiresAt });
  const latest = new Map(m.history.map((lease) => [lease.owner, lease]));
  const passing: Lease[] = [];
  for (const lease of latest.values()) {
    const outcome = await r.storage
      .transaction((trx) => leasesOf(r, lease.owner as Owner).assertHeld(trx, lease))
      .then(
        () => 'held',
        (e: unknown) => (hasErrorCode(e, 'LEASE_LOST') ? 'lost' : Promise.reject(e)),
      );
    const passed = outcome === 'held';
    if (passed) passing.push(lease);
  }
  expect(passing.length).toBeLessThanOrEqual(1);
  expect(passing).toEqual([...latest.values()].filter((lease) => isCurrent(m, lease)));
}

class Acquire implements fc.AsyncCommand<Model, Real> {
  constructor(
    readonly owner: Owner,
    readonly ttl: number,
  ) {}
  check = () => true;
  async run(m: Model, r: Real) {
    const free = isFree(m, r.clock.now());
    const lease = await leasesOf(r, this.owner).acquire(r.name, this.owner, this.ttl);
    if (!free) expect(lease).toBeUndefined();
    else {
      expect(lease).toEqual({
        name: r.name,
        owner: this.owner,
        token: m.token + 1n,
        expiresAt: r.clock.now() + this.ttl,
      });
      recordWin(m, r, lease as Lease);
    }
    await checkInvariants(m, r);
  }
  toString = () => `acquire(${this.owner}, ${this.ttl})`;
}

class Race implements fc.AsyncCommand<Model, Real> {
  constructor(
    readonly owners: readonly Owner[],
    readonly ttl: number,
  ) {}
  check = () => true;
  async run(m: Model, r: Real) {
    const free = isFree(m, r.clock.now());
    const results = await Promise.all(this.owners.map((o) => leasesOf(r, o).acquire(r.name, o, this.ttl)));
    const winners = results.filter((l) => l !== undefined);
    expect(winners).toHaveLength(free ? 1 : 0);
    r.stats.lostRaces += results.length - winners.length;
    if (winners[0] !== undefined) recordWin(m, r, winners[0]);
    await checkInvariants(m, r);
  }
  toString = () => `race(${this.owners.join(', ')}; ${this.ttl})`;
}

class Renew implements fc.AsyncCommand<Model, Real> {
  constructor(
    readonly index: number,
    readonly ttl: number,
  ) {}
  check = (m: Readonly<Model>) => m.history.length > 0;
  async run(m: Model, r: Real) {
    const lease = pick(m, this.index);
    const renewal = leasesOf(r, lease.owner as Owner).renew(lease, this.ttl);
    if (isCurrent(m, lease)) {
      const renewed = await renewal;
      expect(renewed).toEqual({ ...lease, expiresAt: r.clock.now() + this.ttl });
      m.expiresAt = renewed.expiresAt;
      m.history.push(renewed);
    } else {
      await expect(renewal).rejects.toMatchObject({ code: 'LEASE_LOST' });
    }
    await checkInvariants(m, r);
  }
  toString = () => `renew(#${this.index}, ${this.ttl})`;
}

class Release implements fc.AsyncCommand<Model, Real> {
  constructor(readonly index: number) {}
  check = (m: Readonly<Model>) => m.history.length > 0;
  async run(m: Model, r: Real) {
    const lease = pick(m, this.index);
    const current = isCurrent(m, lease);
    expect(await leasesOf(r, lease.owner as Owner).release(lease)).toBe(current);
    if (current) {
      m.owner = null;
      m.expiresAt = r.clock.now();
    }
    await checkInvariants(m, r);
  }
  toString = () => `release(#${this.index})`;
}

/** Work under a lease: a write, then the fence. A stale holder's write must not survive. */
class FencedWrite implements fc.AsyncCommand<Model, Real> {
  constructor(readonly index: number) {}
  check = (m: Readonly<Model>) => m.history.length > 0;
  async run(m: Model, r: Real) {
    r.step += 1;
    const id = `${r.name}-${r.step}`;
    const lease = pick(m, this.index);
    const work = r.storage.transaction(async (trx) => {
      await trx.insertInto('accounts').values({ id, code: 1, currency: 'USD', flags: 0, created_at: 0 }).execute();
      await leasesOf(r, lease.owner as Owner).assertHeld(trx, lease);
    });
    const current = isCurrent(m, lease);
    r.stats[current ? 'fenced' : 'staleFenced'] += 1;
    if (current) await work;
    else await expect(work).rejects.toMatchObject({ code: 'LEASE_LOST' });
    const row = await r.storage.run((db) =>
      db.selectFrom('accounts').select('id').where('id', '=', id).executeTakeFirst(),
    );
    expect(row !== undefined).toBe(current);
  }
  toString = () => `fencedWrite(#${this.index})`;
}

class Advance implements fc.AsyncCommand<Model, Real> {
  constructor(readonly ms: number | 'toExpiry') {}
  check = () => true;
  async run(m: Model, r: Real) {
    if (this.ms === 'toExpiry') r.clock.set(Math.max(r.clock.now(), m.expiresAt));
    else r.clock.advance(this.ms);
  }
  toString = () => `advance(${this.ms})`;
}

const owner = fc.constantFrom(...OWNERS);
const index = fc.oneof(fc.constant(0), fc.nat(40));
const ttl = fc.oneof(fc.constantFrom(1, 100, 1000), fc.integer({ min: 1, max: 2000 }));
const commands = fc.commands(
  [
    fc.tuple(owner, ttl).map(([o, t]) => new Acquire(o, t)),
    fc.tuple(fc.uniqueArray(owner, { minLength: 2, maxLength: OWNERS.length }), ttl).map(([os, t]) => new Race(os, t)),
    fc.tuple(index, ttl).map(([i, t]) => new Renew(i, t)),
    index.map((i) => new Release(i)),
    index.map((i) => new FencedWrite(i)),
    fc.oneof(fc.integer({ min: 0, max: 1500 }), fc.constant('toExpiry' as const)).map((ms) => new Advance(ms)),
  ],
  { maxCommands: 30, size: '+1' },
);

for (const backend of testBackends()) {
  describe(`lease model on ${backend.name}`, () => {
    let database: TestDatabase;
    let storages: Storage[];
    let caps: StorageCapabilities;

    beforeAll(async () => {
      database = await backend.createDatabase();
      caps = database.adapter().capabilities;
      // Separate pools race for real where writers are concurrent; SQLite keeps one connection per process.
      storages = await openStorages(database, caps.concurrentWriters ? OWNERS.length : 1, 4);
    });
    afterAll(async () => {
      await closeAll(storages);
      await database?.drop();
    });

    it('keeps at most one holder, strictly increasing tokens and fenced stale holders, under any interleaving', async () => {
      const clock = new ManualClock();
      const leases = storages.map((s) => new Leases(s, clock));
      let run = 0;
      const stats: Stats = { takeovers: 0, lostRaces: 0, staleFenced: 0, fenced: 0 };
      await fc.assert(
        fc.asyncProperty(commands, async (cmds) => {
          run += 1;
          const setup = () => ({
            model: { owner: null, token: 0n, expiresAt: 0, history: [] } satisfies Model,
            real: { name: `model-${run}`, clock, leases, storage: storages[0] as Storage, stats, step: 0 },
          });
          await fc.asyncModelRun(setup, cmds);
        }),
        { numRuns: propertyRuns(100) },
      );
      const unexercised = Object.entries(stats).filter(([, count]) => count === 0);
      expect(unexercised, 'every kind of event happened in some run').toEqual([]);
    });
  });
}
