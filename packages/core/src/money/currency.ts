import { z } from 'zod';
import { MarketkitError } from '../errors/index.js';

/**
 * An ISO 4217 alphabetic currency code, such as `'USD'` or `'JPY'`. Kept as a plain string so codes read from a
 * database or a request need no cast; {@link isCurrencyCode} and {@link currencyCodeSchema} check membership.
 *
 * @example
 * ```ts
 * const currency: CurrencyCode = 'EUR';
 * ```
 */
export type CurrencyCode = string;

/**
 * The active ISO 4217 currency codes (List One) with the number of digits of their minor unit: 2 for USD (cents),
 * 0 for JPY, 3 for KWD, 4 for CLF. Codes without a minor unit in the standard (precious metals, XDR, testing codes)
 * are not money a marketplace moves and are left out, as are withdrawn codes (ANG, BGN, CUC, HRK, SLL, ZWL).
 * Frozen; look codes up with {@link currencyExponent} rather than indexing directly.
 *
 * @example
 * ```ts
 * Object.keys(CURRENCY_EXPONENTS).length; // 164
 * ```
 */
// biome-ignore format: a table reads better one letter per line
export const CURRENCY_EXPONENTS: Readonly<Record<CurrencyCode, number>> = Object.freeze({
  AED: 2, AFN: 2, ALL: 2, AMD: 2, AOA: 2, ARS: 2, AUD: 2, AWG: 2, AZN: 2,
  BAM: 2, BBD: 2, BDT: 2, BHD: 3, BIF: 0, BMD: 2, BND: 2, BOB: 2, BOV: 2, BRL: 2, BSD: 2, BTN: 2, BWP: 2, BYN: 2,
  BZD: 2,
  CAD: 2, CDF: 2, CHE: 2, CHF: 2, CHW: 2, CLF: 4, CLP: 0, CNY: 2, COP: 2, COU: 2, CRC: 2, CUP: 2, CVE: 2, CZK: 2,
  DJF: 0, DKK: 2, DOP: 2, DZD: 2,
  EGP: 2, ERN: 2, ETB: 2, EUR: 2,
  FJD: 2, FKP: 2,
  GBP: 2, GEL: 2, GHS: 2, GIP: 2, GMD: 2, GNF: 0, GTQ: 2, GYD: 2,
  HKD: 2, HNL: 2, HTG: 2, HUF: 2,
  IDR: 2, ILS: 2, INR: 2, IQD: 3, IRR: 2, ISK: 0,
  JMD: 2, JOD: 3, JPY: 0,
  KES: 2, KGS: 2, KHR: 2, KMF: 0, KPW: 2, KRW: 0, KWD: 3, KYD: 2, KZT: 2,
  LAK: 2, LBP: 2, LKR: 2, LRD: 2, LSL: 2, LYD: 3,
  MAD: 2, MDL: 2, MGA: 2, MKD: 2, MMK: 2, MNT: 2, MOP: 2, MRU: 2, MUR: 2, MVR: 2, MWK: 2, MXN: 2, MXV: 2, MYR: 2,
  MZN: 2,
  NAD: 2, NGN: 2, NIO: 2, NOK: 2, NPR: 2, NZD: 2,
  OMR: 3,
  PAB: 2, PEN: 2, PGK: 2, PHP: 2, PKR: 2, PLN: 2, PYG: 0,
  QAR: 2,
  RON: 2, RSD: 2, RUB: 2, RWF: 0,
  SAR: 2, SBD: 2, SCR: 2, SDG: 2, SEK: 2, SGD: 2, SHP: 2, SLE: 2, SOS: 2, SRD: 2, SSP: 2, STN: 2, SVC: 2, SYP: 2,
  SZL: 2,
  THB: 2, TJS: 2, TMT: 2, TND: 3, TOP: 2, TRY: 2, TTD: 2, TWD: 2, TZS: 2,
  UAH: 2, UGX: 0, USD: 2, USN: 2, UYI: 0, UYU: 2, UYW: 4, UZS: 2,
  VED: 2, VES: 2, VND: 0, VUV: 0,
  WST: 2,
  XAF: 0, XCD: 2, XCG: 2, XOF: 0, XPF: 0,
  YER: 2,
  ZAR: 2, ZMW: 2, ZWG: 2,
});

/**
 * Every known currency code, sorted alphabetically. Frozen.
 *
 * @example
 * ```ts
 * CURRENCY_CODES.includes('USD'); // true
 * ```
 */
export const CURRENCY_CODES: readonly CurrencyCode[] = Object.freeze(Object.keys(CURRENCY_EXPONENTS).sort());

/**
 * True when `code` is an active ISO 4217 code in {@link CURRENCY_EXPONENTS}. Case-sensitive: `'usd'` is not a code.
 *
 * @example
 * ```ts
 * isCurrencyCode('USD'); // true
 * isCurrencyCode('XYZ'); // false
 * ```
 */
export function isCurrencyCode(code: unknown): code is CurrencyCode {
  return typeof code === 'string' && Object.hasOwn(CURRENCY_EXPONENTS, code);
}

/**
 * The number of minor-unit digits of `code`: how many decimal places an amount in it carries.
 *
 * @throws {MarketkitError} `UNKNOWN_CURRENCY` when `code` is not an active ISO 4217 code.
 * @example
 * ```ts
 * currencyExponent('USD'); // 2
 * currencyExponent('JPY'); // 0
 * currencyExponent('KWD'); // 3
 * ```
 */
export function currencyExponent(code: CurrencyCode): number {
  if (!isCurrencyCode(code)) {
    throw new MarketkitError('UNKNOWN_CURRENCY', {
      message: `Unknown currency ${typeof code === 'string' ? JSON.stringify(code) : describe(code)}: expected an active ISO 4217 code such as "USD".`,
      details: { currency: typeof code === 'string' ? code : describe(code) },
    });
  }
  return CURRENCY_EXPONENTS[code] as number;
}

/** A short text for a value that is not a string, built without anything that can throw (`JSON.stringify(1n)` does). */
function describe(value: unknown): string {
  if (typeof value === 'bigint') return `${value}n`;
  if (value === null || (typeof value !== 'object' && typeof value !== 'function')) return String(value);
  return typeof value === 'function' ? 'a function' : 'an object';
}

/**
 * Zod schema for a currency code at a public entry point: three uppercase letters naming an active ISO 4217 code.
 * Its JSON Schema (`z.toJSONSchema`) lists the codes ({@link CURRENCY_CODES}) as an `enum`.
 *
 * @example
 * ```ts
 * currencyCodeSchema.parse('EUR'); // 'EUR'
 * currencyCodeSchema.safeParse('eur').success; // false
 * ```
 */
export const currencyCodeSchema = z
  .string()
  .regex(/^[A-Z]{3}$/, { error: 'Expected three uppercase letters (an ISO 4217 code such as "USD").' })
  .refine(isCurrencyCode, { error: 'Unknown ISO 4217 currency code.' })
  // The refinement is invisible to a JSON Schema (`z.toJSONSchema`); the list it checks is shown as an `enum`.
  .meta({ enum: [...CURRENCY_CODES] });
