import type { Selectable } from 'kysely';
import { toBigInt, toNumber } from '../storage/int64.js';
import type { Account } from './account-types.js';
import { accountFlagsFromBits, transferFlagsFromBits } from './ledger-flags.js';
import type { AccountState, PendingState, TransferRecord } from './ledger-state.js';
import type { AccountsTable, PendingTransfersTable, TransfersTable } from './ledger-tables.js';
import type { Transfer } from './transfer-types.js';

export function accountFromRow(r: Selectable<AccountsTable>): Account {
  return {
    id: r.id,
    ownerId: r.owner_id,
    code: toNumber(r.code),
    currency: r.currency,
    flags: accountFlagsFromBits(toNumber(r.flags)),
    debitsPending: toBigInt(r.debits_pending),
    debitsPosted: toBigInt(r.debits_posted),
    creditsPending: toBigInt(r.credits_pending),
    creditsPosted: toBigInt(r.credits_posted),
    userData: r.user_data,
    version: toBigInt(r.version),
    createdAt: toNumber(r.created_at),
  };
}

export function accountStateFromRow(r: Selectable<AccountsTable>): AccountState {
  return {
    id: r.id,
    currency: r.currency,
    flags: toNumber(r.flags),
    debitsPending: toBigInt(r.debits_pending),
    debitsPosted: toBigInt(r.debits_posted),
    creditsPending: toBigInt(r.credits_pending),
    creditsPosted: toBigInt(r.credits_posted),
    changed: false,
  };
}

export function transferRecordFromRow(r: Selectable<TransfersTable>): TransferRecord {
  return {
    id: r.id,
    debitAccountId: r.debit_account_id,
    creditAccountId: r.credit_account_id,
    amount: toBigInt(r.amount),
    currency: r.currency,
    code: toNumber(r.code),
    reference: r.reference,
    userData: r.user_data,
    flags: toNumber(r.flags),
    pendingId: r.pending_id,
    timeoutSeconds: toNumber(r.timeout_seconds),
    createdAt: toNumber(r.created_at),
  };
}

export function transferFromRecord(r: TransferRecord): Transfer {
  return { ...r, flags: transferFlagsFromBits(r.flags) };
}

export function transferRow(r: TransferRecord) {
  return {
    id: r.id,
    debit_account_id: r.debitAccountId,
    credit_account_id: r.creditAccountId,
    amount: r.amount,
    currency: r.currency,
    code: r.code,
    reference: r.reference,
    user_data: r.userData,
    flags: r.flags,
    pending_id: r.pendingId,
    timeout_seconds: r.timeoutSeconds,
    created_at: r.createdAt,
  };
}

export function pendingStateFromRow(r: Selectable<PendingTransfersTable>): PendingState {
  return {
    id: r.id,
    debitAccountId: r.debit_account_id,
    creditAccountId: r.credit_account_id,
    amount: toBigInt(r.amount),
    currency: r.currency,
    status: r.status,
    expiresAt: r.expires_at === null ? null : toNumber(r.expires_at),
    resolvedById: r.resolved_by_id,
    isNew: false,
    changed: false,
  };
}
