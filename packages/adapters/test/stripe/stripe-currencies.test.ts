import {
  fromStripeAmount,
  STRIPE_THREE_DECIMAL_CURRENCIES,
  STRIPE_ZERO_DECIMAL_CURRENCIES,
  stripeCurrencyRule,
  toStripeAmount,
} from '@marketkit/adapters/stripe';
import { CURRENCY_CODES, currencyExponent } from '@marketkit/core';
import { describe, expect, it } from 'vitest';

describe('Stripe amounts from Marketkit minor units', () => {
  it.each([
    // currency, Marketkit minor units (ISO 4217 exponent), Stripe amount
    ['USD', 12_34n, 1234],
    ['EUR', 1n, 1],
    ['JPY', 500n, 500],
    ['KRW', 15_000n, 15_000],
    ['CLP', 990n, 990],
    ['VND', 100_000n, 100_000],
    ['XOF', 5_000n, 5_000],
    ['MGA', 12_00n, 12], // ISO: 2 decimals; Stripe: whole ariary
    ['UGX', 3_700n, 3_700],
    ['ISK', 500n, 50_000], // ISO: no decimals; Stripe: two decimals, whole krónur
    ['HUF', 1_000_00n, 1_000_00],
    ['TWD', 30_00n, 30_00],
    ['KWD', 5_120n, 5_120],
    ['BHD', 10n, 10],
    ['JOD', 1_000n, 1_000],
    ['OMR', 2_340n, 2_340],
    ['TND', 990n, 990],
  ] as const)('%s %s minor → Stripe %s, and back', (currency, minor, amount) => {
    expect(toStripeAmount(minor, currency)).toBe(amount);
    expect(fromStripeAmount(amount, currency)).toBe(minor);
    expect(toStripeAmount(minor, currency.toLowerCase())).toBe(amount);
  });

  it.each([
    ['KWD', 5_124n, /multiples of 10/],
    ['BHD', 1n, /multiples of 10/],
    ['MGA', 12_34n, /whole units/],
    ['USD', 0n, /positive safe integer/],
    ['USD', -1n, /positive safe integer/],
    ['JPY', 2n ** 53n, /positive safe integer/],
  ] as const)('refuses %s %s minor (no exact Stripe amount) with VALIDATION_FAILED', (currency, minor, why) => {
    expect(() => toStripeAmount(minor, currency)).toThrow(why);
    try {
      toStripeAmount(minor, currency);
    } catch (e) {
      expect(e).toMatchObject({ code: 'VALIDATION_FAILED', retryable: false });
    }
  });

  it('refuses an unknown currency with UNKNOWN_CURRENCY', () => {
    expect(() => toStripeAmount(1n, 'XYZ')).toThrow(expect.objectContaining({ code: 'UNKNOWN_CURRENCY' }));
  });

  it('holds Stripe’s documented zero-decimal and three-decimal lists', () => {
    expect([...STRIPE_ZERO_DECIMAL_CURRENCIES].sort()).toEqual(
      [
        'BIF',
        'CLP',
        'DJF',
        'GNF',
        'JPY',
        'KMF',
        'KRW',
        'MGA',
        'PYG',
        'RWF',
        'UGX',
        'VND',
        'VUV',
        'XAF',
        'XOF',
        'XPF',
      ].sort(),
    );
    expect([...STRIPE_THREE_DECIMAL_CURRENCIES].sort()).toEqual(['BHD', 'JOD', 'KWD', 'OMR', 'TND']);
  });

  it('takes every other ISO 4217 currency with its ISO exponent, and round-trips every currency exactly', () => {
    for (const code of CURRENCY_CODES) {
      const rule = stripeCurrencyRule(code);
      const special = STRIPE_ZERO_DECIMAL_CURRENCIES.includes(code) || code === 'ISK';
      if (!special) expect(rule.exponent, code).toBe(currencyExponent(code));
      const amount = 7 * rule.step * 10 ** Math.max(0, rule.exponent - currencyExponent(code));
      const minor = fromStripeAmount(amount, code);
      expect(toStripeAmount(minor, code), code).toBe(amount);
    }
  });
});
