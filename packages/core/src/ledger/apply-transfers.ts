import type { MarketkitTransaction } from '../storage/storage.js';
import type { StorageCapabilities } from '../storage/storage-adapter.js';
import { applyTransferCalls } from './apply-transfer-calls.js';
import type { CreatedTransfersOutput } from './created-transfers.js';
import type { LedgerRowStatements } from './ledger-row-statements.js';
import type { ParsedTransfer } from './ledger-schemas.js';
import type { AccountState } from './ledger-state.js';
import type { CreateTransferResult } from './transfer-types.js';

export type { TransfersCreatedHook } from './created-transfers.js';

/** The per-item results of a batch and the balances of the accounts it touched, as they stand after it. */
export interface AppliedBatch {
  readonly results: CreateTransferResult[];
  readonly accounts: ReadonlyMap<string, Readonly<AccountState>>;
}

/**
 * Applies a validated batch inside the caller's transaction: loads and locks what it touches, expires due
 * pending transfers it references, evaluates in order, writes the effects, and returns the per-item results with the
 * touched accounts' balances after the batch (read under its locks). The unit every module that moves money
 * composes into its own transaction (rule 1: one transaction per state change); one call of
 * {@link applyTransferCalls}. `rowStatements`: compiled per-row statements, which the backends that gain by them
 * use (SQLite).
 */
export async function applyTransfersWithBalances(
  trx: MarketkitTransaction,
  caps: StorageCapabilities,
  batch: readonly ParsedTransfer[],
  now: number,
  onCreated?: CreatedTransfersOutput,
  rowStatements?: LedgerRowStatements,
): Promise<AppliedBatch> {
  const applied = await applyTransferCalls(trx, caps, [batch], now, onCreated, rowStatements);
  return { results: applied.results[0]!, accounts: applied.accounts };
}
