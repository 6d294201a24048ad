import type { ColumnType } from 'kysely';

/** A 64-bit integer column: read back as `bigint`, written as `bigint` or a safe-integer `number`. */
export type Int64Column = ColumnType<bigint, bigint | number, bigint | number>;

/** A 64-bit integer column with a database default: optional on insert. */
export type Int64DefaultColumn = ColumnType<bigint, bigint | number | undefined, bigint | number>;

/** Row shape of the `accounts` table. */
export interface AccountsTable {
  id: string;
  owner_id: string | null;
  code: Int64Column;
  currency: string;
  flags: Int64Column;
  debits_pending: Int64DefaultColumn;
  debits_posted: Int64DefaultColumn;
  credits_pending: Int64DefaultColumn;
  credits_posted: Int64DefaultColumn;
  user_data: string | null;
  version: Int64DefaultColumn;
  created_at: Int64Column;
}

/** Row shape of the append-only `transfers` table. */
export interface TransfersTable {
  id: string;
  debit_account_id: string;
  credit_account_id: string;
  amount: Int64Column;
  currency: string;
  code: Int64Column;
  reference: string | null;
  user_data: string | null;
  flags: Int64Column;
  pending_id: string | null;
  timeout_seconds: Int64DefaultColumn;
  created_at: Int64Column;
}

/** Row shape of `pending_transfers`: the mutable status of each two-phase transfer. */
export interface PendingTransfersTable {
  id: string;
  debit_account_id: string;
  credit_account_id: string;
  amount: Int64Column;
  currency: string;
  status: 'pending' | 'posted' | 'voided' | 'expired';
  expires_at: Int64Column | null;
  resolved_by_id: string | null;
  updated_at: Int64Column;
}

/** The ledger's tables, by logical (unprefixed) name. */
export interface LedgerTables {
  accounts: AccountsTable;
  transfers: TransfersTable;
  pending_transfers: PendingTransfersTable;
}
