import Decimal from 'decimal.js';
import { z } from 'zod';
import { MarketkitError, ValidationError } from '../errors/index.js';
import { allocateMinor } from './allocate.js';
import { type CurrencyCode, currencyCodeSchema, currencyExponent } from './currency.js';
import { type RoundingMode, toDecimalRounding } from './rounding-mode.js';

/** Private clone: never touch decimal.js's global configuration, which the host app may rely on. */
const ExactDecimal = Decimal.clone({ precision: 100 });

const PLAIN_DECIMAL = /^([+-]?)(\d+)(?:\.(\d+))?$/;
const INTEGER_LITERAL = /^[+-]?\d+$/;
const CURRENCY_TOKEN = /^[A-Za-z]{3}$/;
const MONEY_BRAND = Symbol.for('@marketkit/core/Money');

/**
 * Any arbitrary-precision decimal object whose `toFixed()` (no argument) returns its exact value in plain notation:
 * a `Decimal` from decimal.js (any copy or clone), a `Big` from big.js, a `BigNumber` from bignumber.js.
 *
 * @example
 * ```ts
 * const factor: DecimalLike = new Decimal('1.075');
 * ```
 */
export interface DecimalLike {
  /** The exact decimal, without exponent notation. */
  toFixed(): string;
}

/**
 * An exact decimal number given to {@link Money.multiply}: a plain decimal string (`'1.075'`, `'-2'`), a finite
 * number (read through its shortest round-trip form, so `0.1` means exactly 0.1; beyond `Number.MAX_SAFE_INTEGER`
 * refused with `VALIDATION_FAILED`), a bigint, or a {@link DecimalLike}.
 *
 * @example
 * ```ts
 * const factors: DecimalInput[] = ['1.075', 0.5, 3n, new Decimal('0.333')];
 * ```
 */
export type DecimalInput = string | number | bigint | DecimalLike;

/**
 * The JSON form of a {@link Money}: the amount in minor units as an integer string (exact at any size, unlike a JSON
 * number) and the currency code.
 *
 * @example
 * ```ts
 * const json: MoneyJSON = { amount: '1234', currency: 'USD' }; // 12.34 USD
 * ```
 */
export interface MoneyJSON {
  readonly amount: string;
  readonly currency: CurrencyCode;
}

/**
 * Zod schema for a {@link MoneyJSON} at a public entry point. Turn the parsed value into money with
 * {@link Money.fromJSON}.
 *
 * @example
 * ```ts
 * const money = Money.fromJSON(moneyJsonSchema.parse(body.price));
 * ```
 */
export const moneyJsonSchema = z.object({
  amount: z.string().regex(INTEGER_LITERAL, { error: 'Expected an integer amount in minor units, as a string.' }),
  currency: currencyCodeSchema,
});

/** An exact decimal as `units / 10 ** scale`. */
interface Scaled {
  readonly units: bigint;
  readonly scale: number;
}

/** `VALIDATION_FAILED` for the input at `path` (the argument's name). */
function invalid(message: string, path: string): ValidationError {
  return new ValidationError([{ path: [path], message }], message);
}

function quote(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value);
  try {
    return String(value);
  } catch {
    return 'a value that cannot be shown'; // an object whose toString throws, or has none
  }
}

/** Reads any {@link DecimalInput} exactly, refusing anything that is not a finite plain decimal. */
function toScaled(value: unknown, what: string): Scaled {
  let text: unknown;
  if (typeof value === 'string') text = value;
  else if (typeof value === 'bigint') text = value.toString();
  else if (typeof value === 'number') {
    if (!Number.isFinite(value)) throw invalid(`The ${what} must be a finite number, got ${value}.`, what);
    if (Math.abs(value) > Number.MAX_SAFE_INTEGER) throw unsafeNumber(value, what);
    text = new ExactDecimal(value).toFixed();
  } else if (typeof value === 'object' && value !== null && typeof (value as DecimalLike).toFixed === 'function') {
    text = (value as DecimalLike).toFixed();
  }
  const match = typeof text === 'string' ? PLAIN_DECIMAL.exec(text) : null;
  if (match === null) {
    throw invalid(`The ${what} must be a plain decimal such as "12.34", got ${quote(text ?? value)}.`, what);
  }
  const [, sign = '', whole = '', fraction = ''] = match;
  return { units: BigInt(sign + whole + fraction), scale: fraction.length };
}

/**
 * A number beyond 2^53 - 1 is refused, not read: it may already be another integer than the one written
 * (`2 ** 53 + 1` is `9007199254740992`), so reading it would change the amount silently.
 */
function unsafeNumber(value: number, what: string): ValidationError {
  return invalid(
    `The ${what} ${value} is beyond Number.MAX_SAFE_INTEGER and may not be the number written; pass it as a string or a bigint.`,
    what,
  );
}

/** `units / 10 ** scale` rounded to an integer with `rounding`, exactly (the constructor and rounding ignore precision). */
function roundScaled(units: bigint, scale: number, rounding: RoundingMode): bigint {
  const mode = toDecimalRounding(rounding);
  if (scale === 0) return units;
  return BigInt(new ExactDecimal(`${units}e-${scale}`).toDecimalPlaces(0, mode).toFixed(0));
}

/**
 * An exact, immutable amount of one currency, held as a bigint count of minor units (cents for USD, yen for JPY,
 * fils for KWD), so amounts beyond 2^53 stay exact. Every operation returns a new frozen `Money`; combining two
 * currencies throws `CURRENCY_MISMATCH`; every operation that could produce a fraction of a minor unit takes an
 * explicit {@link RoundingMode}.
 *
 * @example
 * ```ts
 * const price = Money.of('19.99', 'USD');
 * const fee = price.percentage('12.5', 'halfEven'); // 2.50 USD
 * const [seller, platform] = price.allocate([90, 10]); // 17.99 USD, 2.00 USD
 * price.subtract(fee).format(); // '$17.49'
 * JSON.stringify(price); // '{"amount":"1999","currency":"USD"}'
 * ```
 */
export class Money {
  /** The amount in minor units of {@link Money.currency}: `1234n` for 12.34 USD. */
  readonly minor: bigint;
  /** The ISO 4217 code of the currency. */
  readonly currency: CurrencyCode;

  private constructor(minor: bigint, currency: CurrencyCode) {
    this.minor = minor;
    this.currency = currency;
    Object.defineProperty(this, MONEY_BRAND, { value: true });
    Object.freeze(this);
  }

  /**
   * Money from an integer count of minor units.
   *
   * @param minor a bigint, a safe-integer number, or an integer literal string such as `'-1234'`.
   * @throws {MarketkitError} `UNKNOWN_CURRENCY` for an unknown code; `AMOUNT_NOT_REPRESENTABLE` for a number that is
   * fractional or beyond `Number.MAX_SAFE_INTEGER` (pass a bigint or string instead); `VALIDATION_FAILED` otherwise.
   * @example
   * ```ts
   * Money.fromMinor(1234n, 'USD').toString(); // '12.34 USD'
   * Money.fromMinor('9007199254740993', 'JPY').toString(); // '9007199254740993 JPY'
   * ```
   */
  static fromMinor(minor: bigint | number | string, currency: CurrencyCode): Money {
    currencyExponent(currency);
    if (typeof minor === 'bigint') return new Money(minor, currency);
    if (typeof minor === 'number') {
      if (!Number.isFinite(minor)) throw invalid(`Minor units must be a finite number, got ${minor}.`, 'minor');
      if (!Number.isSafeInteger(minor)) {
        throw new MarketkitError('AMOUNT_NOT_REPRESENTABLE', {
          message: `Minor units ${minor} must be a safe integer; pass a bigint or an integer string for larger amounts.`,
          details: { amount: String(minor), currency, exponent: currencyExponent(currency) },
        });
      }
      return new Money(BigInt(minor), currency);
    }
    if (typeof minor === 'string' && INTEGER_LITERAL.test(minor)) return new Money(BigInt(minor), currency);
    throw invalid(`Minor units must be an integer such as "1234", got ${quote(minor)}.`, 'minor');
  }

  /**
   * Money from an amount in major units: `Money.of('12.34', 'USD')` is 1234 cents. Without `rounding`, an amount with
   * more (non-zero) decimals than the currency has is refused rather than silently rounded.
   *
   * @param amount a plain decimal string (`'12.34'`, `'-0.5'`) or a finite number (read through its shortest form)
   * no larger than `Number.MAX_SAFE_INTEGER` in magnitude (a larger number may already differ from what was written:
   * `2 ** 53 + 1` is `9007199254740992`; pass a string).
   * @param rounding how to round extra decimals away; omit to require an exact amount.
   * @throws {MarketkitError} `UNKNOWN_CURRENCY`; `AMOUNT_NOT_REPRESENTABLE` for too many decimals without `rounding`,
   * or for a number beyond `Number.MAX_SAFE_INTEGER`; `VALIDATION_FAILED` for a malformed amount.
   * @example
   * ```ts
   * Money.of('12.34', 'USD').minor; // 1234n
   * Money.of(1000, 'JPY').minor; // 1000n
   * Money.of('0.125', 'USD', 'halfEven').minor; // 12n
   * Money.of('0.125', 'USD'); // throws AMOUNT_NOT_REPRESENTABLE
   * ```
   */
  static of(amount: string | number, currency: CurrencyCode, rounding?: RoundingMode): Money {
    const exponent = currencyExponent(currency);
    if (typeof amount === 'number' && Number.isFinite(amount) && Math.abs(amount) > Number.MAX_SAFE_INTEGER) {
      throw new MarketkitError('AMOUNT_NOT_REPRESENTABLE', {
        message: `${amount} is beyond Number.MAX_SAFE_INTEGER and may not be the amount written; pass a string instead.`,
        details: { amount: String(amount), currency, exponent },
      });
    }
    const { units, scale } = toScaled(amount, 'amount');
    if (rounding !== undefined) toDecimalRounding(rounding);
    if (scale <= exponent) return new Money(units * 10n ** BigInt(exponent - scale), currency);
    const excess = 10n ** BigInt(scale - exponent);
    if (units % excess === 0n) return new Money(units / excess, currency);
    if (rounding === undefined) {
      throw new MarketkitError('AMOUNT_NOT_REPRESENTABLE', {
        message: `${quote(amount)} has more than ${exponent} decimal place(s), the most ${currency} allows; pass a rounding mode to round it.`,
        details: { amount: quote(amount), currency, exponent },
      });
    }
    return new Money(roundScaled(units, scale - exponent, rounding), currency);
  }

  /**
   * Zero in `currency`.
   *
   * @throws {MarketkitError} `UNKNOWN_CURRENCY` for an unknown code.
   * @example
   * ```ts
   * Money.zero('EUR').toString(); // '0.00 EUR'
   * ```
   */
  static zero(currency: CurrencyCode): Money {
    currencyExponent(currency);
    return new Money(0n, currency);
  }

  /**
   * Money from its text form, amount and code separated by whitespace, in either order: `'12.34 USD'` or
   * `'USD 12.34'`. Exact: too many decimals throw, as in {@link Money.of}.
   *
   * @throws {MarketkitError} `VALIDATION_FAILED` for malformed text; `UNKNOWN_CURRENCY`; `AMOUNT_NOT_REPRESENTABLE`.
   * @example
   * ```ts
   * Money.parse('12.34 USD').minor; // 1234n
   * Money.parse('KWD -1.250').minor; // -1250n
   * ```
   */
  static parse(text: string): Money {
    const tokens = typeof text === 'string' ? text.trim().split(/\s+/) : [];
    const [first = '', second = ''] = tokens;
    if (tokens.length === 2 && CURRENCY_TOKEN.test(first)) return Money.of(second, first);
    if (tokens.length === 2 && CURRENCY_TOKEN.test(second)) return Money.of(first, second);
    throw invalid(
      `Cannot parse ${quote(text)} as money: expected an amount and a currency code, like "12.34 USD".`,
      'text',
    );
  }

  /**
   * Money from its {@link MoneyJSON} form, the inverse of {@link Money.toJSON}.
   *
   * @throws {MarketkitError} `VALIDATION_FAILED` for a malformed object; `UNKNOWN_CURRENCY`.
   * @example
   * ```ts
   * Money.fromJSON({ amount: '1234', currency: 'USD' }).toString(); // '12.34 USD'
   * ```
   */
  static fromJSON(json: MoneyJSON): Money {
    if (typeof json !== 'object' || json === null || typeof json.amount !== 'string') {
      throw invalid('Money JSON must be an object like { "amount": "1234", "currency": "USD" }.', 'json');
    }
    return Money.fromMinor(json.amount, json.currency);
  }

  /**
   * True when `value` is a `Money`, including one created by another loaded copy of the package (ESM and CJS).
   *
   * @example
   * ```ts
   * Money.isMoney(Money.zero('USD')); // true
   * Money.isMoney({ minor: 0n, currency: 'USD' }); // false
   * ```
   */
  static isMoney(value: unknown): value is Money {
    return typeof value === 'object' && value !== null && (value as Record<symbol, unknown>)[MONEY_BRAND] === true;
  }

  /**
   * The sum of this and `other`.
   *
   * @throws {MarketkitError} `CURRENCY_MISMATCH` when the currencies differ.
   * @example
   * ```ts
   * Money.of('1.50', 'USD').add(Money.of('0.75', 'USD')).toString(); // '2.25 USD'
   * ```
   */
  add(other: Money): Money {
    this.assertSameCurrency(other, 'add');
    return new Money(this.minor + other.minor, this.currency);
  }

  /**
   * This minus `other`.
   *
   * @throws {MarketkitError} `CURRENCY_MISMATCH` when the currencies differ.
   * @example
   * ```ts
   * Money.of('1.50', 'USD').subtract(Money.of('2', 'USD')).toString(); // '-0.50 USD'
   * ```
   */
  subtract(other: Money): Money {
    this.assertSameCurrency(other, 'subtract');
    return new Money(this.minor - other.minor, this.currency);
  }

  /**
   * This times `factor`, computed exactly and rounded once to a minor unit with `rounding` (required: there is no
   * default, so every rounding in a money flow is a visible decision).
   *
   * @throws {MarketkitError} `VALIDATION_FAILED` for a malformed factor or rounding mode.
   * @example
   * ```ts
   * Money.of('10.00', 'USD').multiply('1.075', 'halfEven').toString(); // '10.75 USD'
   * Money.of('0.05', 'USD').multiply(0.5, 'halfEven').toString(); // '0.02 USD'
   * Money.of('0.05', 'USD').multiply(0.5, 'halfUp').toString(); // '0.03 USD'
   * ```
   */
  multiply(factor: DecimalInput, rounding: RoundingMode): Money {
    const { units, scale } = toScaled(factor, 'factor');
    return new Money(roundScaled(this.minor * units, scale, rounding), this.currency);
  }

  /**
   * `percent` percent of this amount, computed exactly and rounded once with `rounding`: a 12.5% fee is
   * `price.percentage('12.5', 'halfEven')`.
   *
   * @throws {MarketkitError} `VALIDATION_FAILED` for a malformed percentage or rounding mode.
   * @example
   * ```ts
   * Money.of('19.99', 'USD').percentage('12.5', 'halfEven').toString(); // '2.50 USD'
   * Money.of('19.99', 'USD').percentage(12.5, 'floor').toString(); // '2.49 USD'
   * ```
   */
  percentage(percent: string | number, rounding: RoundingMode): Money {
    const { units, scale } = toScaled(percent, 'percent');
    return new Money(roundScaled(this.minor * units, scale + 2, rounding), this.currency);
  }

  /**
   * The amount with its sign flipped.
   *
   * @example
   * ```ts
   * Money.of('5', 'USD').negate().toString(); // '-5.00 USD'
   * ```
   */
  negate(): Money {
    return new Money(-this.minor, this.currency);
  }

  /**
   * The absolute amount.
   *
   * @example
   * ```ts
   * Money.of('-5', 'USD').abs().toString(); // '5.00 USD'
   * ```
   */
  abs(): Money {
    return this.minor < 0n ? this.negate() : this;
  }

  /**
   * True when the amount is zero.
   *
   * @example
   * ```ts
   * Money.zero('USD').isZero(); // true
   * ```
   */
  isZero(): boolean {
    return this.minor === 0n;
  }

  /**
   * True when the amount is above zero.
   *
   * @example
   * ```ts
   * Money.of('0.01', 'USD').isPositive(); // true
   * ```
   */
  isPositive(): boolean {
    return this.minor > 0n;
  }

  /**
   * True when the amount is below zero.
   *
   * @example
   * ```ts
   * Money.of('-0.01', 'USD').isNegative(); // true
   * ```
   */
  isNegative(): boolean {
    return this.minor < 0n;
  }

  /**
   * -1, 0 or 1 as this is less than, equal to or greater than `other`; usable as an `Array.prototype.sort` comparator.
   *
   * @throws {MarketkitError} `CURRENCY_MISMATCH` when the currencies differ.
   * @example
   * ```ts
   * [Money.of('2', 'USD'), Money.of('1', 'USD')].sort((a, b) => a.compare(b)); // 1.00 USD, 2.00 USD
   * ```
   */
  compare(other: Money): -1 | 0 | 1 {
    this.assertSameCurrency(other, 'compare');
    if (this.minor === other.minor) return 0;
    return this.minor < other.minor ? -1 : 1;
  }

  /**
   * True when `other` has the same currency and amount. Never throws: different currencies are simply not equal.
   *
   * @example
   * ```ts
   * Money.of('1', 'USD').equals(Money.fromMinor(100n, 'USD')); // true
   * Money.of('1', 'USD').equals(Money.of('1', 'EUR')); // false
   * ```
   */
  equals(other: Money): boolean {
    return this.currency === other.currency && this.minor === other.minor;
  }

  /**
   * True when this is less than `other`.
   *
   * @throws {MarketkitError} `CURRENCY_MISMATCH` when the currencies differ.
   * @example
   * ```ts
   * Money.of('1', 'USD').lessThan(Money.of('2', 'USD')); // true
   * ```
   */
  lessThan(other: Money): boolean {
    return this.compare(other) < 0;
  }

  /**
   * True when this is less than or equal to `other`.
   *
   * @throws {MarketkitError} `CURRENCY_MISMATCH` when the currencies differ.
   * @example
   * ```ts
   * Money.of('2', 'USD').lessThanOrEqual(Money.of('2', 'USD')); // true
   * ```
   */
  lessThanOrEqual(other: Money): boolean {
    return this.compare(other) <= 0;
  }

  /**
   * True when this is greater than `other`.
   *
   * @throws {MarketkitError} `CURRENCY_MISMATCH` when the currencies differ.
   * @example
   * ```ts
   * Money.of('2', 'USD').greaterThan(Money.of('1', 'USD')); // true
   * ```
   */
  greaterThan(other: Money): boolean {
    return this.compare(other) > 0;
  }

  /**
   * True when this is greater than or equal to `other`.
   *
   * @throws {MarketkitError} `CURRENCY_MISMATCH` when the currencies differ.
   * @example
   * ```ts
   * balance.greaterThanOrEqual(amount); // enough funds?
   * ```
   */
  greaterThanOrEqual(other: Money): boolean {
    return this.compare(other) >= 0;
  }

  /**
   * Splits this amount into shares proportional to `ratios` with no minor unit lost or invented: the shares sum
   * exactly to this amount and each is within one minor unit of its exact proportion. Leftover units go to the
   * largest remainders, ties to the earlier share, so the result is deterministic. A negative amount splits as the
   * mirror image of its absolute value.
   *
   * @param ratios non-negative weights (integers or decimals, e.g. `[70, 30]`, `['0.5', '0.25', '0.25']`) with a
   * positive sum; shares come back in the same order.
   * @throws {MarketkitError} `VALIDATION_FAILED` for an empty list, a negative or malformed ratio, or a zero sum.
   * @example
   * ```ts
   * Money.of('100', 'USD').allocate([1, 1, 1]).map(String); // ['33.34 USD', '33.33 USD', '33.33 USD']
   * Money.of('-0.05', 'USD').allocate([50, 50]).map(String); // ['-0.03 USD', '-0.02 USD']
   * ```
   */
  allocate(ratios: readonly (number | string | bigint)[]): Money[] {
    if (!Array.isArray(ratios)) throw invalid('Allocation ratios must be an array.', 'ratios');
    const scaled = ratios.map((ratio: unknown) => toScaled(ratio, 'ratio'));
    const scale = Math.max(0, ...scaled.map((ratio) => ratio.scale));
    const weights = scaled.map((ratio) => ratio.units * 10n ** BigInt(scale - ratio.scale));
    return allocateMinor(this.minor, weights).map((share) => new Money(share, this.currency));
  }

  /**
   * The amount in major units as a plain decimal string with exactly the currency's number of decimals.
   *
   * @example
   * ```ts
   * Money.fromMinor(1234n, 'USD').toMajorString(); // '12.34'
   * Money.fromMinor(-5n, 'USD').toMajorString(); // '-0.05'
   * Money.fromMinor(1000n, 'JPY').toMajorString(); // '1000'
   * ```
   */
  toMajorString(): string {
    const exponent = currencyExponent(this.currency);
    const sign = this.minor < 0n ? '-' : '';
    const digits = (this.minor < 0n ? -this.minor : this.minor).toString().padStart(exponent + 1, '0');
    if (exponent === 0) return sign + digits;
    return `${sign}${digits.slice(0, -exponent)}.${digits.slice(-exponent)}`;
  }

  /**
   * The amount for display with `Intl.NumberFormat` in `locale`, always showing the currency's ISO number of decimals.
   * Formatted from the exact decimal string, never through a float, so amounts beyond 2^53 stay exact.
   *
   * @throws {MarketkitError} `VALIDATION_FAILED` for a locale `Intl` rejects.
   * @example
   * ```ts
   * Money.of('1234.5', 'USD').format(); // '$1,234.50'
   * Money.of('1234.5', 'EUR').format('de-DE'); // '1.234,50 €'
   * Money.of('1000', 'JPY').format('ja-JP'); // '￥1,000'
   * ```
   */
  format(locale = 'en-US'): string {
    const exponent = currencyExponent(this.currency);
    let formatter: Intl.NumberFormat;
    try {
      formatter = new Intl.NumberFormat(locale, {
        style: 'currency',
        currency: this.currency,
        minimumFractionDigits: exponent,
        maximumFractionDigits: exponent,
      });
    } catch (cause) {
      const error = invalid(`Cannot format money for locale ${quote(locale)}.`, 'locale');
      throw Object.assign(error, { cause });
    }
    return formatter.format(this.toMajorString() as Intl.StringNumericLiteral);
  }

  /**
   * The amount and code, as in `'12.34 USD'`; {@link Money.parse} reads it back.
   *
   * @example
   * ```ts
   * String(Money.of('12.34', 'USD')); // '12.34 USD'
   * ```
   */
  toString(): string {
    return `${this.toMajorString()} ${this.currency}`;
  }

  /**
   * The {@link MoneyJSON} form, minor units as an integer string; called by `JSON.stringify`.
   *
   * @example
   * ```ts
   * Money.of('12.34', 'USD').toJSON(); // { amount: '1234', currency: 'USD' }
   * ```
   */
  toJSON(): MoneyJSON {
    return Object.freeze({ amount: this.minor.toString(), currency: this.currency });
  }

  private assertSameCurrency(other: Money, operation: string): void {
    if (other.currency !== this.currency) {
      throw new MarketkitError('CURRENCY_MISMATCH', {
        message: `Cannot ${operation} ${this.currency} and ${other.currency} amounts.`,
        details: { operation, left: this.currency, right: other.currency },
      });
    }
  }
}
