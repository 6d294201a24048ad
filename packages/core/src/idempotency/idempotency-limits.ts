const HOUR = 60 * 60 * 1000;

/**
 * Every limit of the idempotency module, explicit and tested at its edge.
 *
 * @example
 * ```ts
 * if (key.length > IDEMPOTENCY_LIMITS.maxKeyLength) return res.status(400).send('Idempotency-Key too long');
 * ```
 */
export const IDEMPOTENCY_LIMITS = Object.freeze({
  /** Longest idempotency key, in characters (printable ASCII, as Stripe allows 255). */
  maxKeyLength: 255,
  /** Longest actor (the acting user or client), in characters. */
  maxActorLength: 255,
  /** Longest operation name, in characters. */
  maxOperationLength: 128,
  /** How long a key lives by default, in ms: 24 hours. */
  defaultTtlMs: 24 * HOUR,
  /** Shortest configurable key lifetime, in ms. */
  minTtlMs: 1000,
  /** Longest configurable key lifetime, in ms: 30 days. */
  maxTtlMs: 30 * 24 * HOUR,
  /** How long a `begin` holder's lock lasts by default, in ms: one minute. */
  defaultLockMs: 60_000,
  /** Shortest `begin` lock, in ms. */
  minLockMs: 100,
  /** Longest `begin` lock, in ms: one day. */
  maxLockMs: 24 * HOUR,
  /** Largest canonical JSON of a request that is fingerprinted, in UTF-8 bytes. */
  maxRequestBytes: 1024 * 1024,
  /** Largest stored result (tagged JSON), in UTF-8 bytes. */
  maxResultBytes: 1024 * 1024,
  /** Deepest nesting of arrays and objects in a request or a result. */
  maxDepth: 64,
  /** Most records one `sweepExpired` call deletes. */
  maxSweepLimit: 100_000,
  /** Most records one sweep transaction deletes. */
  sweepBatchSize: 500,
});
