import {
  createMarketplace,
  type DailyFigures,
  isMarketkitError,
  type Marketplace,
  Money,
  purchaseProcess,
} from '@marketkit/core';
import { ManualClock, propertyRuns, SandboxPaymentProvider, type TestDatabase, testBackends } from '@marketkit/testing';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buyerShare, commission } from '../orders/fixtures/purchase-table.js';
import { checkRate, type ExpectedDay, expectedDays, type ModelRecord } from './analytics-model.js';

// Random marketplace histories in two currencies over several days (checkouts, refunds full and partial, disputes
// and their resolutions, releases, payouts paid, declined or left pending), each in its own tenant; `daily` over a
// random sub-range must equal the figures the model computes from the records of what the test did.
const DAY = 24 * 3600 * 1000;
const YEARS = 9 * 365 * DAY;
const PRICES = { USD: 19_99n, EUR: 7_05n } as const;
type Currency = keyof typeof PRICES;
const CURRENCIES: readonly Currency[] = ['EUR', 'USD'];
const STEPS = [
  'ship',
  'deliver',
  'confirm',
  'cancel',
  'refundPartial',
  'openDispute',
  'resolveRefund',
  'resolveRelease',
  'resolveSplit',
] as const;
type Step = (typeof STEPS)[number];
const FORWARD: readonly Step[] = ['ship', 'deliver', 'confirm', 'confirm'];
const FROM: Readonly<Record<Step, readonly string[]>> = {
  ship: ['paid'],
  deliver: ['shipped'],
  confirm: ['delivered'],
  cancel: ['paid'],
  refundPartial: ['paid', 'shipped', 'delivered'],
  openDispute: ['shipped', 'delivered'],
  resolveRefund: ['disputed'],
  resolveRelease: ['disputed'],
  resolveSplit: ['disputed'],
};
const ROLE: Readonly<Record<Step, 'buyer' | 'seller' | 'operator'>> = {
  ship: 'seller',
  deliver: 'seller',
  confirm: 'buyer',
  cancel: 'buyer',
  refundPartial: 'seller',
  openDispute: 'buyer',
  resolveRefund: 'operator',
  resolveRelease: 'operator',
  resolveSplit: 'operator',
};

type Op =
  | { readonly k: 'advance'; readonly ms: number }
  | { readonly k: 'midnight'; readonly before: number }
  | { readonly k: 'checkout'; readonly currency: Currency; readonly quantity: number }
  | { readonly k: 'step'; readonly choice: number; readonly pick: number; readonly permille: number }
  | { readonly k: 'payout'; readonly currency: Currency; readonly permille: number; readonly fault: Fault }
  | { readonly k: 'fulfil'; readonly pick: number }
  | { readonly k: 'worker' };
type Fault = 'none' | 'timeout' | 'decline';

const opArb: fc.Arbitrary<Op> = fc.oneof(
  {
    arbitrary: fc.record({
      k: fc.constant('advance' as const),
      ms: fc.oneof(fc.nat(600_000), fc.nat(14 * 3600 * 1000)),
    }),
    weight: 3,
  },
  fc.record({ k: fc.constant('midnight' as const), before: fc.constantFrom(0, 1) }),
  {
    arbitrary: fc.record({
      k: fc.constant('checkout' as const),
      currency: fc.constantFrom(...CURRENCIES),
      quantity: fc.integer({ min: 1, max: 3 }),
    }),
    weight: 2,
  },
  {
    arbitrary: fc.record({
      k: fc.constant('step' as const),
      choice: fc.nat(),
      pick: fc.nat(),
      permille: fc.integer({ min: 0, max: 1000 }),
    }),
    weight: 10,
  },
  {
    arbitrary: fc.record({
      k: fc.constant('payout' as const),
      currency: fc.constantFrom(...CURRENCIES),
      permille: fc.integer({ min: 0, max: 1000 }),
      fault: fc.constantFrom<Fault>('none', 'timeout', 'decline'),
    }),
    weight: 3,
  },
  { arbitrary: fc.record({ k: fc.constant('fulfil' as const), pick: fc.nat() }), weight: 2 },
  fc.record({ k: fc.constant('worker' as const) }),
);

interface ModelOrder {
  readonly id: string;
  readonly currency: Currency;
  readonly amount: bigint;
  state: string;
  escrow: bigint;
}
interface World {
  readonly market: Marketplace;
  readonly clock: ManualClock;
  readonly psp: SandboxPaymentProvider;
  readonly listings: Readonly<Record<Currency, string>>;
  readonly orders: ModelOrder[];
  readonly records: ModelRecord[];
  readonly sellerBalance: Record<Currency, bigint>;
  readonly pendingPayouts: Map<string, { currency: Currency; amount: bigint }>;
}

const fraction = (whole: bigint, permille: number) => (whole * BigInt(permille)) / 1000n;

async function checkout(w: World, currency: Currency, quantity: number): Promise<void> {
  const order = await w.market.orders.checkout({
    buyerId: 'alice',
    listingId: w.listings[currency],
    quantity,
    paymentMethod: 'tok_visa',
  });
  const amount = PRICES[currency] * BigInt(quantity);
  w.orders.push({ id: order.id, currency, amount, state: 'paid', escrow: amount });
  w.records.push({ at: w.clock.now(), currency, kind: 'capture', amount, orderId: order.id });
}

/** Pays `base` of the order's escrow to the seller: release and commission records, the seller's balance. */
function release(w: World, o: ModelOrder, base: bigint): void {
  const fee = commission(base, 100);
  const at = w.clock.now();
  if (base - fee > 0n) w.records.push({ at, currency: o.currency, kind: 'release', amount: base - fee, orderId: o.id });
  if (fee > 0n) w.records.push({ at, currency: o.currency, kind: 'commission', amount: fee, orderId: o.id });
  w.sellerBalance[o.currency] += base - fee;
  o.escrow -= base;
}

function refund(w: World, o: ModelOrder, amount: bigint): void {
  if (amount > 0n) w.records.push({ at: w.clock.now(), currency: o.currency, kind: 'refund', amount, orderId: o.id });
  o.escrow -= amount;
}

const live = (o: ModelOrder) => STEPS.some((s) => FROM[s].includes(o.state));

async function step(w: World, op: Extract<Op, { k: 'step' }>): Promise<void> {
  const open = w.orders.filter(live);
  const o = open[op.pick % Math.max(1, open.length)];
  if (o === undefined) return;
  // Moving forward is listed twice, so orders often reach a release and the seller has money to pay out.
  const steps = [...STEPS, ...FORWARD].filter(
    (s) => FROM[s].includes(o.state) && (s !== 'refundPartial' || o.escrow > 0n),
  );
  await fire(w, o, steps[op.choice % steps.length] ?? 'cancel', op.permille);
}

/** Fires `name` on the order and records what it does to the money. */
async function fire(w: World, o: ModelOrder, name: Step, permille: number): Promise<void> {
  const amountMinor = 1n + fraction(o.escrow - 1n, permille);
  const buyerPercent = permille % 101;
  const actorId = { buyer: 'alice', seller: 'bob', operator: 'op-1' }[ROLE[name]];
  const to = await w.market.orders.transition(o.id, name, {
    actor: { role: ROLE[name], id: actorId },
    ...(name === 'refundPartial' ? { amountMinor } : {}),
    ...(name === 'resolveSplit' ? { buyerPercent } : {}),
  });
  if (name === 'confirm' || name === 'resolveRelease') release(w, o, o.escrow);
  else if (name === 'cancel' || name === 'resolveRefund') refund(w, o, o.escrow);
  else if (name === 'refundPartial') refund(w, o, amountMinor);
  else if (name === 'resolveSplit') {
    const toBuyer = buyerShare(o.escrow, buyerPercent);
    refund(w, o, toBuyer);
    release(w, o, o.escrow);
  } else if (name === 'openDispute') {
    w.records.push({ at: w.clock.now(), currency: o.currency, kind: 'dispute', amount: o.amount });
  }
  o.state = to.state;
}

async function payout(w: World, op: Extract<Op, { k: 'payout' }>): Promise<void> {
  const balance = w.sellerBalance[op.currency];
  if (balance <= 0n) return;
  const amountMinor = 1n + fraction(balance - 1n, op.permille);
  if (op.fault !== 'none') w.psp.injectFault('payout', op.fault);
  const outcome = await w.market.payouts
    .request({
      sellerId: 'bob',
      currency: op.currency,
      amountMinor,
      destination: 'ba_bob',
      payoutId: `po-${w.records.length}`,
    })
    .then(
      (p) => p.status,
      (e: unknown) => (isMarketkitError(e) ? e.code : String(e)),
    );
  const at = w.clock.now();
  w.records.push({ at, currency: op.currency, kind: 'payoutRequested', amount: amountMinor });
  if (op.fault === 'timeout') {
    expect(outcome).toBe('PROVIDER_TIMEOUT');
    w.pendingPayouts.set(`po-${w.records.length - 1}`, { currency: op.currency, amount: amountMinor });
    w.sellerBalance[op.currency] -= amountMinor;
  } else {
    expect(outcome).toBe(op.fault === 'none' ? 'paid' : 'PAYMENT_DECLINED');
    w.records.push({ at, currency: op.currency, kind: 'payoutSettled', amount: amountMinor });
    if (op.fault === 'none') w.sellerBalance[op.currency] -= amountMinor;
  }
}

/** Runs the worker (due payout retries) and records the payouts it settled, at the clock's time. */
async function worker(w: World): Promise<void> {
  w.psp.clearFaults();
  await w.market.worker().runOnce();
  for (const [id, p] of w.pendingPayouts) {
    const status = (await w.market.payouts.get(id))?.status;
    if (status === 'requested') continue;
    w.pendingPayouts.delete(id);
    w.records.push({ at: w.clock.now(), currency: p.currency, kind: 'payoutSettled', amount: p.amount });
    if (status === 'failed') w.sellerBalance[p.currency] += p.amount;
  }
}

async function apply(w: World, op: Op): Promise<void> {
  if (op.k === 'advance') w.clock.advance(op.ms);
  else if (op.k === 'midnight') w.clock.set(Math.floor(w.clock.now() / DAY) * DAY + DAY - op.before);
  else if (op.k === 'checkout') await checkout(w, op.currency, op.quantity);
  else if (op.k === 'step') await step(w, op);
  else if (op.k === 'payout') await payout(w, op);
  else if (op.k === 'fulfil') {
    // ship, deliver and confirm one paid order, so sellers often have money to pay out
    const paid = w.orders.filter((o) => o.state === 'paid');
    const o = paid[op.pick % Math.max(1, paid.length)];
    if (o !== undefined) for (const name of ['ship', 'deliver', 'confirm'] as const) await fire(w, o, name, 0);
  } else await worker(w);
}

/** The figures without the rates, which {@link checkRate} checks. */
const withoutRates = (d: DailyFigures): ExpectedDay => ({
  day: d.day,
  currency: d.currency,
  gmv: d.gmv,
  paidOrders: d.paidOrders,
  commission: d.commission,
  netRevenue: d.netRevenue,
  refunds: { count: d.refunds.count, amount: d.refunds.amount },
  disputes: { count: d.disputes.count, amount: d.disputes.amount },
  escrowOutstanding: d.escrowOutstanding,
  escrowOldestAgeMs: d.escrowOldestAgeMs,
  payoutsPending: d.payoutsPending,
});

for (const backend of testBackends()) {
  describe(`analytics.daily on ${backend.name}`, () => {
    let database: TestDatabase;
    let runs = 0;
    beforeAll(async () => {
      database = await backend.createDatabase();
      const market = createMarketplace({ adapter: database.adapter() });
      await market.migrate();
      await market.close();
    });
    afterAll(async () => {
      await database?.drop();
    });

    it('equals the figures computed from the operations performed, over any sub-range and currency', async () => {
      await fc.assert(
        fc.asyncProperty(
          fc.integer({ min: 0, max: DAY - 1 }),
          fc.array(opArb, { minLength: 10, maxLength: 60, size: '+1' }),
          fc.tuple(fc.nat(), fc.nat()),
          fc.option(fc.constantFrom(...CURRENCIES), { nil: undefined }),
          async (offset, ops, [a, b], currency) => {
            const start = Date.UTC(2026, 2, 1) + offset;
            const clock = new ManualClock(start);
            const psp = new SandboxPaymentProvider();
            const market = createMarketplace({
              adapter: database.adapter(),
              tenant: `run-${runs++}`,
              clock,
              payments: psp,
              process: purchaseProcess({ autoCompleteMs: YEARS }),
              commission: { kind: 'percentage', percent: '10' },
            });
            try {
              const listing = async (c: Currency) =>
                (
                  await market.listings.create({
                    sellerId: 'bob',
                    title: c,
                    price: Money.fromMinor(PRICES[c], c),
                    quantity: 500,
                  })
                ).id;
              const w: World = {
                market,
                clock,
                psp,
                listings: { USD: await listing('USD'), EUR: await listing('EUR') },
                orders: [],
                records: [],
                sellerBalance: { USD: 0n, EUR: 0n },
                pendingPayouts: new Map(),
              };
              for (const op of ops) await apply(w, op);
              const first = Math.floor(start / DAY);
              const days = Math.floor(clock.now() / DAY) - first + 1;
              const from = (first + (a % days)) * DAY;
              const to = from + (1 + (b % (days - (a % days)))) * DAY;
              const actual = await market.analytics.daily({
                from: new Date(from),
                to: new Date(to),
                ...(currency === undefined ? {} : { currency }),
              });
              const records = w.records.filter((r) => currency === undefined || r.currency === currency);
              expect(actual.map(withoutRates)).toEqual(expectedDays(records, from, to));
              for (const d of actual) {
                expect(checkRate(d.takeRate, d.commission, d.gmv), `takeRate ${d.takeRate}`).toBe(true);
                expect(checkRate(d.refunds.rate, d.refunds.amount, d.gmv), `refunds ${d.refunds.rate}`).toBe(true);
                expect(checkRate(d.disputes.rate, d.disputes.amount, d.gmv), `disputes ${d.disputes.rate}`).toBe(true);
              }
            } finally {
              await market.close();
            }
          },
        ),
        { numRuns: propertyRuns(15) },
      );
    });
  });
}
