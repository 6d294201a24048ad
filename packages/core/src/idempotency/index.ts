export { Idempotency } from './idempotency.js';
export { IDEMPOTENCY_LIMITS } from './idempotency-limits.js';
export type { IdempotencyStatus } from './idempotency-tables.js';
export type {
  BeginOptions,
  BeginResult,
  ExecuteOptions,
  FailOutcome,
  IdempotencyHandle,
  IdempotencyOptions,
  IdempotencyRecord,
  IdempotencyScope,
  IdempotentCall,
  ResultCodec,
} from './idempotency-types.js';
export {
  CHECKOUT_OPERATION,
  KEYED_OPERATIONS,
  type KeyedOperation,
  LISTING_OPERATIONS,
  PAYOUT_OPERATION,
  transitionOperation,
} from './keyed-operations.js';
export { isReplayed } from './replay-mark.js';
export { canonicalJson, requestFingerprint } from './request-fingerprint.js';
export { isStorableError, STORED_UNDER_KEY } from './storable-error.js';
