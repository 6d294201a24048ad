export type { AccountBalance, AccountBalanceInput } from './account-balance.js';
export type { AccountPage, ListAccountsInput } from './account-queries.js';
export type {
  Account,
  AccountFlags,
  AccountInput,
  CreateAccountResult,
  CreateAccountResultCode,
} from './account-types.js';
export { Ledger } from './ledger.js';
export { LEDGER_LIMITS, MAX_INT64 } from './ledger-limits.js';
export type { LedgerOptions } from './ledger-options.js';
export type { CurrencyTotals, LedgerVerification } from './ledger-verification.js';
export type { ListTransfersInput, QueryTransfersInput, TransferPage } from './transfer-queries.js';
export type {
  CreateTransferResult,
  CreateTransferResultCode,
  PendingStatus,
  Transfer,
  TransferFlags,
  TransferInput,
} from './transfer-types.js';
