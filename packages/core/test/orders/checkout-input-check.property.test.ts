import { propertyRuns } from '@marketkit/testing';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { checkoutInputSchema, plainCheckoutInput } from '../../src/orders/order-schemas.js';

const id = fc.oneof(
  fc.stringMatching(/^[\x21-\x7e]{1,102}$/),
  fc.constantFrom('', 'has space', 'ü-not-ascii', 'x'.repeat(100), 'x'.repeat(101), 7, null),
);
const text = fc.oneof(
  fc.string({ maxLength: 258 }),
  fc.constantFrom('', 'x'.repeat(255), 'x'.repeat(256), 'ü', 'lone\uD800', 'nul\u0000', 3, null),
);
/** Any fields, often of the wrong type or out of range, and sometimes unknown or explicitly undefined. */
const input: fc.Arbitrary<Record<string, unknown>> = fc.record(
  {
    orderId: fc.oneof(id, fc.constant(undefined)),
    buyerId: id,
    listingId: id,
    quantity: fc.oneof(
      fc.integer({ min: -2, max: 1_000_002 }),
      fc.constantFrom(0, 1, 1_000_000, 1_000_001, 1.5, Number.NaN, Number.POSITIVE_INFINITY, 2 ** 53, '1', 1n),
    ),
    paymentMethod: text,
    idempotencyKey: fc.oneof(text, fc.constant(undefined)),
    extra: fc.constantFrom(1, undefined),
  },
  { requiredKeys: [] },
);

const valid = fc.record(
  {
    orderId: fc.stringMatching(/^[\x21-\x7e]{1,100}$/),
    buyerId: fc.stringMatching(/^[\x21-\x7e]{1,100}$/),
    listingId: fc.stringMatching(/^[\x21-\x7e]{1,100}$/),
    quantity: fc.integer({ min: 1, max: 1_000_000 }),
    paymentMethod: fc.string({ minLength: 1, maxLength: 255 }),
    idempotencyKey: fc.string({ minLength: 1, maxLength: 255 }),
  },
  { requiredKeys: ['buyerId', 'listingId', 'quantity', 'paymentMethod'] },
);

/** A valid input with a few fields overridden (often out of range) or removed. */
const mutated = fc
  .tuple(valid, input, fc.subarray(['buyerId', 'listingId', 'quantity', 'paymentMethod']))
  .map(([base, overrides, dropped]) => {
    const out: Record<string, unknown> = { ...base };
    for (const k of Object.keys(overrides).slice(0, 2)) out[k] = overrides[k];
    for (const k of dropped.slice(0, 1)) delete out[k];
    return out;
  });

describe('plainCheckoutInput', () => {
  it('accepts only what the checkout schema accepts, as the schema parses it', () => {
    let fastHits = 0;
    fc.assert(
      fc.property(fc.oneof(mutated, input), (i) => {
        const fast = plainCheckoutInput(i);
        const slow = checkoutInputSchema.safeParse(i);
        if (fast !== undefined) {
          fastHits++;
          expect(slow.success).toBe(true);
          expect(fast).toStrictEqual(slow.data);
        }
      }),
      { numRuns: propertyRuns(4000) },
    );
    expect(fastHits).toBeGreaterThan(50); // the comparison ran on accepted inputs, not only on rejections
  });

  it('takes the fast path for every valid input', () => {
    fc.assert(
      fc.property(valid, (i) => {
        expect(checkoutInputSchema.safeParse(i).success).toBe(true);
        expect(plainCheckoutInput(i)).toStrictEqual({ ...i });
      }),
      { numRuns: propertyRuns(2000) },
    );
  });

  it('leaves what is not a plain object to the schema', () => {
    const base = { buyerId: 'b', listingId: 'l', quantity: 1, paymentMethod: 'tok' };
    for (const odd of [null, undefined, 'x', 1, [base], Object.assign(Object.create({ x: 1 }), base)]) {
      expect(plainCheckoutInput(odd)).toBeUndefined();
    }
  });
});
