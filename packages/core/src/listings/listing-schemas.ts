import { z } from 'zod';
import { storableText } from '../errors/storable-text.js';
import { minorUnitsJson } from '../money/minor-units-json.js';
import { Money, moneyJsonSchema } from '../money/money.js';

const id = z
  .string()
  .min(1)
  .max(128)
  .regex(/^[\x21-\x7e]+$/, 'must be printable ASCII without spaces');
/**
 * A price: a `Money`, or its JSON form (`{ amount, currency }` as `Money.toJSON()` writes it and a request body
 * carries it), read with `Money.fromJSON`. Either way the price is a non-negative `Money`.
 */
const price = z
  .unknown()
  .transform((value, ctx) => {
    if (Money.isMoney(value)) return value;
    const json = moneyJsonSchema.safeParse(value);
    if (json.success) return Money.fromJSON(json.data);
    const [first] = typeof value === 'object' && value !== null ? json.error.issues : [];
    const why = first === undefined ? '' : ` (${first.path.join('.') || 'object'}: ${first.message})`;
    ctx.issues.push({
      code: 'custom',
      input: value,
      message: `must be a Money, or its JSON form { "amount": "1234", "currency": "USD" } with the amount in minor units as an integer string, as Money.toJSON() writes it${why}`,
    });
    return z.NEVER;
  })
  .refine((m) => !m.isNegative(), 'must not be negative');
const quantity = z.number().int().min(0).max(1_000_000_000);
const minor = z.bigint().min(0n).max(9_223_372_036_854_775_807n);

const idempotencyKey = storableText().min(1).max(255);

export const commissionSchema = z.discriminatedUnion('kind', [
  z.strictObject({
    kind: z.literal('percentage'),
    percent: z
      .string()
      .regex(/^\d{1,3}(\.\d{1,6})?$/, 'a percentage such as 12.5')
      .refine((p) => Number(p) <= 100, 'must be at most 100'),
    minimumMinor: minor.optional(),
    rounding: z.enum(['halfEven', 'halfUp', 'down', 'up']).optional(),
  }),
  z.strictObject({ kind: z.literal('fixed'), amountMinor: minor }),
]);

/**
 * A price in JSON: {@link moneyJsonSchema} without other members, read by the same rule as a price (`price`), so it
 * is a non-negative `Money`.
 */
const priceJson = moneyJsonSchema
  .strict()
  .pipe(price as z.ZodType<Money, z.output<typeof moneyJsonSchema>>)
  .meta({ description: 'A non-negative price: minor units as an integer string, and an ISO 4217 currency code.' });

/**
 * Zod schema of a {@link ListingInput}, what `market.listings.create` checks its input with: ids of 1–128 printable
 * ASCII characters without spaces, a title of 1–300 characters, a non-negative price (a `Money` or its JSON form), a
 * quantity from 0 to 1,000,000,000, an optional commission rule. For a JSON body see {@link listingInputJsonSchema}.
 */
export const listingInputSchema = z.strictObject({
  id: id.optional(),
  sellerId: id,
  title: storableText().min(1).max(300),
  price,
  quantity,
  commission: commissionSchema.optional(),
  idempotencyKey: idempotencyKey.optional(),
});

/**
 * {@link listingInputSchema} for JSON: the price only in its JSON form (`{ "amount": "4000", "currency": "USD" }`,
 * parsed to a `Money`) and the commission's amounts as integer strings (parsed to bigints), each checked by the same
 * rule as in {@link listingInputSchema}.
 *
 * @example
 * ```ts
 * const body = listingInputJsonSchema.omit({ sellerId: true, commission: true, idempotencyKey: true }).parse(req.body);
 * await market.listings.create({ ...body, sellerId: user.id });
 * ```
 */
export const listingInputJsonSchema = listingInputSchema.extend({
  price: priceJson,
  commission: commissionJson().optional(),
});

/**
 * Zod schema of a {@link ListingUpdate}, what `market.listings.update` checks its input with: the version the edit
 * applies to, and the fields to change by the same rules as {@link listingInputSchema}. For a JSON body see
 * {@link listingUpdateJsonSchema}.
 */
export const listingUpdateSchema = z.strictObject({
  expectedVersion: z.number().int().min(0),
  title: storableText().min(1).max(300).optional(),
  price: price.optional(),
  quantity: quantity.optional(),
  status: z.enum(['active', 'closed']).optional(),
  idempotencyKey: idempotencyKey.optional(),
});

/** {@link listingUpdateSchema} for JSON: the price only in its JSON form, parsed to a `Money` by the same rule. */
export const listingUpdateJsonSchema = listingUpdateSchema.extend({ price: priceJson.optional() });

/** {@link commissionSchema} with its amounts as integer strings, each read by the same bigint rule. */
function commissionJson() {
  const [percentage, fixed] = commissionSchema.options;
  return z.discriminatedUnion('kind', [
    percentage.extend({ minimumMinor: minorUnitsJson(percentage.shape.minimumMinor.unwrap()).optional() }),
    fixed.extend({ amountMinor: minorUnitsJson(fixed.shape.amountMinor) }),
  ]);
}

export const reserveInputSchema = z.strictObject({
  listingId: id,
  quantity: z.number().int().min(1).max(1_000_000),
  ttlMs: z
    .number()
    .int()
    .min(1000)
    .max(30 * 24 * 3600 * 1000)
    .default(15 * 60 * 1000),
  orderId: id.optional(),
  reservationId: id.optional(),
  idempotencyKey: idempotencyKey.optional(),
});

export const keyOptionsSchema = z.strictObject({ idempotencyKey: idempotencyKey.optional() });

export const listingIdSchema = id;

/** Options of `Listings` (`createMarketplace({ listings })`). */
export const listingsOptionsSchema = z.strictObject({
  stockStrategy: z.enum(['guardedUpdate', 'rowLock']).optional(),
});
