import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decimalRatio } from '../../src/analytics/decimal-ratio.js';
import { checkRate } from './analytics-model.js';

// The rates of analytics.daily: exact on bigints, 4 places, half to even, including exact ties.
describe('decimalRatio', () => {
  it('is the nearest 4-place decimal, the even one on a tie, for any amounts up to 2^63', () => {
    const minor = fc.bigInt({ min: 0n, max: 2n ** 63n - 1n });
    fc.assert(
      fc.property(minor, minor, (amount, base) => {
        expect(checkRate(decimalRatio(amount, base, 4), amount, base)).toBe(true);
      }),
    );
  });

  it('rounds exact ties to the even neighbour', () => {
    fc.assert(
      fc.property(fc.bigInt({ min: 0n, max: 10n ** 12n }), (units) => {
        // amount / base = (units + 0.5) / 10^4 exactly: a tie between units and units + 1
        const rate = decimalRatio(2n * units + 1n, 20_000n, 4);
        const even = units % 2n === 0n ? units : units + 1n;
        expect(rate).toBe(`${even / 10_000n}.${(even % 10_000n).toString().padStart(4, '0')}`);
      }),
    );
  });
});
