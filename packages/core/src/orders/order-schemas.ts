import { z } from 'zod';
import { isStorableText, storableText } from '../errors/storable-text.js';
import { minorUnitsJson } from '../money/minor-units-json.js';
import { ACTOR_ROLES } from './process/process-definition.js';

const id = z
  .string()
  .min(1)
  .max(100)
  .regex(/^[\x21-\x7e]+$/, 'must be printable ASCII without spaces');

export const actorSchema = z.strictObject({ role: z.enum(ACTOR_ROLES), id });

/**
 * Zod schema of a {@link CheckoutInput}, what `market.orders.checkout` checks its input with: ids of 1–100
 * printable ASCII characters without spaces, a quantity from 1 to 1,000,000, a payment method and key of 1–255
 * characters. Its values are JSON already, so it also checks a request body (an HTTP layer `.omit()`s the fields
 * it fills itself, such as `buyerId` and `idempotencyKey`).
 *
 * @example
 * ```ts
 * const body = checkoutInputSchema.omit({ buyerId: true, idempotencyKey: true }).parse(req.body);
 * await market.orders.checkout({ ...body, buyerId: user.id, idempotencyKey: req.get('Idempotency-Key')! });
 * ```
 */
export const checkoutInputSchema = z.strictObject({
  orderId: id.optional(),
  buyerId: id,
  listingId: id,
  quantity: z.number().int().min(1).max(1_000_000),
  paymentMethod: storableText().min(1).max(255),
  idempotencyKey: storableText().min(1).max(255).optional(),
});

/**
 * Zod schema of a {@link TransitionInput}, what `market.orders.transition` checks its input with (`amountMinor` a
 * bigint from 1 to 2^63−1, `buyerPercent` from 0 to 100, a reason of at most 1,000 characters). For a JSON body see
 * {@link transitionInputJsonSchema}.
 */
export const transitionInputSchema = z.strictObject({
  actor: actorSchema,
  reason: storableText().max(1000).optional(),
  amountMinor: z.bigint().min(1n).max(9_223_372_036_854_775_807n).optional(),
  buyerPercent: z.number().min(0).max(100).optional(),
  idempotencyKey: storableText().min(1).max(255).optional(),
});

/**
 * {@link transitionInputSchema} for JSON: `amountMinor` is an integer string (`"1500"`) read as a bigint and checked
 * by the same rule, so both accept the same values; everything else is the same schema.
 *
 * @example
 * ```ts
 * transitionInputJsonSchema.parse({ actor, amountMinor: '1500' }).amountMinor; // 1500n
 * ```
 */
export const transitionInputJsonSchema = transitionInputSchema.extend({
  amountMinor: minorUnitsJson(transitionInputSchema.shape.amountMinor.unwrap()).optional(),
});

export const orderIdSchema = id;
export const transitionNameSchema = storableText().min(1).max(64);

/** What {@link checkoutInputSchema} parses a checkout input to. */
export type ParsedCheckout = z.output<typeof checkoutInputSchema>;

const ID = /^[\x21-\x7e]+$/;
const CHECKOUT_KEYS: ReadonlySet<string> = new Set([
  'orderId',
  'buyerId',
  'listingId',
  'quantity',
  'paymentMethod',
  'idempotencyKey',
]);
const isId = (v: unknown): v is string => typeof v === 'string' && v.length >= 1 && v.length <= 100 && ID.test(v);
const isText = (v: unknown): v is string =>
  typeof v === 'string' && v.length >= 1 && v.length <= 255 && isStorableText(v);

/**
 * The checkout input as {@link checkoutInputSchema} would parse it, when it is a plain object whose every field is
 * present with a value of the parsed type within its limits; `undefined` otherwise, and then the caller runs the
 * schema, which decides (and explains). The same checks as the schema for exactly those inputs, without its cost
 * (~50–70 µs per checkout here); a property test holds the two together.
 * @internal
 */
export function plainCheckoutInput(input: unknown): ParsedCheckout | undefined {
  if (typeof input !== 'object' || input === null) return;
  const proto = Object.getPrototypeOf(input) as unknown;
  if (proto !== Object.prototype && proto !== null) return;
  const record = input as Record<string, unknown>;
  for (const key of Object.keys(record)) if (!CHECKOUT_KEYS.has(key) || record[key] === undefined) return;
  const { orderId, buyerId, listingId, quantity, paymentMethod, idempotencyKey } = record;
  if ((orderId !== undefined && !isId(orderId)) || !isId(buyerId) || !isId(listingId)) return;
  if (typeof quantity !== 'number' || !Number.isInteger(quantity) || quantity < 1 || quantity > 1_000_000) return;
  if (!isText(paymentMethod) || (idempotencyKey !== undefined && !isText(idempotencyKey))) return;
  const out: { -readonly [K in keyof ParsedCheckout]: ParsedCheckout[K] } = {
    buyerId,
    listingId,
    quantity,
    paymentMethod,
  };
  if (orderId !== undefined) out.orderId = orderId;
  if (idempotencyKey !== undefined) out.idempotencyKey = idempotencyKey;
  return out;
}
