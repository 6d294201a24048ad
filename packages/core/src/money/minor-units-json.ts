import { z } from 'zod';

/**
 * The JSON form of a bigint amount schema: the amount in minor units as an integer string (JSON has no bigint),
 * read with `BigInt` and then checked by `amount` itself, so it accepts exactly the amounts `amount` accepts,
 * written in their canonical form (`'1500'`, not `'01500'` or `'1.5e3'`). The string's pattern, which a JSON
 * Schema shows, follows `amount`'s bounds: no sign when its minimum is not negative, no `0` when it is at least 1,
 * at most as many digits as its maximum has (the exact maximum is checked on the bigint).
 * @internal used by the JSON forms of the input schemas
 */
export function minorUnitsJson(amount: z.ZodBigInt) {
  const min = amount.minValue;
  const max = amount.maxValue;
  const digits = max === null ? '*' : `{0,${String(max < 0n ? -max : max).length - 1}}`;
  const positive = min !== null && min >= 1n;
  const unsigned = min !== null && min >= 0n;
  const body = `[1-9][0-9]${digits}`;
  const pattern = new RegExp(`^${unsigned ? '' : '-?'}${positive ? body : `(0|${body})`}$`);
  return z
    .string()
    .regex(pattern, { error: 'Expected an amount in minor units as an integer string, e.g. "1500".' })
    .transform((s) => BigInt(s))
    .pipe(amount);
}
