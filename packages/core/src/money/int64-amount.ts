import { MarketkitError } from '../errors/marketkit-error.js';
import { CURRENCY_EXPONENTS, type CurrencyCode } from './currency.js';

/** Largest amount, in minor units, that Marketkit stores (a signed 64-bit column): 2^63 - 1. */
const MAX_STORED_MINOR = 9_223_372_036_854_775_807n;

/**
 * `minor` when it fits the signed 64-bit columns amounts are stored in; `AMOUNT_NOT_REPRESENTABLE` otherwise, before
 * anything is written (a driver would throw a `RangeError` or a storage error instead). `what` names the amount.
 * @internal
 */
export function int64Amount(minor: bigint, currency: CurrencyCode, what: string): bigint {
  if (minor <= MAX_STORED_MINOR && minor >= -MAX_STORED_MINOR - 1n) return minor;
  throw amountNotRepresentable(
    minor,
    currency,
    `The ${what}, ${minor} minor units of ${currency}, does not fit a signed 64-bit integer (at most 2^63 - 1).`,
  );
}

/** `AMOUNT_NOT_REPRESENTABLE` for `minor` of `currency`, saying why in `message`. @internal */
export function amountNotRepresentable(
  minor: bigint,
  currency: CurrencyCode,
  message: string,
): MarketkitError<'AMOUNT_NOT_REPRESENTABLE'> {
  return new MarketkitError('AMOUNT_NOT_REPRESENTABLE', {
    message,
    details: { amount: String(minor), currency, exponent: CURRENCY_EXPONENTS[currency] ?? 0 },
  });
}
