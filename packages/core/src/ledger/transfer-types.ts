/** How a transfer behaves. At most one of `pending`, `postPending`, `voidPending`. */
export interface TransferFlags {
  /** Links this transfer to the next one in the batch: the chain commits all-or-nothing. */
  readonly linked?: boolean | undefined;
  /** Phase one of a two-phase transfer: reserves the amount as pending. */
  readonly pending?: boolean | undefined;
  /** Posts the pending transfer `pendingId` (all of it, or `amount` of it; the rest is released). */
  readonly postPending?: boolean | undefined;
  /** Voids the pending transfer `pendingId`, releasing all of it. */
  readonly voidPending?: boolean | undefined;
}

/** What `createTransfers` takes for one transfer. Amounts are integer minor units. */
export interface TransferInput {
  /** Client-supplied id; a retry with the same id and fields returns `exists` and changes nothing. */
  readonly id: string;
  /** Required unless posting or voiding (then it defaults to, and must match, the pending transfer's). */
  readonly debitAccountId?: string;
  readonly creditAccountId?: string;
  /** Minor units, > 0. Required unless posting or voiding; a post may take less than the pending amount. */
  readonly amount?: bigint | number | string;
  /** ISO 4217 code; must match both accounts. Required unless posting or voiding. */
  readonly currency?: string;
  /** The kind of transfer, 0–65535. Default 0 (a post or void inherits the pending transfer's). */
  readonly code?: number;
  /** What it is for in the host's model, e.g. an order id. */
  readonly reference?: string;
  readonly userData?: string;
  readonly flags?: TransferFlags;
  /** The pending transfer to post or void. */
  readonly pendingId?: string;
  /** Pending transfers only: seconds until it expires and its amount is released. 0 = never. */
  readonly timeoutSeconds?: number;
}

/** A transfer as stored. Transfers are never updated or deleted. */
export interface Transfer {
  readonly id: string;
  readonly debitAccountId: string;
  readonly creditAccountId: string;
  readonly amount: bigint;
  readonly currency: string;
  readonly code: number;
  readonly reference: string | null;
  readonly userData: string | null;
  readonly flags: Required<TransferFlags>;
  readonly pendingId: string | null;
  readonly timeoutSeconds: number;
  /** Milliseconds since the epoch. */
  readonly createdAt: number;
}

/** The state of a two-phase transfer. */
export type PendingStatus = 'pending' | 'posted' | 'voided' | 'expired';

/** Outcome of one transfer in `createTransfers`; anything but `ok` and `exists` wrote nothing. */
export type CreateTransferResultCode =
  | 'ok'
  | 'exists'
  | 'existsWithDifferentFlags'
  | 'existsWithDifferentDebitAccountId'
  | 'existsWithDifferentCreditAccountId'
  | 'existsWithDifferentAmount'
  | 'existsWithDifferentCurrency'
  | 'existsWithDifferentCode'
  | 'existsWithDifferentReference'
  | 'existsWithDifferentUserData'
  | 'existsWithDifferentPendingId'
  | 'existsWithDifferentTimeout'
  | 'flagsAreMutuallyExclusive'
  | 'debitAccountIdRequired'
  | 'creditAccountIdRequired'
  | 'currencyRequired'
  | 'amountRequired'
  | 'amountMustNotBeZero'
  | 'pendingIdRequired'
  | 'pendingIdMustBeEmpty'
  | 'pendingIdMustBeDifferent'
  | 'timeoutReservedForPendingTransfer'
  | 'sameDebitAndCreditAccount'
  | 'debitAccountNotFound'
  | 'creditAccountNotFound'
  | 'currencyMismatch'
  | 'pendingTransferNotFound'
  | 'pendingTransferNotPending'
  | 'pendingTransferHasDifferentDebitAccountId'
  | 'pendingTransferHasDifferentCreditAccountId'
  | 'pendingTransferHasDifferentCurrency'
  | 'pendingTransferHasDifferentAmount'
  | 'exceedsPendingTransferAmount'
  | 'pendingTransferAlreadyPosted'
  | 'pendingTransferAlreadyVoided'
  | 'pendingTransferExpired'
  | 'overflowsDebits'
  | 'overflowsCredits'
  | 'exceedsCredits'
  | 'exceedsDebits'
  | 'linkedEventFailed'
  | 'linkedEventChainOpen';

/** Result for the transfer at `index` of the batch. */
export interface CreateTransferResult {
  readonly index: number;
  readonly id: string;
  readonly result: CreateTransferResultCode;
}
