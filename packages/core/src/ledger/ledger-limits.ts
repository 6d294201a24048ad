/** Largest value of a signed 64-bit integer: the ceiling of any amount or balance. */
export const MAX_INT64 = 9_223_372_036_854_775_807n;

/** Every limit of the ledger, explicit and tested at its edge. */
export const LEDGER_LIMITS = Object.freeze({
  /** Most accounts or transfers in one `createAccounts` / `createTransfers` call. */
  maxBatchSize: 8190,
  /** Longest id (account or transfer), in characters. */
  maxIdLength: 128,
  /** Longest `reference` (e.g. an order id). */
  maxReferenceLength: 256,
  /** Longest `userData`. */
  maxUserDataLength: 1024,
  /** Largest `code` (the kind of an account or transfer). */
  maxCode: 65535,
  /** Longest pending-transfer timeout: about 68 years. */
  maxTimeoutSeconds: 2_147_483_647,
  /** Most transfers one `listTransfers` page returns. */
  maxPageSize: 1000,
});
