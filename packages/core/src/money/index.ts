export { allocateMinor } from './allocate.js';
export {
  CURRENCY_CODES,
  CURRENCY_EXPONENTS,
  type CurrencyCode,
  currencyCodeSchema,
  currencyExponent,
  isCurrencyCode,
} from './currency.js';
export { type DecimalInput, type DecimalLike, Money, type MoneyJSON, moneyJsonSchema } from './money.js';
export {
  type DecimalRounding,
  isRoundingMode,
  ROUNDING_MODES,
  type RoundingMode,
  roundingModeSchema,
  toDecimalRounding,
} from './rounding-mode.js';
