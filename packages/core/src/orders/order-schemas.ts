import { z } from 'zod';
import { ACTOR_ROLES } from './process/process-definition.js';

const id = z
  .string()
  .min(1)
  .max(100)
  .regex(/^[\x21-\x7e]+$/, 'must be printable ASCII without spaces');

export const actorSchema = z.strictObject({ role: z.enum(ACTOR_ROLES), id });

export const checkoutSchema = z.strictObject({
  orderId: id.optional(),
  buyerId: id,
  listingId: id,
  quantity: z.number().int().min(1).max(1_000_000),
  paymentMethod: z.string().min(1).max(255),
  idempotencyKey: z.string().min(1).max(255).optional(),
});

export const transitionSchema = z.strictObject({
  actor: actorSchema,
  reason: z.string().max(1000).optional(),
  amountMinor: z.bigint().min(1n).max(9_223_372_036_854_775_807n).optional(),
  buyerPercent: z.number().min(0).max(100).optional(),
  idempotencyKey: z.string().min(1).max(255).optional(),
});

export const orderIdSchema = id;
/** How many due orders one `fireDueTransitions` call fires at most, per timed transition. */
export const dueLimitSchema = z.number().int().min(1).max(10_000);
export const transitionNameSchema = z.string().min(1).max(64);

/** What {@link checkoutSchema} parses a checkout input to. */
export type ParsedCheckout = z.output<typeof checkoutSchema>;

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
const isText = (v: unknown): v is string => typeof v === 'string' && v.length >= 1 && v.length <= 255;

/**
 * The checkout input as {@link checkoutSchema} would parse it, when it is a plain object whose every field is
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
