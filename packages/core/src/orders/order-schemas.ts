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
export const transitionNameSchema = z.string().min(1).max(64);
