import { describe, expect, it } from 'vitest';
import {
  CURRENCY_CODES,
  CURRENCY_EXPONENTS,
  currencyCodeSchema,
  currencyExponent,
  isCurrencyCode,
} from '../../src/money/index.js';

function thrownBy(fn: () => unknown): unknown {
  try {
    fn();
  } catch (error) {
    return error;
  }
  throw new Error('expected the call to throw');
}

describe('currencyExponent', () => {
  it.each([
    ['USD', 2],
    ['EUR', 2],
    ['GBP', 2],
    ['JPY', 0],
    ['KRW', 0],
    ['ISK', 0],
    ['CLP', 0],
    ['VND', 0],
    ['XAF', 0],
    ['UYI', 0],
    ['KWD', 3],
    ['BHD', 3],
    ['IQD', 3],
    ['JOD', 3],
    ['LYD', 3],
    ['OMR', 3],
    ['TND', 3],
    ['CLF', 4],
    ['UYW', 4],
    ['XCG', 2],
    ['ZWG', 2],
    ['SLE', 2],
    ['VED', 2],
  ])('gives %s %i minor-unit digits', (code, exponent) => {
    expect(currencyExponent(code)).toBe(exponent);
  });

  it.each(['XYZ', 'usd', 'US', 'USDD', '', 'ANG', 'HRK', 'XAU', 'XXX', 'constructor', 'toString'])(
    'throws UNKNOWN_CURRENCY for %j',
    (code) => {
      expect(thrownBy(() => currencyExponent(code))).toMatchObject({ code: 'UNKNOWN_CURRENCY' });
    },
  );

  it('throws UNKNOWN_CURRENCY for a non-string from plain JavaScript', () => {
    expect(thrownBy(() => currencyExponent(undefined as unknown as string))).toMatchObject({
      code: 'UNKNOWN_CURRENCY',
    });
  });
});

describe('currency table', () => {
  it('lists every code once, sorted, as three uppercase letters with an exponent of 0, 2, 3 or 4', () => {
    expect(CURRENCY_CODES.length).toBeGreaterThan(150);
    expect([...CURRENCY_CODES].sort()).toEqual(CURRENCY_CODES);
    expect(new Set(CURRENCY_CODES).size).toBe(CURRENCY_CODES.length);
    for (const code of CURRENCY_CODES) {
      expect(code).toMatch(/^[A-Z]{3}$/);
      expect([0, 2, 3, 4]).toContain(currencyExponent(code));
    }
  });

  it('is frozen', () => {
    expect(Object.isFrozen(CURRENCY_EXPONENTS)).toBe(true);
    expect(Object.isFrozen(CURRENCY_CODES)).toBe(true);
  });

  it('can be formatted with Intl for every code', () => {
    for (const code of CURRENCY_CODES) {
      expect(() => new Intl.NumberFormat('en-US', { style: 'currency', currency: code }).format(1)).not.toThrow();
    }
  });
});

describe('isCurrencyCode', () => {
  it('accepts known codes and rejects anything else', () => {
    expect(isCurrencyCode('USD')).toBe(true);
    expect(isCurrencyCode('KWD')).toBe(true);
    expect(isCurrencyCode('usd')).toBe(false);
    expect(isCurrencyCode('XYZ')).toBe(false);
    expect(isCurrencyCode('hasOwnProperty')).toBe(false);
    expect(isCurrencyCode(42)).toBe(false);
    expect(isCurrencyCode(null)).toBe(false);
  });
});

describe('currencyCodeSchema', () => {
  it('accepts a known code', () => {
    expect(currencyCodeSchema.parse('EUR')).toBe('EUR');
  });

  it.each(['eur', 'EU', 'EURO', 'XYZ', 42, null])('rejects %j', (value) => {
    expect(currencyCodeSchema.safeParse(value).success).toBe(false);
  });
});
