import { isMarketkitError, Money } from '@marketkit/core';
import { testBackends } from '@marketkit/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectRefused, openProbedMarket, PROBE_JOB, PROBE_SAGA, type ProbedMarket } from './fixtures/probed-market.js';

const MAX_INT64 = 2n ** 63n - 1n;

/** Inputs that used to escape as a `TypeError`, a `RangeError` or a stack overflow, each with the code it gets. */
function hostileJson(): [string, unknown][] {
  const cyclic: Record<string, unknown> = { a: 1 };
  cyclic['self'] = cyclic;
  let deep: unknown = 1;
  for (let i = 0; i < 20_000; i++) deep = [deep];
  const throwing = {
    toJSON() {
      throw new Error('no JSON for you');
    },
  };
  const getter = Object.defineProperty({}, 'x', {
    enumerable: true,
    get() {
      throw new Error('no x');
    },
  });
  return [
    ['a cyclic object', cyclic],
    ['20,000 nested arrays', deep],
    ['a throwing toJSON', { nested: throwing }],
    ['a throwing getter', getter],
  ];
}

describe('Money throws only MarketkitErrors', () => {
  it('names a non-string currency without throwing while building the message', () => {
    for (const currency of [
      1n,
      Symbol('x'),
      {
        toString: () => {
          throw new Error('x');
        },
      },
      null,
      12,
    ]) {
      let thrown: unknown;
      try {
        Money.of('1', currency as never);
      } catch (error) {
        thrown = error;
      }
      expect(isMarketkitError(thrown)).toBe(true);
      expect(thrown).toMatchObject({ code: 'UNKNOWN_CURRENCY' });
    }
  });

  it('refuses a malformed amount object whose toString throws with VALIDATION_FAILED', () => {
    // toFixed() answers with something that is not a string and cannot be shown either.
    const hostile = {
      toFixed: () => Object.create(null),
      toString: () => {
        throw new Error('x');
      },
    };
    expect(() => Money.of(hostile as never, 'USD')).toThrow(expect.objectContaining({ code: 'VALIDATION_FAILED' }));
  });
});

for (const backend of testBackends()) {
  describe(`untyped errors on ${backend.name}`, () => {
    let p: ProbedMarket;
    beforeAll(async () => {
      p = await openProbedMarket(backend);
    });
    afterAll(async () => {
      await p?.close();
    });

    it('refuses a price past int64 with AMOUNT_NOT_REPRESENTABLE, in create and update, as Money or JSON', async () => {
      const huge = Money.fromMinor(2n ** 63n, 'USD');
      const create = (price: unknown) =>
        p.market.listings.create({ sellerId: 'bob', title: 'Big', price: price as Money, quantity: 1 });
      await expectRefused(p, 'AMOUNT_NOT_REPRESENTABLE', () => create(huge));
      await expectRefused(p, 'AMOUNT_NOT_REPRESENTABLE', () => create(huge.toJSON()));
      const listing = await p.market.listings.get(p.listingId);
      const update = (price: unknown) =>
        p.market.listings.update(p.listingId, { expectedVersion: listing!.version, price: price as Money });
      await expectRefused(p, 'AMOUNT_NOT_REPRESENTABLE', () => update(huge));
      await expectRefused(p, 'AMOUNT_NOT_REPRESENTABLE', () => update({ amount: String(2n ** 64n), currency: 'USD' }));
      // The edge itself is stored.
      const edge = await create(Money.fromMinor(MAX_INT64, 'USD'));
      expect(edge.price.minor).toBe(MAX_INT64);
    });

    it('refuses sweep limits past int64 (or not integers) with VALIDATION_FAILED', async () => {
      for (const limit of [2 ** 64, 2n ** 64n, -1, 0, 1.5, Number.NaN, '10']) {
        await expectRefused(p, 'VALIDATION_FAILED', () => p.market.listings.expireReservations(limit as number));
        await expectRefused(p, 'VALIDATION_FAILED', () => p.market.orders.fireDueTransitions(limit as number));
      }
      expect(await p.market.listings.expireReservations(10_000)).toBe(0);
      expect(await p.market.orders.fireDueTransitions(10_000)).toBe(0);
    });

    it('refuses account lookups that are not strings with VALIDATION_FAILED', async () => {
      for (const id of [[], [1], {}, 1, null, 1n]) {
        await expectRefused(p, 'VALIDATION_FAILED', () => p.market.ledger.getAccount(id as never));
      }
      for (const ids of ['abc', [1], [[]], null, {}]) {
        await expectRefused(p, 'VALIDATION_FAILED', () => p.market.ledger.getAccounts(ids as never));
      }
      expect(await p.market.ledger.getAccount('no such account')).toBeUndefined();
      expect(await p.market.ledger.getAccounts([])).toEqual([]);
    });

    for (const [what, value] of hostileJson()) {
      it(`refuses ${what} as a saga input or a job payload with VALIDATION_FAILED`, async () => {
        await expectRefused(p, 'VALIDATION_FAILED', () => p.market.sagas.start(PROBE_SAGA, value));
        await expectRefused(p, 'VALIDATION_FAILED', () => p.market.sagas.run(PROBE_SAGA, value));
        await expectRefused(p, 'VALIDATION_FAILED', () =>
          p.market.jobs.scheduleJob(undefined, { kind: PROBE_JOB, runAt: 0, payload: value }),
        );
        await expectRefused(p, 'VALIDATION_FAILED', () =>
          p.storage.transaction((trx) =>
            p.market.events.append(trx, [
              { type: 'probe.event', aggregateType: 'probe', aggregateId: 'p1', payload: { value } },
            ]),
          ),
        );
      });
    }

    it('refuses a checkout whose total leaves int64 with AMOUNT_NOT_REPRESENTABLE', async () => {
      const listing = await p.market.listings.create({
        sellerId: 'bob',
        title: 'Half of int64',
        price: Money.fromMinor(2n ** 62n, 'USD'),
        quantity: 5,
      });
      const checkout = () =>
        p.market.orders.checkout({ buyerId: 'alice', listingId: listing.id, quantity: 2, paymentMethod: 'tok_visa' });
      await expectRefused(p, 'AMOUNT_NOT_REPRESENTABLE', checkout);
      await expectRefused(p, 'AMOUNT_NOT_REPRESENTABLE', checkout); // the same answer again, still nothing written
    });

    it('reports a ledger transfer whose totals would leave int64 as an overflow result, writing nothing', async () => {
      await p.market.ledger.createAccounts([
        { id: 'ov-a', currency: 'USD', code: 1 },
        { id: 'ov-b', currency: 'USD', code: 1 },
      ]);
      const transfer = (id: string, amount: bigint) =>
        p.market.ledger.createTransfers([
          { id, debitAccountId: 'ov-a', creditAccountId: 'ov-b', amount, currency: 'USD', code: 1 },
        ]);
      expect(await transfer('ov-1', MAX_INT64)).toEqual([{ index: 0, id: 'ov-1', result: 'ok' }]);
      const before = await p.snapshot();
      expect(await transfer('ov-2', 1n)).toEqual([{ index: 0, id: 'ov-2', result: 'overflowsDebits' }]);
      expect(await p.snapshot()).toBe(before);
      await expectRefused(p, 'VALIDATION_FAILED', () => transfer('ov-3', 2n ** 63n));
    });
  });
}
