import { createMarketplace, isMarketkitError, type Marketplace, Money, type StockStrategy } from '@marketkit/core';
import { checkStockInvariants, ManualClock, propertyRuns, type TestDatabase, testBackends } from '@marketkit/testing';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

interface ModelReservation {
  listing: number;
  quantity: number;
  status: 'active' | 'sold' | 'released' | 'expired';
  expiresAt: number;
}
interface Model {
  now: number;
  quantity: number[];
  reservations: ModelReservation[];
}
interface Real {
  market: Marketplace;
  clock: ManualClock;
  prefix: string;
  ids: string[];
}

const LISTINGS = 2;

function counters(m: Model, listing: number) {
  let sold = 0;
  let reserved = 0;
  for (const r of m.reservations) {
    if (r.listing !== listing) continue;
    if (r.status === 'sold') sold += r.quantity;
    if (r.status === 'active') reserved += r.quantity;
  }
  return { sold, reserved, available: (m.quantity[listing] ?? 0) - sold - reserved };
}

async function codeOf(p: Promise<unknown>): Promise<string> {
  try {
    await p;
    return 'ok';
  } catch (e) {
    if (isMarketkitError(e)) return e.code;
    throw e;
  }
}

class Reserve implements fc.AsyncCommand<Model, Real> {
  constructor(
    readonly listing: number,
    readonly quantity: number,
    readonly ttlMs: number,
  ) {}
  check = () => true;
  async run(m: Model, r: Real) {
    const code = await codeOf(
      r.market.listings.reserve({
        listingId: `${r.prefix}-l${this.listing}`,
        quantity: this.quantity,
        ttlMs: this.ttlMs,
        reservationId: `${r.prefix}-r${m.reservations.length}`,
      }),
    );
    const ok = counters(m, this.listing).available >= this.quantity;
    expect(code).toBe(ok ? 'ok' : 'INSUFFICIENT_STOCK');
    if (ok) {
      m.reservations.push({
        listing: this.listing,
        quantity: this.quantity,
        status: 'active',
        expiresAt: m.now + this.ttlMs,
      });
      r.ids.push(`${r.prefix}-r${m.reservations.length - 1}`);
    }
  }
  toString = () => `reserve(l${this.listing}, ${this.quantity}, ${this.ttlMs}ms)`;
}

class Move implements fc.AsyncCommand<Model, Real> {
  constructor(
    readonly pick: number,
    readonly move: 'markSold' | 'release' | 'restock',
  ) {}
  check = (m: Readonly<Model>) => m.reservations.length > 0;
  async run(m: Model, r: Real) {
    const i = this.pick % m.reservations.length;
    const res = m.reservations[i]!;
    const code = await codeOf(r.market.listings[this.move](r.ids[i]!));
    const due = res.status === 'active' && res.expiresAt <= m.now;
    let expected = 'INVALID_TRANSITION';
    if (this.move === 'markSold') {
      if (due) [expected, res.status] = ['RESERVATION_EXPIRED', 'expired'];
      else if (res.status === 'expired')
        expected = 'RESERVATION_EXPIRED'; // swept by the expiry job, or a sale before
      else if (res.status === 'active') [expected, res.status] = ['ok', 'sold'];
      else if (res.status === 'sold') expected = 'ok';
    } else if (this.move === 'release') {
      if (res.status === 'active') [expected, res.status] = ['ok', 'released'];
      else if (res.status === 'released' || res.status === 'expired') expected = 'ok';
    } else if (res.status === 'sold') [expected, res.status] = ['ok', 'released'];
    else if (res.status === 'released') expected = 'ok';
    else if (due) [expected, res.status] = ['RESERVATION_EXPIRED', 'expired'];
    expect(code, `${this.move} of reservation ${i} (${res.status})`).toBe(expected);
  }
  toString = () => `${this.move}(#${this.pick})`;
}

class Advance implements fc.AsyncCommand<Model, Real> {
  constructor(readonly ms: number) {}
  check = () => true;
  async run(m: Model, r: Real) {
    m.now += this.ms;
    r.clock.advance(this.ms);
  }
  toString = () => `advance(${this.ms})`;
}

class Sweep implements fc.AsyncCommand<Model, Real> {
  check = () => true;
  async run(m: Model, r: Real) {
    await r.market.listings.expireReservations();
    for (const res of m.reservations) if (res.status === 'active' && res.expiresAt <= m.now) res.status = 'expired';
  }
  toString = () => 'expireReservations()';
}

const commands = [
  fc
    .tuple(fc.nat(LISTINGS - 1), fc.integer({ min: 1, max: 4 }), fc.constantFrom(1000, 60_000))
    .map(([l, q, t]) => new Reserve(l, q, t)),
  fc
    .tuple(fc.nat(50), fc.constantFrom('markSold' as const, 'release' as const, 'restock' as const))
    .map(([p, mv]) => new Move(p, mv)),
  fc.constantFrom(500, 1500, 61_000).map((ms) => new Advance(ms)),
  fc.constant(new Sweep()),
];

for (const backend of testBackends()) {
  for (const strategy of ['guardedUpdate', 'rowLock'] as StockStrategy[]) {
    describe(`stock model on ${backend.name} (${strategy})`, () => {
      let database: TestDatabase;
      let market: Marketplace;
      const clock = new ManualClock();
      let run = 0;

      beforeAll(async () => {
        database = await backend.createDatabase();
        market = createMarketplace({ adapter: database.adapter(), clock, listings: { stockStrategy: strategy } });
        await market.migrate();
      });
      afterAll(async () => {
        await market?.close();
        await database?.drop();
      });

      it('conserves stock (sold + reserved + available = listed) and matches the model', async () => {
        await fc.assert(
          fc.asyncProperty(
            fc.commands(commands, { maxCommands: 25 }),
            fc.array(fc.integer({ min: 0, max: 6 }), { minLength: LISTINGS, maxLength: LISTINGS }),
            async (cmds, quantities) => {
              const prefix = `run${run++}`;
              for (let l = 0; l < LISTINGS; l++) {
                await market.listings.create({
                  id: `${prefix}-l${l}`,
                  sellerId: 's',
                  title: 't',
                  price: Money.of('1', 'USD'),
                  quantity: quantities[l]!,
                });
              }
              const model: Model = { now: clock.now(), quantity: quantities, reservations: [] };
              const real: Real = { market, clock, prefix, ids: [] };
              await fc.asyncModelRun(() => ({ model, real }), cmds);
              for (let l = 0; l < LISTINGS; l++) {
                const listing = await market.listings.get(`${prefix}-l${l}`);
                const c = counters(model, l);
                expect(listing).toMatchObject({ sold: c.sold, reserved: c.reserved, available: c.available });
              }
              await checkStockInvariants(market);
            },
          ),
          { numRuns: propertyRuns(100) },
        );
      });
    });
  }
}
