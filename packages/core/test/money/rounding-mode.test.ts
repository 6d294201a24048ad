import Decimal from 'decimal.js';
import { describe, expect, it } from 'vitest';
import {
  isRoundingMode,
  Money,
  ROUNDING_MODES,
  type RoundingMode,
  roundingModeSchema,
  toDecimalRounding,
} from '../../src/money/index.js';

function thrownBy(fn: () => unknown): unknown {
  try {
    fn();
  } catch (error) {
    return error;
  }
  throw new Error('expected the call to throw');
}

// Exact values in tenths of a yen, and the whole yen each mode rounds them to.
const inputs = ['2.5', '-2.5', '3.5', '-3.5', '2.4', '-2.4', '2.6', '-2.6', '2.0', '-0.1'] as const;
const expected: Record<RoundingMode, readonly number[]> = {
  halfEven: [2, -2, 4, -4, 2, -2, 3, -3, 2, 0],
  halfUp: [3, -3, 4, -4, 2, -2, 3, -3, 2, 0],
  halfDown: [2, -2, 3, -3, 2, -2, 3, -3, 2, 0],
  up: [3, -3, 4, -4, 3, -3, 3, -3, 2, -1],
  down: [2, -2, 3, -3, 2, -2, 2, -2, 2, 0],
  ceil: [3, -2, 4, -3, 3, -2, 3, -2, 2, 0],
  floor: [2, -3, 3, -4, 2, -3, 2, -3, 2, -1],
};

describe('rounding modes', () => {
  for (const mode of ROUNDING_MODES) {
    it(`${mode} rounds ${inputs.join(', ')} as documented`, () => {
      const viaOf = inputs.map((amount) => Number(Money.of(amount, 'JPY', mode).minor));
      const viaMultiply = inputs.map((amount) => Number(Money.fromMinor(1n, 'JPY').multiply(amount, mode).minor));
      const viaPercentage = inputs.map((amount) => {
        const percent = new Decimal(amount).times(100).toFixed();
        return Number(Money.fromMinor(1n, 'JPY').percentage(percent, mode).minor);
      });
      expect(viaOf).toEqual(expected[mode]);
      expect(viaMultiply).toEqual(expected[mode]);
      expect(viaPercentage).toEqual(expected[mode]);
    });
  }

  it('maps each mode to the decimal.js constant of the same meaning', () => {
    expect(toDecimalRounding('up')).toBe(Decimal.ROUND_UP);
    expect(toDecimalRounding('down')).toBe(Decimal.ROUND_DOWN);
    expect(toDecimalRounding('ceil')).toBe(Decimal.ROUND_CEIL);
    expect(toDecimalRounding('floor')).toBe(Decimal.ROUND_FLOOR);
    expect(toDecimalRounding('halfUp')).toBe(Decimal.ROUND_HALF_UP);
    expect(toDecimalRounding('halfDown')).toBe(Decimal.ROUND_HALF_DOWN);
    expect(toDecimalRounding('halfEven')).toBe(Decimal.ROUND_HALF_EVEN);
  });

  it('rejects an unknown mode with VALIDATION_FAILED, even when no rounding is needed', () => {
    const bogus = 'HALF_UP' as RoundingMode;
    expect(thrownBy(() => toDecimalRounding(bogus))).toMatchObject({ code: 'VALIDATION_FAILED' });
    expect(thrownBy(() => Money.of('1', 'USD').multiply(2, bogus))).toMatchObject({ code: 'VALIDATION_FAILED' });
    expect(thrownBy(() => Money.of('1.5', 'USD', bogus))).toMatchObject({ code: 'VALIDATION_FAILED' });
  });

  it('recognises mode names', () => {
    expect(isRoundingMode('halfEven')).toBe(true);
    expect(isRoundingMode('HALF_EVEN')).toBe(false);
    expect(isRoundingMode(undefined)).toBe(false);
    expect(roundingModeSchema.parse('floor')).toBe('floor');
    expect(roundingModeSchema.safeParse('nearest').success).toBe(false);
  });

  it('does not touch the global decimal.js configuration', () => {
    expect(Decimal.precision).toBe(20);
    expect(Decimal.rounding).toBe(Decimal.ROUND_HALF_UP);
  });
});
