import { propertyRuns } from '@marketkit/testing';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { CURRENCY_CODES, currencyExponent, Money, ROUNDING_MODES } from '../../src/money/index.js';

const numRuns = propertyRuns(500);
const LIMIT = 2n ** 200n;

const currency = fc.constantFrom(...CURRENCY_CODES);
const minor = fc.oneof(fc.bigInt({ min: -LIMIT, max: LIMIT }), fc.bigInt({ min: -1000n, max: 1000n }));
const money = fc.tuple(minor, currency).map(([units, code]) => Money.fromMinor(units, code));
const sameCurrencyPair = fc
  .tuple(minor, minor, currency)
  .map(([a, b, code]) => [Money.fromMinor(a, code), Money.fromMinor(b, code)] as const);
const rounding = fc.constantFrom(...ROUNDING_MODES);
/** A plain decimal string with up to 12 decimals, and its exact value as units / 10 ** scale. */
const decimal = fc
  .tuple(fc.bigInt({ min: -(10n ** 30n), max: 10n ** 30n }), fc.integer({ min: 0, max: 12 }))
  .map(([units, scale]) => {
    const digits = (units < 0n ? -units : units).toString().padStart(scale + 1, '0');
    const text = scale === 0 ? digits : `${digits.slice(0, -scale)}.${digits.slice(-scale)}`;
    return { text: (units < 0n ? '-' : '') + text, units, scale };
  });
const weights = fc
  .array(fc.oneof(fc.bigInt({ min: 0n, max: 10n }), fc.bigInt({ min: 0n, max: LIMIT })), {
    minLength: 1,
    maxLength: 12,
  })
  .filter((ws) => ws.some((w) => w > 0n));

const abs = (n: bigint) => (n < 0n ? -n : n);

/** True when `result` is `numerator / denominator` rounded to an integer the way `mode` says. */
function roundsCorrectly(result: bigint, numerator: bigint, denominator: bigint, mode: string): boolean {
  const diff = numerator - result * denominator; // exact - result, in units of 1 / denominator
  if (abs(diff) >= denominator) return false;
  switch (mode) {
    case 'floor':
      return diff >= 0n;
    case 'ceil':
      return diff <= 0n;
    case 'down':
      return numerator >= 0n ? diff >= 0n : diff <= 0n;
    case 'up':
      return numerator >= 0n ? diff <= 0n : diff >= 0n;
    default: {
      const twice = abs(diff) * 2n;
      if (twice < denominator) return true;
      if (twice > denominator) return false;
      if (mode === 'halfEven') return result % 2n === 0n;
      if (mode === 'halfUp') return abs(result * denominator) > abs(numerator);
      return abs(result * denominator) < abs(numerator);
    }
  }
}

describe('Money properties', () => {
  it('allocate never loses or invents a minor unit', () => {
    fc.assert(
      fc.property(money, weights, (m, ws) => {
        const shares = m.allocate(ws);
        const total = shares.reduce((sum, share) => sum.add(share), Money.zero(m.currency));
        expect(total.equals(m)).toBe(true);
        expect(shares).toHaveLength(ws.length);
      }),
      { numRuns },
    );
  });

  it('allocate puts each share within one minor unit of its exact proportion', () => {
    fc.assert(
      fc.property(money, weights, (m, ws) => {
        const sum = ws.reduce((a, b) => a + b, 0n);
        m.allocate(ws).forEach((share, i) => {
          // |share - m * w / sum| < 1  <=>  |share * sum - m * w| < sum
          expect(abs(share.minor * sum - m.minor * ws[i]!) < sum).toBe(true);
          if (ws[i] === 0n) expect(share.isZero()).toBe(true);
        });
      }),
      { numRuns },
    );
  });

  it('allocate splits a negative amount as the mirror image of its absolute value', () => {
    fc.assert(
      fc.property(money, weights, (m, ws) => {
        const mirrored = m
          .negate()
          .allocate(ws)
          .map((share) => share.negate());
        expect(mirrored.map(String)).toEqual(m.allocate(ws).map(String));
      }),
      { numRuns },
    );
  });

  it('allocate with equal ratios gives shares that differ by at most one unit, larger ones first', () => {
    fc.assert(
      fc.property(money, fc.integer({ min: 1, max: 20 }), (m, n) => {
        const shares = m
          .abs()
          .allocate(Array.from({ length: n }, () => 1))
          .map((share) => share.minor);
        for (let i = 1; i < shares.length; i++) {
          expect(shares[i - 1]! - shares[i]!).toBeGreaterThanOrEqual(0n);
        }
        expect(shares[0]! - shares[shares.length - 1]!).toBeLessThanOrEqual(1n);
      }),
      { numRuns },
    );
  });

  it('allocate gives the same split for decimal ratios as for the same ratios scaled to integers', () => {
    fc.assert(
      fc.property(money, fc.array(fc.integer({ min: 0, max: 10_000 }), { minLength: 1, maxLength: 8 }), (m, ints) => {
        fc.pre(ints.some((w) => w > 0));
        const asDecimals = ints.map((w) => `${Math.trunc(w / 100)}.${String(w % 100).padStart(2, '0')}`);
        expect(m.allocate(asDecimals).map(String)).toEqual(m.allocate(ints).map(String));
      }),
      { numRuns },
    );
  });

  it('add then subtract round-trips exactly, beyond 2^53', () => {
    fc.assert(
      fc.property(sameCurrencyPair, ([a, b]) => {
        expect(a.add(b).subtract(b).equals(a)).toBe(true);
        expect(a.subtract(b).add(b).equals(a)).toBe(true);
        expect(a.add(b).minor).toBe(a.minor + b.minor);
        expect(a.add(b).equals(b.add(a))).toBe(true);
      }),
      { numRuns },
    );
  });

  it('mixing currencies always throws CURRENCY_MISMATCH', () => {
    fc.assert(
      fc.property(minor, minor, currency, currency, (a, b, c1, c2) => {
        fc.pre(c1 !== c2);
        const left = Money.fromMinor(a, c1);
        const right = Money.fromMinor(b, c2);
        for (const operation of [() => left.add(right), () => left.subtract(right), () => left.compare(right)]) {
          expect(operation).toThrow(expect.objectContaining({ code: 'CURRENCY_MISMATCH' }));
        }
        expect(left.equals(right)).toBe(false);
      }),
      { numRuns },
    );
  });

  it('minor units beyond 2^53 stay exact through toMajorString, toString, parse and format', () => {
    fc.assert(
      fc.property(money, (m) => {
        const exponent = currencyExponent(m.currency);
        const digits = abs(m.minor)
          .toString()
          .padStart(exponent + 1, '0');
        expect(m.toMajorString().replace(/[-.]/g, '')).toBe(digits);
        expect(Money.parse(m.toString()).equals(m)).toBe(true);
        expect(Money.parse(`${m.currency} ${m.toMajorString()}`).equals(m)).toBe(true);
        expect(m.format().replace(/\D/g, '')).toBe(digits);
      }),
      { numRuns },
    );
  });

  it('fromJSON(toJSON(x)) equals x, also through JSON.stringify', () => {
    fc.assert(
      fc.property(money, (m) => {
        expect(Money.fromJSON(m.toJSON()).equals(m)).toBe(true);
        expect(Money.fromJSON(JSON.parse(JSON.stringify(m))).equals(m)).toBe(true);
        expect(m.toJSON().amount).toBe(m.minor.toString());
      }),
      { numRuns },
    );
  });

  it('Money.of(m.toMajorString(), currency) equals m', () => {
    fc.assert(
      fc.property(money, (m) => {
        expect(Money.of(m.toMajorString(), m.currency).equals(m)).toBe(true);
      }),
      { numRuns },
    );
  });

  it('Money.of refuses extra decimals unless given a rounding mode, then rounds like the mode says', () => {
    fc.assert(
      fc.property(decimal, currency, rounding, (d, code, mode) => {
        const exponent = currencyExponent(code);
        const denominator = 10n ** BigInt(Math.max(0, d.scale - exponent));
        const numerator = d.units * 10n ** BigInt(Math.max(0, exponent - d.scale));
        const representable = numerator % denominator === 0n;
        if (representable) expect(Money.of(d.text, code).minor).toBe(numerator / denominator);
        else
          expect(() => Money.of(d.text, code)).toThrow(expect.objectContaining({ code: 'AMOUNT_NOT_REPRESENTABLE' }));
        expect(roundsCorrectly(Money.of(d.text, code, mode).minor, numerator, denominator, mode)).toBe(true);
      }),
      { numRuns },
    );
  });

  it('multiply rounds the exact product once, in the direction the mode asks, beyond 2^53', () => {
    fc.assert(
      fc.property(money, decimal, rounding, (m, factor, mode) => {
        const result = m.multiply(factor.text, mode);
        expect(result.currency).toBe(m.currency);
        expect(roundsCorrectly(result.minor, m.minor * factor.units, 10n ** BigInt(factor.scale), mode)).toBe(true);
      }),
      { numRuns },
    );
  });

  it('multiply by an integer is exact whatever the rounding mode', () => {
    fc.assert(
      fc.property(money, fc.bigInt({ min: -(10n ** 20n), max: 10n ** 20n }), rounding, (m, factor, mode) => {
        expect(m.multiply(factor, mode).minor).toBe(m.minor * factor);
        expect(m.multiply(factor.toString(), mode).minor).toBe(m.minor * factor);
      }),
      { numRuns },
    );
  });

  it('percentage(p) rounds p / 100 of the amount like the mode says, and 100% is the identity', () => {
    fc.assert(
      fc.property(money, decimal, rounding, (m, percent, mode) => {
        const result = m.percentage(percent.text, mode);
        expect(roundsCorrectly(result.minor, m.minor * percent.units, 10n ** BigInt(percent.scale + 2), mode)).toBe(
          true,
        );
        expect(m.percentage('100', mode).equals(m)).toBe(true);
      }),
      { numRuns },
    );
  });

  it('compare agrees with the order of minor units and is antisymmetric', () => {
    fc.assert(
      fc.property(sameCurrencyPair, ([a, b]) => {
        const expected = a.minor < b.minor ? -1 : a.minor > b.minor ? 1 : 0;
        expect(a.compare(b)).toBe(expected);
        expect(b.compare(a)).toBe(-expected || 0);
        expect(a.lessThan(b)).toBe(expected < 0);
        expect(a.greaterThan(b)).toBe(expected > 0);
        expect(a.equals(b)).toBe(expected === 0);
      }),
      { numRuns },
    );
  });

  it('negate is an involution and abs is never negative', () => {
    fc.assert(
      fc.property(money, (m) => {
        expect(m.negate().negate().equals(m)).toBe(true);
        expect(m.abs().isNegative()).toBe(false);
        expect(m.add(m.negate()).isZero()).toBe(true);
        expect(m.isPositive() || m.isNegative() || m.isZero()).toBe(true);
      }),
      { numRuns },
    );
  });
});
