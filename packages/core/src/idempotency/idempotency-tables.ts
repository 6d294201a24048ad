import type { ColumnType } from 'kysely';
import type { Int64Column } from '../ledger/ledger-tables.js';

/** A nullable 64-bit integer column. */
type NullableInt64Column = ColumnType<bigint | null, bigint | number | null | undefined, bigint | number | null>;

/** Where an idempotency key's request stands: running (only ever committed by `begin`), or finished. */
export type IdempotencyStatus = 'in_progress' | 'succeeded' | 'failed';

/**
 * Row shape of `idempotency_keys`: one row per scope (actor, operation, key), holding the request's fingerprint
 * and, once finished, the stored outcome. A row whose `expires_at` has passed counts as absent: the next request
 * with that key replaces it, and `sweepExpired` deletes it.
 */
export interface IdempotencyKeysTable {
  /** Who acted (a user, an API client, a service): part of the key's scope. */
  actor: string;
  /** The operation the key was sent with, e.g. `orders.create`: part of the key's scope. */
  operation: string;
  /** The client's key. */
  idempotency_key: string;
  /** SHA-256 (hex) of the request's canonical JSON. */
  fingerprint: string;
  status: IdempotencyStatus;
  /** Tagged JSON of the result (`succeeded`) or of the error (`failed`); null while in progress. */
  result: string | null;
  /** Random token of the current `begin` holder; null for records written by `execute` and once finished. */
  lock_token: string | null;
  /** Until when the `begin` holder's lock protects it, in ms since the epoch; then another caller may take over. */
  locked_until: NullableInt64Column;
  /** 1 for the first claim, +1 on every takeover of an expired lock (reset when an expired key is reused). */
  attempt: Int64Column;
  created_at: Int64Column;
  completed_at: NullableInt64Column;
  /** When the key stops existing, in ms since the epoch. */
  expires_at: Int64Column;
}

/** Tables of the idempotency module, by logical (unprefixed) name. */
export interface IdempotencyTables {
  idempotency_keys: IdempotencyKeysTable;
}

/** Logical names of the tables above; the table prefix applies to exactly these. */
export const IDEMPOTENCY_TABLE_NAMES: readonly string[] = ['idempotency_keys'];
