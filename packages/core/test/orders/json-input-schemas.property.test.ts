import { propertyRuns } from '@marketkit/testing';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  CURRENCY_CODES,
  listingInputJsonSchema,
  listingInputSchema,
  listingUpdateJsonSchema,
  listingUpdateSchema,
  Money,
  payoutInputJsonSchema,
  payoutInputSchema,
  transitionInputJsonSchema,
  transitionInputSchema,
} from '../../src/index.js';

const MAX = 2n ** 63n - 1n;
/** Amounts around every bound the schemas have (0, 1, 2^63−1) and far beyond, negative ones too. */
const amount = fc.oneof(
  fc.bigInt({ min: -(2n ** 70n), max: 2n ** 70n }),
  fc.bigInt({ min: -3n, max: 3n }),
  fc.bigInt({ min: MAX - 3n, max: MAX + 3n }),
  fc.constantFrom(10n ** 18n, 10n ** 19n, 10n ** 19n - 1n),
);
const currency = fc.oneof(fc.constantFrom(...CURRENCY_CODES), fc.constantFrom('XXX', 'usd', 'US', 'EURO', ''));
const actor = { role: 'seller', id: 'bob' } as const;

type Parsed = { success: boolean; data?: unknown };
/** The JSON form and the core form of an input agree: both refuse it, or both accept it with the same value. */
function agree(json: Parsed, core: Parsed): void {
  expect(json.success).toBe(core.success);
  if (!core.success) return;
  const plain = (d: unknown) =>
    Object.fromEntries(
      Object.entries(d as Record<string, unknown>).map(([k, v]) => [k, Money.isMoney(v) ? v.toJSON() : v]),
    );
  expect(plain(json.data)).toStrictEqual(plain(core.data));
}

describe('the JSON forms of the input schemas', () => {
  it('accept exactly the amounts the bigint schemas accept, as the same bigint', () => {
    let accepted = 0;
    fc.assert(
      fc.property(amount, (a) => {
        const t = transitionInputSchema.safeParse({ actor, amountMinor: a });
        agree(transitionInputJsonSchema.safeParse({ actor, amountMinor: a.toString() }), t);
        const payout = { sellerId: 'bob', currency: 'USD', destination: 'ba_1' };
        agree(
          payoutInputJsonSchema.safeParse({ ...payout, amountMinor: a.toString() }),
          payoutInputSchema.safeParse({ ...payout, amountMinor: a }),
        );
        const listing = { sellerId: 'bob', title: 'Lamp', price: { amount: '100', currency: 'USD' }, quantity: 1 };
        agree(
          listingInputJsonSchema.safeParse({ ...listing, commission: { kind: 'fixed', amountMinor: a.toString() } }),
          listingInputSchema.safeParse({ ...listing, commission: { kind: 'fixed', amountMinor: a } }),
        );
        agree(
          listingInputJsonSchema.safeParse({
            ...listing,
            commission: { kind: 'percentage', percent: '10', minimumMinor: a.toString() },
          }),
          listingInputSchema.safeParse({
            ...listing,
            commission: { kind: 'percentage', percent: '10', minimumMinor: a },
          }),
        );
        if (t.success) accepted++;
      }),
      { numRuns: propertyRuns(2000) },
    );
    expect(accepted).toBeGreaterThan(100); // accepted values were compared, not only refusals
  });

  it('accept exactly the prices the listing schemas accept, as the same Money', () => {
    let accepted = 0;
    fc.assert(
      fc.property(amount, currency, (a, c) => {
        const price = { amount: a.toString(), currency: c };
        const listing = { sellerId: 'bob', title: 'Lamp', price, quantity: 1 };
        const core = listingInputSchema.safeParse(listing);
        agree(listingInputJsonSchema.safeParse(listing), core);
        agree(
          listingUpdateJsonSchema.safeParse({ expectedVersion: 0, price }),
          listingUpdateSchema.safeParse({ expectedVersion: 0, price }),
        );
        if (core.success) accepted++;
      }),
      { numRuns: propertyRuns(2000) },
    );
    expect(accepted).toBeGreaterThan(100);
  });

  it('take amounts only in canonical integer form, and prices only as Money JSON', () => {
    for (const text of ['01', '+1', '1.0', '1e3', ' 1', '', '0x10', '1_000']) {
      expect(payoutInputJsonSchema.shape.amountMinor.safeParse(text).success, text).toBe(false);
    }
    expect(payoutInputJsonSchema.shape.amountMinor.parse('1500')).toBe(1500n);
    const price = Money.of('40.00', 'USD');
    expect(listingInputSchema.shape.price.parse(price)).toBe(price);
    expect(listingInputJsonSchema.shape.price.safeParse(price).success).toBe(false);
    expect(listingInputJsonSchema.shape.price.safeParse({ amount: '4000', currency: 'USD', extra: 1 }).success).toBe(
      false,
    );
  });

  it('have the same fields as the schemas they come from', () => {
    expect(Object.keys(transitionInputJsonSchema.shape)).toEqual(Object.keys(transitionInputSchema.shape));
    expect(Object.keys(payoutInputJsonSchema.shape)).toEqual(Object.keys(payoutInputSchema.shape));
    expect(Object.keys(listingInputJsonSchema.shape)).toEqual(Object.keys(listingInputSchema.shape));
    expect(Object.keys(listingUpdateJsonSchema.shape)).toEqual(Object.keys(listingUpdateSchema.shape));
  });
});
