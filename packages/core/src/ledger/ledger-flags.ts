import type { AccountFlags } from './account-types.js';
import type { TransferFlags } from './transfer-types.js';

/** Bit values of account flags as stored. */
export const ACCOUNT_FLAG = Object.freeze({ debitsMustNotExceedCredits: 1, creditsMustNotExceedDebits: 2 });

/** Bit values of transfer flags as stored. */
export const TRANSFER_FLAG = Object.freeze({ linked: 1, pending: 2, postPending: 4, voidPending: 8 });

export function accountFlagBits(flags: AccountFlags | undefined): number {
  return (
    (flags?.debitsMustNotExceedCredits ? ACCOUNT_FLAG.debitsMustNotExceedCredits : 0) |
    (flags?.creditsMustNotExceedDebits ? ACCOUNT_FLAG.creditsMustNotExceedDebits : 0)
  );
}

export function accountFlagsFromBits(bits: number): Required<AccountFlags> {
  return {
    debitsMustNotExceedCredits: (bits & ACCOUNT_FLAG.debitsMustNotExceedCredits) !== 0,
    creditsMustNotExceedDebits: (bits & ACCOUNT_FLAG.creditsMustNotExceedDebits) !== 0,
  };
}

export function transferFlagBits(flags: TransferFlags | undefined): number {
  return (
    (flags?.linked ? TRANSFER_FLAG.linked : 0) |
    (flags?.pending ? TRANSFER_FLAG.pending : 0) |
    (flags?.postPending ? TRANSFER_FLAG.postPending : 0) |
    (flags?.voidPending ? TRANSFER_FLAG.voidPending : 0)
  );
}

export function transferFlagsFromBits(bits: number): Required<TransferFlags> {
  return {
    linked: (bits & TRANSFER_FLAG.linked) !== 0,
    pending: (bits & TRANSFER_FLAG.pending) !== 0,
    postPending: (bits & TRANSFER_FLAG.postPending) !== 0,
    voidPending: (bits & TRANSFER_FLAG.voidPending) !== 0,
  };
}
