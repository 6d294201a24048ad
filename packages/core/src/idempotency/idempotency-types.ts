import type { IdempotencyStatus } from './idempotency-tables.js';

/**
 * Which key: the client's key, scoped to who acts and what they do. The same key sent by another actor or for
 * another operation is an independent key.
 */
export interface IdempotencyScope {
  /** The client's idempotency key: 1–255 printable ASCII characters (space included). */
  readonly key: string;
  /** Who acts: a user id, an API client id. 1–255 characters. */
  readonly actor: string;
  /** What they do, e.g. `orders.create`. 1–128 characters. */
  readonly operation: string;
}

/** A call under an idempotency key: its scope and the request whose fingerprint is stored with the key. */
export interface IdempotentCall extends IdempotencyScope {
  /**
   * The request's parameters. Only its fingerprint is stored (SHA-256 of a canonical JSON: sorted keys, bigint as
   * a decimal string, `toJSON` honoured), so the same key with another request gets `IDEMPOTENCY_KEY_REUSED`.
   */
  readonly request: unknown;
}

/**
 * Maps a result to plain data for storage and back, for results that hold class instances such as `Money`.
 * Without a codec a result must already be plain data (bigint allowed).
 *
 * @example
 * ```ts
 * const listingCodec: ResultCodec<Listing> = {
 *   encode: (l) => ({ ...l, price: l.price.toJSON() }),
 *   decode: (s) => { const l = s as Listing & { price: MoneyJSON }; return { ...l, price: Money.fromJSON(l.price) }; },
 * };
 * ```
 */
export interface ResultCodec<T> {
  /** The JSON-safe form stored with the key. */
  encode(value: T): unknown;
  /** The value back from its stored form, for a replay. */
  decode(stored: unknown): T;
}

/** Options of `Idempotency.execute`. */
export interface ExecuteOptions<T> {
  /** How the result is stored; default: as it is (plain data). */
  readonly codec?: ResultCodec<T>;
  /** Rerun the whole transaction on a unique violation, as `Storage.transaction` does. Default false. */
  readonly retryUniqueViolations?: boolean;
  /** Attempts in all on serialization failures and deadlocks. Default 8. */
  readonly maxAttempts?: number;
  /**
   * What the transaction contends for: `stock` (it reserves stock), so each rerun also counts in the metric
   * `marketkit_stock_contention_retries_total`.
   */
  readonly contended?: 'stock';
}

/** Options of `Idempotency.begin`. */
export interface BeginOptions<T> {
  /** How long the caller's lock lasts before another caller may take the key over, in ms. Default: the module's. */
  readonly lockMs?: number;
  /** How a stored result is decoded when it is replayed. */
  readonly codec?: ResultCodec<T>;
}

/**
 * Proof that the caller holds an in-progress key, returned by `begin`. Pass it to `complete`, `fail` or `renew`;
 * they do nothing but throw (or report `lost`) once another caller has taken the key over.
 */
export interface IdempotencyHandle extends IdempotencyScope {
  readonly fingerprint: string;
  /** Random token of this claim; the record accepts an outcome only from the current token's holder. */
  readonly token: string;
  /** 1 for the first claim; greater when this caller took the key over from a holder whose lock expired. */
  readonly attempt: number;
  /** Until when the lock protects this holder, in ms since the epoch (by this process's clock). */
  readonly lockedUntil: number;
}

/** A claim of a free key prepared for a caller's statement (see `Idempotency.prepareClaim`). @internal */
export interface PreparedClaim {
  /** The key's handle, valid once the caller's statement committed the claim. */
  readonly handle: IdempotencyHandle;
  /** The values of `Idempotency.claimQuery`. */
  readonly values: Readonly<Record<string, unknown>>;
}

/** What `begin` found: the key is now the caller's, or the request already succeeded and this is its result. */
export type BeginResult<T> =
  | { readonly status: 'started'; readonly handle: IdempotencyHandle }
  | { readonly status: 'replayed'; readonly result: T };

/** What `fail` did: stored a deterministic error, released the key for a retry, or found the key lost. */
export type FailOutcome = 'stored' | 'released' | 'lost';

/** What the database holds for a key, for operators and tests (`inspect`). The outcome itself is not decoded. */
export interface IdempotencyRecord extends IdempotencyScope {
  readonly fingerprint: string;
  readonly status: IdempotencyStatus;
  readonly attempt: number;
  readonly createdAt: number;
  readonly completedAt: number | null;
  readonly lockedUntil: number | null;
  readonly expiresAt: number;
  /** True when `expiresAt` has passed by this process's clock: the key then counts as never used. */
  readonly expired: boolean;
}

/** Options of the idempotency module (`createMarketplace({ idempotency })`). */
export interface IdempotencyOptions {
  /** How long a key lives after its request started, in ms. Default 24 hours. */
  readonly ttlMs?: number;
  /** Default lock of `begin`, in ms. Default one minute. */
  readonly lockMs?: number;
}
