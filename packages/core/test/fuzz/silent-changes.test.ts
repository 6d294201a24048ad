import { escrowAccounts, JSON_INPUT_LIMITS, Money, OUTBOX_LIMITS } from '@marketkit/core';
import { testBackends } from '@marketkit/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectRefused, openProbedMarket, PROBE_JOB, PROBE_SAGA, type ProbedMarket } from './fixtures/probed-market.js';

/** Values JSON would store as something else (or drop) without a word. */
function changedByJson(): [string, unknown][] {
  class Point {
    [Symbol.toStringTag] = 'Point';
    x = 1;
  }
  return [
    ['a Map', { m: new Map([['a', 1]]) }],
    ['a Set', { s: new Set([1]) }],
    ['NaN', { n: Number.NaN }],
    ['Infinity', [Number.POSITIVE_INFINITY]],
    ['a function', { f: () => 1 }],
    ['a symbol', { s: Symbol('s') }],
    ['undefined in an array', [1, undefined]],
    ['a hole in an array', new Array(3)],
    ['an Error', { e: new Error('x') }],
    ['a RegExp', { r: /x/ }],
    ['a typed array', { b: new Uint8Array([1, 2]) }],
    ['a tagged class instance', { p: new Point() }],
    ['a symbol key', { [Symbol('k')]: 1 }],
    ['a function as the whole value', () => 1],
    ['2 MB of JSON (more than 256 KiB)', { s: 'x'.repeat(2_000_000) }],
  ];
}

describe('Money refuses unsafe integers given as numbers', () => {
  it('refuses 2 ** 53 + 1 (already 2 ** 53 as a number) instead of rounding it', () => {
    for (const amount of [2 ** 53 + 1, 2 ** 53, -(2 ** 53), 1e20]) {
      expect(() => Money.of(amount, 'USD')).toThrow(expect.objectContaining({ code: 'AMOUNT_NOT_REPRESENTABLE' }));
    }
    expect(Money.of(Number.MAX_SAFE_INTEGER, 'JPY').minor).toBe(BigInt(Number.MAX_SAFE_INTEGER));
    expect(Money.of('9007199254740993', 'JPY').minor).toBe(9007199254740993n);
    const usd = Money.of('1', 'USD');
    expect(() => usd.multiply(2 ** 60, 'halfEven')).toThrow(expect.objectContaining({ code: 'VALIDATION_FAILED' }));
    expect(() => usd.percentage(2 ** 60, 'halfEven')).toThrow(expect.objectContaining({ code: 'VALIDATION_FAILED' }));
    expect(() => usd.allocate([2 ** 60, 1])).toThrow(expect.objectContaining({ code: 'VALIDATION_FAILED' }));
  });
});

for (const backend of testBackends()) {
  describe(`silent changes on ${backend.name}`, () => {
    let p: ProbedMarket;
    beforeAll(async () => {
      p = await openProbedMarket(backend);
    });
    afterAll(async () => {
      await p?.close();
    });

    for (const [what, value] of changedByJson()) {
      it(`refuses ${what} in a saga input, a job payload or an event payload with VALIDATION_FAILED`, async () => {
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

    it('stores JSON values as given, up to the documented limit, the same for sagas, jobs and events', async () => {
      expect(OUTBOX_LIMITS.maxPayloadLength).toBe(JSON_INPUT_LIMITS.maxLength);
      const at = { s: 'x'.repeat(JSON_INPUT_LIMITS.maxLength - '{"s":""}'.length) };
      const over = { s: `${at.s}x` };
      const saga = await p.market.sagas.start(PROBE_SAGA, at, { id: 'at-limit' });
      expect((await p.market.sagas.get(saga.id))?.input).toEqual(at);
      await expectRefused(p, 'VALIDATION_FAILED', () => p.market.sagas.start(PROBE_SAGA, over, { id: 'over-limit' }));
      const job = await p.market.jobs.scheduleJob(undefined, { kind: PROBE_JOB, runAt: 0, payload: at });
      expect((await p.market.jobs.get(job.id))?.payload).toEqual(at);
      await expectRefused(p, 'VALIDATION_FAILED', () =>
        p.market.jobs.scheduleJob(undefined, { kind: PROBE_JOB, runAt: 0, payload: over }),
      );
      let deep: unknown = 'leaf';
      for (let i = 0; i < JSON_INPUT_LIMITS.maxDepth; i++) deep = [deep];
      await p.market.sagas.start(PROBE_SAGA, deep, { id: 'at-depth' });
      await expectRefused(p, 'VALIDATION_FAILED', () => p.market.sagas.start(PROBE_SAGA, [deep], { id: 'past-depth' }));
      const plain = {
        a: [1, 'two', null, true, { b: -0.5 }],
        when: new Date(0),
        price: Money.of('1.50', 'USD'),
        skip: undefined,
      };
      await p.market.sagas.start(PROBE_SAGA, plain, { id: 'plain' });
      expect((await p.market.sagas.get('plain'))?.input).toEqual({
        a: [1, 'two', null, true, { b: -0.5 }],
        when: '1970-01-01T00:00:00.000Z',
        price: { amount: '150', currency: 'USD' },
      });
    });

    it('records nothing for a payout refused with INSUFFICIENT_FUNDS, and the same payout goes through once funded', async () => {
      const request = {
        payoutId: 'po-short',
        sellerId: 'bob',
        currency: 'USD',
        amountMinor: 10_00n,
        destination: 'ba_1',
      };
      for (let i = 0; i < 3; i++) {
        await expectRefused(p, 'INSUFFICIENT_FUNDS', () => p.market.payouts.request(request));
      }
      expect(await p.market.sagas.get('payout:po-short')).toBeUndefined();
      expect(await p.market.payouts.get('po-short')).toBeUndefined();
      // Fund bob: an order completes and its escrow is released to him.
      const order = await p.market.orders.checkout({
        buyerId: 'alice',
        listingId: p.listingId,
        quantity: 1,
        paymentMethod: 'tok_visa',
      });
      for (const [name, role, id] of [
        ['ship', 'seller', 'bob'],
        ['deliver', 'seller', 'bob'],
        ['confirm', 'buyer', 'alice'],
      ] as const) {
        await p.market.orders.transition(order.id, name, { actor: { role, id } });
      }
      const paid = await p.market.payouts.request(request);
      expect(paid).toMatchObject({ id: 'po-short', status: 'paid', amountMinor: 10_00n });
      const seller = await p.market.ledger.getAccount(escrowAccounts.seller('bob', 'USD'));
      expect(seller?.debitsPosted).toBe(10_00n);
    });
  });
}
