import { currencyExponent, MarketkitError } from '@marketkit/core';

/**
 * Currencies Stripe takes in whole units (no minor unit in its API), whatever ISO 4217 says: Stripe's documented
 * list of zero-decimal currencies.
 */
export const STRIPE_ZERO_DECIMAL_CURRENCIES: readonly string[] = Object.freeze([
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
]);

/** Currencies Stripe takes with three decimals, whose amounts must end in 0 (a multiple of 10 thousandths). */
export const STRIPE_THREE_DECIMAL_CURRENCIES: readonly string[] = Object.freeze(['BHD', 'JOD', 'KWD', 'OMR', 'TND']);

/** How Stripe's API writes amounts of one currency. */
export interface StripeCurrencyRule {
  /** Decimal places of a Stripe `amount` (0 for JPY, 2 for USD and ISK, 3 for KWD). */
  readonly exponent: number;
  /** Every Stripe amount must be a multiple of this (100 for ISK, 10 for the three-decimal currencies, else 1). */
  readonly step: number;
}

/**
 * How Stripe writes amounts of `currency` (ISO 4217 code, any case): zero-decimal currencies in whole units; ISK
 * with two decimals in whole krónur (a multiple of 100, Stripe's special case); BHD, JOD, KWD, OMR, TND with three
 * decimals ending in 0; every other currency with its ISO 4217 exponent.
 *
 * @example
 * ```ts
 * stripeCurrencyRule('JPY'); // { exponent: 0, step: 1 }
 * stripeCurrencyRule('ISK'); // { exponent: 2, step: 100 }
 * stripeCurrencyRule('KWD'); // { exponent: 3, step: 10 }
 * ```
 */
export function stripeCurrencyRule(currency: string): StripeCurrencyRule {
  const code = currency.toUpperCase();
  if (STRIPE_ZERO_DECIMAL_CURRENCIES.includes(code)) return { exponent: 0, step: 1 };
  if (code === 'ISK') return { exponent: 2, step: 100 };
  if (STRIPE_THREE_DECIMAL_CURRENCIES.includes(code)) return { exponent: 3, step: 10 };
  return { exponent: currencyExponent(code), step: 1 };
}

/**
 * Converts Marketkit's minor units (ISO 4217 exponent) to a Stripe `amount`. Throws `VALIDATION_FAILED` when the
 * amount has no exact Stripe form (12.34 MGA, which Stripe takes in whole ariary; 1.005 KWD, which must end in 0)
 * or is not a positive safe integer: nothing is sent to Stripe then, and the money is never rounded silently.
 *
 * @example
 * ```ts
 * toStripeAmount(1234n, 'USD'); // 1234
 * toStripeAmount(500n, 'ISK');  // 50000 (500 krónur)
 * toStripeAmount(1230n, 'KWD'); // 1230
 * ```
 */
export function toStripeAmount(minor: bigint, currency: string): number {
  const rule = stripeCurrencyRule(currency);
  const shift = rule.exponent - currencyExponent(currency.toUpperCase());
  let amount: bigint;
  if (shift >= 0) amount = minor * 10n ** BigInt(shift);
  else {
    const div = 10n ** BigInt(-shift);
    if (minor % div !== 0n) throw unrepresentable(minor, currency, `Stripe takes ${currency} in whole units`);
    amount = minor / div;
  }
  if (amount % BigInt(rule.step) !== 0n) {
    throw unrepresentable(minor, currency, `Stripe takes ${currency} amounts in multiples of ${rule.step}`);
  }
  if (amount <= 0n || amount > BigInt(Number.MAX_SAFE_INTEGER)) {
    throw unrepresentable(minor, currency, 'a Stripe amount is a positive safe integer');
  }
  return Number(amount);
}

/** Converts a Stripe `amount` of `currency` back to Marketkit's minor units (ISO 4217 exponent). */
export function fromStripeAmount(amount: number, currency: string): bigint {
  const shift = stripeCurrencyRule(currency).exponent - currencyExponent(currency.toUpperCase());
  const value = BigInt(amount);
  return shift >= 0 ? value / 10n ** BigInt(shift) : value * 10n ** BigInt(-shift);
}

function unrepresentable(minor: bigint, currency: string, why: string): MarketkitError<'VALIDATION_FAILED'> {
  return new MarketkitError('VALIDATION_FAILED', {
    message: `${minor} minor units of ${currency} cannot be sent to Stripe: ${why}.`,
    details: { issues: [{ path: ['amountMinor'], message: why }] },
  });
}
