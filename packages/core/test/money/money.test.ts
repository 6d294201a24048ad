import Decimal from 'decimal.js';
import { describe, expect, it } from 'vitest';
import { allocateMinor, Money, type MoneyJSON, moneyJsonSchema } from '../../src/money/index.js';

function thrownBy(fn: () => unknown): unknown {
  try {
    fn();
  } catch (error) {
    return error;
  }
  throw new Error('expected the call to throw');
}

const usd = (amount: string) => Money.of(amount, 'USD');

describe('Money.of', () => {
  it.each([
    ['12.34', 'USD', 1234n],
    ['12.3', 'USD', 1230n],
    ['12', 'USD', 1200n],
    ['-0.05', 'USD', -5n],
    ['+7.5', 'EUR', 750n],
    ['12.340', 'USD', 1234n],
    ['0', 'USD', 0n],
    ['1000', 'JPY', 1000n],
    ['1000.00', 'JPY', 1000n],
    ['1.234', 'KWD', 1234n],
    ['-0.001', 'BHD', -1n],
    ['1.2345', 'CLF', 12345n],
    ['123456789012345678901234567890.12', 'USD', 12345678901234567890123456789012n],
  ] as const)('reads %s %s as %s minor units', (amount, currency, minor) => {
    expect(Money.of(amount, currency).minor).toBe(minor);
  });

  it('reads numbers through their shortest form', () => {
    expect(Money.of(12.34, 'USD').minor).toBe(1234n);
    expect(Money.of(0.1, 'USD').minor).toBe(10n);
    expect(Money.of(Number.MAX_SAFE_INTEGER, 'JPY').minor).toBe(9007199254740991n);
    expect(Money.of(-3, 'KWD').minor).toBe(-3000n);
  });

  it('refuses numbers past Number.MAX_SAFE_INTEGER (they may not be what was written): pass a string', () => {
    expect(thrownBy(() => Money.of(1e21, 'JPY'))).toMatchObject({ code: 'AMOUNT_NOT_REPRESENTABLE' });
    expect(Money.of('1000000000000000000000', 'JPY').minor).toBe(10n ** 21n);
  });

  it('refuses more decimals than the currency has with AMOUNT_NOT_REPRESENTABLE', () => {
    expect(thrownBy(() => Money.of('12.345', 'USD'))).toMatchObject({ code: 'AMOUNT_NOT_REPRESENTABLE' });
    expect(thrownBy(() => Money.of('1.5', 'JPY'))).toMatchObject({ code: 'AMOUNT_NOT_REPRESENTABLE' });
    expect(thrownBy(() => Money.of('1.2345', 'KWD'))).toMatchObject({ code: 'AMOUNT_NOT_REPRESENTABLE' });
    expect(thrownBy(() => Money.of(0.1 + 0.2, 'USD'))).toMatchObject({ code: 'AMOUNT_NOT_REPRESENTABLE' });
  });

  it('rounds extra decimals when given a rounding mode', () => {
    expect(Money.of('12.345', 'USD', 'halfEven').minor).toBe(1234n);
    expect(Money.of('12.345', 'USD', 'halfUp').minor).toBe(1235n);
    expect(Money.of('1.5', 'JPY', 'floor').minor).toBe(1n);
    expect(Money.of(0.1 + 0.2, 'USD', 'halfEven').minor).toBe(30n);
  });

  it.each(['', ' 1', '1 ', '1,000', '1.', '.5', '1e3', '0x10', 'NaN', 'Infinity', '12.34 USD', '--1'])(
    'refuses the malformed amount %j with VALIDATION_FAILED',
    (amount) => {
      expect(thrownBy(() => Money.of(amount, 'USD'))).toMatchObject({ code: 'VALIDATION_FAILED' });
    },
  );

  it('refuses non-finite numbers with VALIDATION_FAILED', () => {
    expect(thrownBy(() => Money.of(Number.NaN, 'USD'))).toMatchObject({ code: 'VALIDATION_FAILED' });
    expect(thrownBy(() => Money.of(Number.POSITIVE_INFINITY, 'USD'))).toMatchObject({ code: 'VALIDATION_FAILED' });
  });

  it('refuses an unknown currency with UNKNOWN_CURRENCY', () => {
    expect(thrownBy(() => Money.of('1', 'XYZ'))).toMatchObject({ code: 'UNKNOWN_CURRENCY' });
    expect(thrownBy(() => Money.of('1', 'usd'))).toMatchObject({ code: 'UNKNOWN_CURRENCY' });
  });
});

describe('Money.fromMinor', () => {
  it('accepts a bigint, a safe-integer number or an integer string', () => {
    expect(Money.fromMinor(1234n, 'USD').toString()).toBe('12.34 USD');
    expect(Money.fromMinor(-5, 'USD').toString()).toBe('-0.05 USD');
    expect(Money.fromMinor('9007199254740993', 'JPY').minor).toBe(9007199254740993n);
    expect(Money.fromMinor('-42', 'KWD').toString()).toBe('-0.042 KWD');
  });

  it('refuses a number that is fractional or beyond 2^53 with AMOUNT_NOT_REPRESENTABLE', () => {
    expect(thrownBy(() => Money.fromMinor(1.5, 'USD'))).toMatchObject({ code: 'AMOUNT_NOT_REPRESENTABLE' });
    expect(thrownBy(() => Money.fromMinor(2 ** 53, 'USD'))).toMatchObject({ code: 'AMOUNT_NOT_REPRESENTABLE' });
  });

  it.each(['12.5', '1e3', '', ' 1', 'abc'])('refuses the string %j with VALIDATION_FAILED', (minor) => {
    expect(thrownBy(() => Money.fromMinor(minor, 'USD'))).toMatchObject({ code: 'VALIDATION_FAILED' });
  });

  it('refuses NaN with VALIDATION_FAILED and an unknown currency with UNKNOWN_CURRENCY', () => {
    expect(thrownBy(() => Money.fromMinor(Number.NaN, 'USD'))).toMatchObject({ code: 'VALIDATION_FAILED' });
    expect(thrownBy(() => Money.fromMinor(1n, 'ABC'))).toMatchObject({ code: 'UNKNOWN_CURRENCY' });
  });
});

describe('Money.zero', () => {
  it('is zero in the currency', () => {
    const zero = Money.zero('KWD');
    expect(zero.isZero()).toBe(true);
    expect(zero.toString()).toBe('0.000 KWD');
    expect(thrownBy(() => Money.zero('EURO'))).toMatchObject({ code: 'UNKNOWN_CURRENCY' });
  });
});

describe('Money.parse', () => {
  it.each([
    ['12.34 USD', 1234n, 'USD'],
    ['USD 12.34', 1234n, 'USD'],
    ['  -0.05   USD ', -5n, 'USD'],
    ['JPY 1000', 1000n, 'JPY'],
    ['1.234 KWD', 1234n, 'KWD'],
    ['KWD\t-1.250', -1250n, 'KWD'],
  ] as const)('parses %j', (text, minor, currency) => {
    const money = Money.parse(text);
    expect(money.minor).toBe(minor);
    expect(money.currency).toBe(currency);
  });

  it.each(['12.34', 'USD', '12.34USD', '12.34 USD extra', 'USD EUR', '', '12,34 USD'])(
    'refuses %j with VALIDATION_FAILED',
    (text) => {
      expect(thrownBy(() => Money.parse(text))).toMatchObject({ code: 'VALIDATION_FAILED' });
    },
  );

  it('refuses an unknown code and an unrepresentable amount with their own codes', () => {
    expect(thrownBy(() => Money.parse('12.34 XYZ'))).toMatchObject({ code: 'UNKNOWN_CURRENCY' });
    expect(thrownBy(() => Money.parse('12.345 USD'))).toMatchObject({ code: 'AMOUNT_NOT_REPRESENTABLE' });
    expect(thrownBy(() => Money.parse('1.5 JPY'))).toMatchObject({ code: 'AMOUNT_NOT_REPRESENTABLE' });
  });
});

describe('toMajorString and toString', () => {
  it.each([
    [1234n, 'USD', '12.34'],
    [-5n, 'USD', '-0.05'],
    [5n, 'USD', '0.05'],
    [0n, 'USD', '0.00'],
    [1000n, 'JPY', '1000'],
    [-1000n, 'JPY', '-1000'],
    [1234n, 'KWD', '1.234'],
    [1n, 'KWD', '0.001'],
    [1n, 'CLF', '0.0001'],
    [2n ** 64n, 'USD', '184467440737095516.16'],
  ] as const)('%s minor units of %s is %s', (minor, currency, major) => {
    const money = Money.fromMinor(minor, currency);
    expect(money.toMajorString()).toBe(major);
    expect(money.toString()).toBe(`${major} ${currency}`);
    expect(String(money)).toBe(`${major} ${currency}`);
  });
});

describe('format', () => {
  it('formats with Intl in en-US by default', () => {
    expect(usd('1234.5').format()).toBe('$1,234.50');
    expect(usd('-0.05').format()).toBe('-$0.05');
    expect(Money.of('1000', 'JPY').format()).toBe('¥1,000');
    expect(Money.of('1.234', 'KWD').format()).toBe('KWD\u00a01.234');
  });

  it('formats in other locales', () => {
    expect(Money.of('1234.5', 'EUR').format('de-DE')).toBe('1.234,50\u00a0€');
    expect(Money.of('1000', 'JPY').format('ja-JP')).toBe('￥1,000');
  });

  it('always shows the ISO number of decimals, even where CLDR shows fewer', () => {
    expect(Money.of('1.234', 'IQD').format()).toBe('IQD\u00a01.234');
    expect(Money.of('1.2345', 'CLF').format()).toBe('CLF\u00a01.2345');
  });

  it('stays exact beyond 2^53', () => {
    expect(Money.fromMinor(2n ** 64n + 1n, 'USD').format()).toBe('$184,467,440,737,095,516.17');
    expect(Money.fromMinor(10n ** 30n - 1n, 'JPY').format()).toBe('¥999,999,999,999,999,999,999,999,999,999');
  });

  it('refuses a locale Intl rejects with VALIDATION_FAILED', () => {
    expect(thrownBy(() => usd('1').format('not a locale!'))).toMatchObject({ code: 'VALIDATION_FAILED' });
  });
});

describe('JSON', () => {
  it('serialises minor units as an integer string', () => {
    expect(usd('12.34').toJSON()).toEqual({ amount: '1234', currency: 'USD' });
    expect(JSON.stringify({ price: Money.fromMinor(2n ** 70n, 'JPY') })).toBe(
      '{"price":{"amount":"1180591620717411303424","currency":"JPY"}}',
    );
  });

  it('reads the JSON form back', () => {
    expect(Money.fromJSON({ amount: '-1234', currency: 'KWD' }).toString()).toBe('-1.234 KWD');
    const json: MoneyJSON = moneyJsonSchema.parse({ amount: '5', currency: 'EUR' });
    expect(Money.fromJSON(json).equals(Money.of('0.05', 'EUR'))).toBe(true);
  });

  it('refuses malformed JSON', () => {
    expect(thrownBy(() => Money.fromJSON({ amount: '12.34', currency: 'USD' }))).toMatchObject({
      code: 'VALIDATION_FAILED',
    });
    expect(thrownBy(() => Money.fromJSON(null as unknown as MoneyJSON))).toMatchObject({ code: 'VALIDATION_FAILED' });
    expect(thrownBy(() => Money.fromJSON({ amount: 5 } as unknown as MoneyJSON))).toMatchObject({
      code: 'VALIDATION_FAILED',
    });
    expect(thrownBy(() => Money.fromJSON({ amount: '5', currency: 'XYZ' }))).toMatchObject({
      code: 'UNKNOWN_CURRENCY',
    });
    expect(moneyJsonSchema.safeParse({ amount: 5, currency: 'USD' }).success).toBe(false);
    expect(moneyJsonSchema.safeParse({ amount: '5', currency: 'usd' }).success).toBe(false);
  });
});

describe('arithmetic', () => {
  it('adds, subtracts, negates and takes absolute values', () => {
    expect(usd('1.50').add(usd('0.75')).toString()).toBe('2.25 USD');
    expect(usd('1.50').subtract(usd('2')).toString()).toBe('-0.50 USD');
    expect(usd('5').negate().toString()).toBe('-5.00 USD');
    expect(usd('-5').abs().toString()).toBe('5.00 USD');
    expect(usd('5').abs().toString()).toBe('5.00 USD');
  });

  it('multiplies by strings, numbers, bigints and Decimal-like objects with an explicit rounding', () => {
    expect(usd('10.00').multiply('1.075', 'halfEven').toString()).toBe('10.75 USD');
    expect(usd('0.05').multiply(0.5, 'halfEven').toString()).toBe('0.02 USD');
    expect(usd('0.05').multiply(0.5, 'halfUp').toString()).toBe('0.03 USD');
    expect(usd('2.50').multiply(3n, 'halfEven').toString()).toBe('7.50 USD');
    expect(usd('10').multiply(new Decimal('0.3333'), 'down').toString()).toBe('3.33 USD');
    expect(
      usd('10')
        .multiply({ toFixed: () => '-0.5' }, 'down')
        .toString(),
    ).toBe('-5.00 USD');
    expect(usd('10').multiply(new Decimal('1e-40'), 'up').toString()).toBe('0.01 USD');
  });

  it('multiplies exactly beyond 2^53 and beyond decimal.js precision', () => {
    const big = Money.fromMinor(10n ** 60n + 1n, 'USD');
    const factor = `1.${'0'.repeat(59)}1`;
    expect(big.multiply(factor, 'floor').minor).toBe(10n ** 60n + 2n);
    expect(big.multiply(factor, 'ceil').minor).toBe(10n ** 60n + 3n);
  });

  it('refuses a malformed factor with VALIDATION_FAILED', () => {
    for (const factor of ['abc', '1e3', '', Number.NaN, new Decimal(Number.NaN), {} as unknown as string]) {
      expect(thrownBy(() => usd('1').multiply(factor, 'halfEven'))).toMatchObject({ code: 'VALIDATION_FAILED' });
    }
  });

  it('takes a percentage, as for a 12.5% fee', () => {
    expect(usd('19.99').percentage('12.5', 'halfEven').toString()).toBe('2.50 USD');
    expect(usd('19.99').percentage(12.5, 'floor').toString()).toBe('2.49 USD');
    expect(usd('100').percentage('100', 'halfEven').toString()).toBe('100.00 USD');
    expect(Money.of('1000', 'JPY').percentage('3.6', 'halfEven').toString()).toBe('36 JPY');
    expect(Money.of('1', 'KWD').percentage('0.05', 'halfEven').toString()).toBe('0.000 KWD');
    expect(Money.of('1', 'KWD').percentage('0.05', 'up').toString()).toBe('0.001 KWD');
  });
});

describe('comparisons', () => {
  it('reports sign', () => {
    expect(usd('0').isZero()).toBe(true);
    expect(usd('0.01').isPositive()).toBe(true);
    expect(usd('0.01').isNegative()).toBe(false);
    expect(usd('-0.01').isNegative()).toBe(true);
    expect(usd('0').isPositive()).toBe(false);
  });

  it('compares amounts of one currency', () => {
    expect(usd('1').compare(usd('2'))).toBe(-1);
    expect(usd('2').compare(usd('2.00'))).toBe(0);
    expect(usd('3').compare(usd('2'))).toBe(1);
    expect(usd('1').lessThan(usd('2'))).toBe(true);
    expect(usd('2').lessThan(usd('2'))).toBe(false);
    expect(usd('2').lessThanOrEqual(usd('2'))).toBe(true);
    expect(usd('2').greaterThan(usd('1'))).toBe(true);
    expect(usd('2').greaterThanOrEqual(usd('2'))).toBe(true);
    expect([usd('2'), usd('-1'), usd('1')].sort((a, b) => a.compare(b)).map(String)).toEqual([
      '-1.00 USD',
      '1.00 USD',
      '2.00 USD',
    ]);
  });

  it('treats different currencies as unequal without throwing', () => {
    expect(usd('1').equals(Money.fromMinor(100n, 'USD'))).toBe(true);
    expect(usd('1').equals(Money.of('1', 'EUR'))).toBe(false);
    expect(Money.of('1', 'JPY').equals(Money.fromMinor(1n, 'KRW'))).toBe(false);
  });
});

describe('mixed currencies', () => {
  const dollars = usd('1');
  const euros = Money.of('1', 'EUR');
  const operations: Record<string, () => unknown> = {
    add: () => dollars.add(euros),
    subtract: () => dollars.subtract(euros),
    compare: () => dollars.compare(euros),
    lessThan: () => dollars.lessThan(euros),
    lessThanOrEqual: () => dollars.lessThanOrEqual(euros),
    greaterThan: () => dollars.greaterThan(euros),
    greaterThanOrEqual: () => dollars.greaterThanOrEqual(euros),
  };

  for (const [name, operation] of Object.entries(operations)) {
    it(`${name} throws CURRENCY_MISMATCH naming both currencies`, () => {
      const error = thrownBy(operation);
      expect(error).toBeInstanceOf(Error);
      expect(error).toMatchObject({ code: 'CURRENCY_MISMATCH', details: { left: 'USD', right: 'EUR' } });
    });
  }
});

describe('allocate', () => {
  it.each([
    ['100', [1, 1, 1], ['33.34', '33.33', '33.33']],
    ['0.05', [50, 50], ['0.03', '0.02']],
    ['-0.05', [50, 50], ['-0.03', '-0.02']],
    ['19.99', [90, 10], ['17.99', '2.00']],
    ['10', [0, 1, 0], ['0.00', '10.00', '0.00']],
    ['0.01', [1, 1, 1], ['0.01', '0.00', '0.00']],
    ['1', ['0.5', '0.25', '0.25'], ['0.50', '0.25', '0.25']],
    ['1', [1n, 2n], ['0.33', '0.67']],
    ['0', [1, 2, 3], ['0.00', '0.00', '0.00']],
    ['0.07', [3, 3, 1], ['0.03', '0.03', '0.01']],
  ] as const)('splits %s USD by %s into %s', (amount, ratios, shares) => {
    expect(
      usd(amount)
        .allocate(ratios)
        .map((share) => share.toMajorString()),
    ).toEqual(shares);
  });

  it('keeps the currency and returns new frozen instances', () => {
    const shares = Money.of('1.000', 'KWD').allocate([1, 2]);
    expect(shares.map(String)).toEqual(['0.333 KWD', '0.667 KWD']);
    for (const share of shares) expect(Object.isFrozen(share)).toBe(true);
  });

  it.each([[[]], [[-1, 2]], [[0, 0]], [['abc']], [[Number.NaN]], [['1e2']]] as const)(
    'refuses the ratios %j with VALIDATION_FAILED',
    (ratios) => {
      expect(thrownBy(() => usd('1').allocate(ratios))).toMatchObject({ code: 'VALIDATION_FAILED' });
    },
  );

  it('exposes the pure bigint algorithm', () => {
    expect(allocateMinor(100n, [1n, 1n, 1n])).toEqual([34n, 33n, 33n]);
    expect(allocateMinor(-5n, [1n, 1n])).toEqual([-3n, -2n]);
    expect(allocateMinor(2n ** 80n + 1n, [1n, 1n])).toEqual([2n ** 79n + 1n, 2n ** 79n]);
    expect(thrownBy(() => allocateMinor(1n, [1n, -1n]))).toMatchObject({ code: 'VALIDATION_FAILED' });
  });
});

describe('immutability and identity', () => {
  it('is frozen', () => {
    const money = usd('1');
    expect(Object.isFrozen(money)).toBe(true);
    expect(() => {
      (money as { minor: bigint }).minor = 5n;
    }).toThrow(TypeError);
    expect(Object.isFrozen(money.toJSON())).toBe(true);
  });

  it('recognises Money instances', () => {
    expect(Money.isMoney(usd('1'))).toBe(true);
    expect(Money.isMoney({ minor: 100n, currency: 'USD' })).toBe(false);
    expect(Money.isMoney(null)).toBe(false);
  });
});
