/** Every limit of the locking module, explicit and tested at its edge. */
export const LOCKING_LIMITS = Object.freeze({
  /** Most keys one `lockRows` call locks (one statement, so one lock order; well under parameter limits). */
  maxLockKeys: 5000,
  /** Longest lease name, in characters. */
  maxLeaseNameLength: 200,
  /** Longest lease owner, in characters. */
  maxLeaseOwnerLength: 200,
  /** Shortest lease time to live, in ms. */
  minLeaseTtlMs: 1,
  /** Longest lease time to live, in ms: seven days. */
  maxLeaseTtlMs: 7 * 24 * 60 * 60 * 1000,
  /** Most attempts `withOptimisticRetry` makes, counting the first. */
  maxOptimisticAttempts: 100,
  /** Longest backoff between two attempts of `withOptimisticRetry`, in ms. */
  maxRetryTimeoutMs: 60_000,
});
