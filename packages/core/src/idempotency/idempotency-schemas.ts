import { z } from 'zod';
import { storableText } from '../errors/storable-text.js';
import { IDEMPOTENCY_LIMITS as L } from './idempotency-limits.js';

export const keySchema = z
  .string()
  .min(1)
  .max(L.maxKeyLength)
  .regex(/^[\x20-\x7e]+$/, 'must be printable ASCII');
const actorSchema = storableText().min(1).max(L.maxActorLength);
const operationSchema = storableText().min(1).max(L.maxOperationLength);
const lockMsSchema = z.number().int().min(L.minLockMs).max(L.maxLockMs);

export const scopeSchema = z.object({ key: keySchema, actor: actorSchema, operation: operationSchema });

export const callSchema = z.strictObject({
  key: keySchema,
  actor: actorSchema,
  operation: operationSchema,
  request: z.unknown(),
});

export const handleSchema = z.strictObject({
  key: keySchema,
  actor: actorSchema,
  operation: operationSchema,
  fingerprint: z.string().regex(/^[0-9a-f]{64}$/),
  token: storableText().min(1).max(100),
  attempt: z.number().int().min(1),
  lockedUntil: z.number().int(),
});

export const executeOptionsSchema = z.looseObject({
  retryUniqueViolations: z.boolean().optional(),
  maxAttempts: z.number().int().min(1).max(100).optional(),
  contended: z.literal('stock').optional(),
});

export const beginOptionsSchema = z.looseObject({ lockMs: lockMsSchema.optional() });

export const optionsSchema = z.strictObject({
  ttlMs: z.number().int().min(L.minTtlMs).max(L.maxTtlMs).default(L.defaultTtlMs),
  lockMs: lockMsSchema.default(L.defaultLockMs),
});

export const sweepLimitSchema = z.number().int().min(1).max(L.maxSweepLimit);
