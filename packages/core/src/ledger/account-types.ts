/** Balance limits an account enforces. At most one may be set. */
export interface AccountFlags {
  /** Debits (posted and pending) may never exceed posted credits: a normal asset/user balance. */
  readonly debitsMustNotExceedCredits?: boolean | undefined;
  /** Credits (posted and pending) may never exceed posted debits. */
  readonly creditsMustNotExceedDebits?: boolean | undefined;
}

/** What `createAccounts` takes for one account. */
export interface AccountInput {
  /** Client-supplied id, unique in the ledger; retries with the same id are idempotent. */
  readonly id: string;
  /** ISO 4217 code; every transfer on the account must use it. */
  readonly currency: string;
  /** The kind of account (the host's chart of accounts), 0–65535. */
  readonly code: number;
  /** Who owns it in the host's model (a user, an order, the platform). */
  readonly ownerId?: string;
  readonly flags?: AccountFlags;
  readonly userData?: string;
}

/** An account as stored, with its cached balances in minor units. */
export interface Account {
  readonly id: string;
  readonly ownerId: string | null;
  readonly code: number;
  readonly currency: string;
  readonly flags: Required<AccountFlags>;
  readonly debitsPending: bigint;
  readonly debitsPosted: bigint;
  readonly creditsPending: bigint;
  readonly creditsPosted: bigint;
  readonly userData: string | null;
  /** Bumped by every change of the balances. */
  readonly version: bigint;
  /** Milliseconds since the epoch. */
  readonly createdAt: number;
}

/** Outcome of one account in `createAccounts`. */
export type CreateAccountResultCode =
  | 'ok'
  | 'exists'
  | 'existsWithDifferentCurrency'
  | 'existsWithDifferentCode'
  | 'existsWithDifferentFlags'
  | 'existsWithDifferentOwnerId'
  | 'existsWithDifferentUserData'
  | 'flagsAreMutuallyExclusive';

/** Result for the account at `index` of the batch. */
export interface CreateAccountResult {
  readonly index: number;
  readonly id: string;
  readonly result: CreateAccountResultCode;
}
