import { z } from 'zod';
import type { ErrorCode } from './error-codes.js';

/*
 * The one `details` shape of every error code: a zod schema per code, and the types derived from them, so the
 * shapes are declared once. Details are plain JSON (no bigint: minor amounts are decimal strings), so
 * `error.toJSON()` can be sent as it is, and they are strict: a field a shape does not declare is an error.
 */

const text = z.string();
const minor = z.string().regex(/^-?\d+$/, 'a decimal integer in minor units');

/** One problem found in an input, with the path to the offending field. */
const validationIssue = z.strictObject({ path: z.array(z.union([z.string(), z.number()])).readonly(), message: text });

/** The storage codes carry the kind the adapter classified the driver error as. */
const storageKind = <K extends string>(...kinds: [K, ...K[]]) => z.strictObject({ kind: z.enum(kinds) });

/** A version check that failed, or a record busy with another operation. */
const concurrencyConflict = z.discriminatedUnion('reason', [
  z.strictObject({
    reason: z.literal('version'),
    resource: text,
    id: text,
    expectedVersion: text,
    actualVersion: text.nullable().describe('`null` when the record no longer exists'),
  }),
  z.strictObject({
    reason: z.literal('busy'),
    resource: text,
    id: text,
    operation: text.optional().describe('the operation the record is busy with; absent when it was gone when reread'),
    sagaId: text.optional().describe('the saga running that operation'),
  }),
]);

/**
 * The zod schema of each code's `details`. `satisfies Record<ErrorCode, …>` makes a code added to
 * `ERROR_CODES` without a shape a compile error.
 *
 * @example
 * ```ts
 * if (isMarketkitError(e)) ERROR_DETAILS_SCHEMAS[e.code].parse(e.details); // never throws
 * ```
 */
export const ERROR_DETAILS_SCHEMAS = {
  VALIDATION_FAILED: z
    .strictObject({ issues: z.array(validationIssue).readonly() })
    .describe('nothing was written; every problem found, with the path to the field'),
  UNKNOWN_CURRENCY: z.strictObject({ currency: text }),
  CURRENCY_MISMATCH: z.strictObject({ operation: text, left: text, right: text }),
  AMOUNT_NOT_REPRESENTABLE: z.strictObject({ amount: text, currency: text, exponent: z.number().int() }),
  INSUFFICIENT_FUNDS: z.strictObject({
    accountId: text,
    amountMinor: minor,
    availableMinor: minor.optional().describe('absent where the ledger refused without saying what the account holds'),
  }),
  PAYOUT_DESTINATION_MISSING: z
    .strictObject({ sellerId: text })
    .describe('nothing was written; store one with `payouts.setDestination` or pass `destination`'),
  INSUFFICIENT_STOCK: z
    .strictObject({ listingId: text, wanted: z.number().int(), available: z.number().int() })
    .describe('for `listings.update`: `wanted` is the units sold or reserved, `available` the quantity asked for'),
  RESERVATION_EXPIRED: z.strictObject({
    reservationId: text,
    expiresAt: z.number().describe('ms since the epoch; the expiry job may not have swept it yet'),
  }),
  NOT_FOUND: z.strictObject({
    resource: text.describe(
      '`order`, `listing`, `reservation`, `payout`, `saga`, `sagaDefinition`, `webhookEndpoint`, `webhookDelivery`, …',
    ),
    id: text,
  }),
  CONCURRENCY_CONFLICT: concurrencyConflict,
  UNIQUE_VIOLATION: storageKind('uniqueViolation'),
  SERIALIZATION_FAILURE: storageKind('serializationFailure', 'preparedStatementLost').describe(
    'PostgreSQL only (SQLite writes one transaction at a time); see docs/storage.md',
  ),
  DEADLOCK_DETECTED: storageKind('deadlock').describe('PostgreSQL only; see docs/storage.md'),
  LOCK_NOT_AVAILABLE: storageKind('lockNotAvailable'),
  CONNECTION_LOST: storageKind('connectionLost'),
  STORAGE_ERROR: storageKind('foreignKeyViolation', 'checkViolation', 'unknown'),
  MIGRATION_FAILED: z.strictObject({
    results: z
      .array(z.strictObject({ migrationName: text, direction: text, status: text }))
      .readonly()
      .describe('what ran'),
  }),
  LEASE_LOST: z.strictObject({
    resource: text.describe('`lease`, `job`, `saga`, `idempotencyKey`, `outboxPartition`'),
    id: text,
    fence: text,
  }),
  INVALID_TRANSITION: z.strictObject({ resource: text, id: text, state: text, transition: text }),
  UNAUTHENTICATED: z
    .strictObject({})
    .describe('no details: a missing, malformed, expired or wrongly signed credential are not told apart'),
  FORBIDDEN: z.strictObject({ role: text, actorId: text, operation: text }),
  WEBHOOK_SIGNATURE_INVALID: z.strictObject({
    provider: text.describe('the provider whose webhook endpoint refused the request (`stripe`)'),
    reason: text.describe('why, as the provider’s library says it (no signature, no matching one, too old)'),
  }),
  IDEMPOTENCY_KEY_REUSED: z.strictObject({
    key: text.describe('on checkout, the idempotency key, or the order id the caller chose'),
    actor: text.optional().describe('absent for keys not scoped to an actor: saga ids, a provider’s keys'),
    operation: text.describe('the operation the key is stored under (see docs/idempotency.md)'),
  }),
  IDEMPOTENCY_CONFLICT: z.strictObject({
    key: text,
    actor: text.optional(),
    operation: text,
    retryAfterMs: z
      .number()
      .int()
      .nonnegative()
      .optional()
      .describe('absent when the key changed hands while it was read: retry at once'),
  }),
  PAYMENT_DECLINED: z.strictObject({ operation: text.describe('the provider call: `authorize`, `capture`, …') }),
  PROVIDER_ERROR: z.strictObject({
    operation: text.optional().describe('absent when a saga step failed with an error that was not a Marketkit error'),
  }),
  PROVIDER_TIMEOUT: z.strictObject({
    operation: text,
    timeoutMs: z.number().optional().describe('absent when the provider itself reported the timeout'),
  }),
  PROVIDER_UNAVAILABLE: z.strictObject({
    provider: text.describe('the provider’s `name`'),
    operation: text.describe('the provider call that was refused: `authorize`, `capture`, …, or `checkout`'),
    retryAfterMs: z
      .number()
      .int()
      .nonnegative()
      .describe('when the breaker lets a probe call through (half-open), by this process’s clock'),
  }),
  CUSTOMER_ACTION_UNSUPPORTED: z.strictObject({
    orderId: text,
    authorizationId: text.describe('the hold, voided by the checkout saga’s compensation'),
    process: text.describe('`name@version` of the process, which declares no `awaitCustomer` transition'),
  }),
  PROVIDER_CAPABILITY_MISSING: z.strictObject({
    method: text.describe('the optional provider method the call needs (`listEffects` for `payments.reconcile()`)'),
  }),
  BACKUP_UNSUPPORTED: z.strictObject({
    adapter: text.describe('the storage adapter’s name (`postgres`)'),
    use: text.describe('what to back the database up with instead (`pg_dump` or PITR for PostgreSQL)'),
  }),
  RATE_LIMITED: z.strictObject({
    routeClass: text.describe('the class of routes whose limit was reached (`read`, `write`, `money`, …)'),
    limit: z.number().int().describe('the points the class allows per window'),
    retryAfterMs: z.number().int().describe('when a point is free again'),
  }),
  OVERLOADED: z.strictObject({
    resource: z
      .enum(['requests', 'database-connections'])
      .describe(
        'what is at capacity: `requests`, the in-flight bound of a process (HTTP); `database-connections`, the pool, ' +
          'whose wait for a free connection ran out (the adapter’s connection wait bound); nothing was written',
      ),
    retryAfterMs: z.number().int().describe('a suggested wait before retrying'),
  }),
  WEBHOOK_TARGET_REFUSED: z.strictObject({
    url: text,
    reason: z
      .enum(['scheme', 'privateAddress', 'unresolvable'])
      .describe('`scheme`: not https; `privateAddress`: a non-public address; `unresolvable`: no DNS answer'),
    address: text.optional().describe('the non-public address the host is or resolved to'),
  }),
  INTERNAL: z.strictObject({}).describe('no details: the message says what broke; please report it'),
} as const satisfies Record<ErrorCode, z.ZodType<Readonly<Record<string, unknown>>>>;

/** The `details` of an error with code `C`. */
export type ErrorDetails<C extends ErrorCode = ErrorCode> = {
  readonly [K in C]: Readonly<z.output<(typeof ERROR_DETAILS_SCHEMAS)[K]>>;
}[C];

/** Every code's details type, by code. */
export type ErrorDetailsMap = { readonly [C in ErrorCode]: ErrorDetails<C> };

/** True when `details` has the shape declared for `code`. */
export function matchesErrorDetails<C extends ErrorCode>(code: C, details: unknown): details is ErrorDetails<C> {
  return ERROR_DETAILS_SCHEMAS[code].safeParse(details).success;
}
