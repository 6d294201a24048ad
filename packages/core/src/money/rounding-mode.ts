import type Decimal from 'decimal.js';
import { z } from 'zod';
import { ValidationError } from '../errors/index.js';

/**
 * How to round an exact result to a whole minor unit.
 *
 * - `halfEven`: to nearest, ties to the even neighbour (banker's rounding; unbiased over many operations).
 * - `halfUp`: to nearest, ties away from zero (2.5 → 3, -2.5 → -3).
 * - `halfDown`: to nearest, ties towards zero (2.5 → 2, -2.5 → -2).
 * - `up`: away from zero (2.1 → 3, -2.1 → -3).
 * - `down`: towards zero, i.e. truncate (2.9 → 2, -2.9 → -2).
 * - `ceil`: towards +∞ (2.1 → 3, -2.9 → -2).
 * - `floor`: towards -∞ (2.9 → 2, -2.1 → -3).
 *
 * @example
 * ```ts
 * const mode: RoundingMode = 'halfEven';
 * Money.of('10.00', 'USD').percentage('12.345', mode).toString(); // '1.23 USD'
 * ```
 */
export type RoundingMode = 'halfEven' | 'halfUp' | 'halfDown' | 'up' | 'down' | 'ceil' | 'floor';

/**
 * A decimal.js rounding constant, `Decimal.ROUND_UP` (0) to `Decimal.ROUND_HALF_EVEN` (6), as
 * {@link toDecimalRounding} returns it; assignable to decimal.js's `Decimal.Rounding`. Declared here rather than
 * named from decimal.js: its declarations are CommonJS, so in an ESM consumer's types (`node16`/`nodenext`) a
 * default-imported `Decimal.Rounding` does not resolve.
 *
 * @example
 * ```ts
 * const mode: DecimalRounding = toDecimalRounding('halfUp'); // 4, Decimal.ROUND_HALF_UP
 * ```
 */
export type DecimalRounding = 0 | 1 | 2 | 3 | 4 | 5 | 6;

// Each value is both one of ours and one of decimal.js's constants (the `satisfies` below checks the second).
const DECIMAL_ROUNDING = Object.freeze({
  up: 0, // Decimal.ROUND_UP
  down: 1, // Decimal.ROUND_DOWN
  ceil: 2, // Decimal.ROUND_CEIL
  floor: 3, // Decimal.ROUND_FLOOR
  halfUp: 4, // Decimal.ROUND_HALF_UP
  halfDown: 5, // Decimal.ROUND_HALF_DOWN
  halfEven: 6, // Decimal.ROUND_HALF_EVEN
} as const satisfies Record<RoundingMode, DecimalRounding & Decimal.Rounding>);

/**
 * Every rounding mode, in a stable order. Frozen.
 *
 * @example
 * ```ts
 * ROUNDING_MODES.includes('halfEven'); // true
 * ```
 */
export const ROUNDING_MODES = Object.freeze([
  'halfEven',
  'halfUp',
  'halfDown',
  'up',
  'down',
  'ceil',
  'floor',
] as const satisfies readonly RoundingMode[]);

/**
 * True when `value` is one of the {@link RoundingMode} names.
 *
 * @example
 * ```ts
 * isRoundingMode('floor'); // true
 * isRoundingMode('HALF_UP'); // false
 * ```
 */
export function isRoundingMode(value: unknown): value is RoundingMode {
  return typeof value === 'string' && Object.hasOwn(DECIMAL_ROUNDING, value);
}

/**
 * The decimal.js rounding constant (`Decimal.ROUND_*`) equivalent to `mode`.
 *
 * @throws {MarketkitError} `VALIDATION_FAILED` when `mode` is not a {@link RoundingMode} (a plain-JS caller's typo).
 * @example
 * ```ts
 * new Decimal('2.5').toDecimalPlaces(0, toDecimalRounding('halfEven')).toString(); // '2'
 * ```
 */
export function toDecimalRounding(mode: RoundingMode): DecimalRounding {
  if (!isRoundingMode(mode)) {
    const message = `Unknown rounding mode ${JSON.stringify(mode)}: expected one of ${ROUNDING_MODES.join(', ')}.`;
    throw new ValidationError([{ path: ['rounding'], message }], message);
  }
  return DECIMAL_ROUNDING[mode];
}

/**
 * Zod schema for a {@link RoundingMode} at a public entry point.
 *
 * @example
 * ```ts
 * roundingModeSchema.parse('halfUp'); // 'halfUp'
 * ```
 */
export const roundingModeSchema = z.enum(ROUNDING_MODES);
