import type { MarketkitTransaction } from '../storage/storage.js';
import type { StorageCapabilities } from '../storage/storage-adapter.js';
import type { LedgerRowStatements } from './ledger-row-statements.js';
import type { ParsedTransfer } from './ledger-schemas.js';
import type { AccountState, TransferRecord } from './ledger-state.js';
import { loadSnapshot, writeOutcome } from './ledger-store.js';
import { evaluateTransfers, expireDue } from './transfer-evaluator.js';
import type { CreateTransferResult } from './transfer-types.js';

/** Called with the transfers a batch created, inside its transaction (the outbox hooks in here). */
export type TransfersCreatedHook = (trx: MarketkitTransaction, created: readonly TransferRecord[]) => Promise<void>;

/** The per-item results of a batch and the balances of the accounts it touched, as they stand after it. */
export interface AppliedBatch {
  readonly results: CreateTransferResult[];
  readonly accounts: ReadonlyMap<string, Readonly<AccountState>>;
}

/**
 * Applies a validated batch inside the caller's transaction: loads and locks what it touches, expires due
 * pending transfers it references, evaluates in order, writes the effects. The unit every module that moves
 * money composes into its own transaction (rule 1: one transaction per state change).
 */
export async function applyTransfers(
  trx: MarketkitTransaction,
  caps: StorageCapabilities,
  batch: readonly ParsedTransfer[],
  now: number,
  onCreated?: TransfersCreatedHook,
): Promise<CreateTransferResult[]> {
  return (await applyTransfersWithBalances(trx, caps, batch, now, onCreated)).results;
}

/**
 * {@link applyTransfers}, also returning the touched accounts' balances after the batch (read under its locks).
 * `rowStatements`: compiled per-row statements, which the backends that gain by them use (SQLite).
 */
export async function applyTransfersWithBalances(
  trx: MarketkitTransaction,
  caps: StorageCapabilities,
  batch: readonly ParsedTransfer[],
  now: number,
  onCreated?: TransfersCreatedHook,
  rowStatements?: LedgerRowStatements,
): Promise<AppliedBatch> {
  const pendingIds = batch.flatMap((t) => (t.pendingId === undefined ? [] : [t.pendingId]));
  const accountIds = new Set<string>();
  for (const t of batch) {
    if (t.debitAccountId !== undefined) accountIds.add(t.debitAccountId);
    if (t.creditAccountId !== undefined) accountIds.add(t.creditAccountId);
  }
  const state = await loadSnapshot(
    trx,
    caps,
    batch.map((t) => t.id),
    pendingIds,
    accountIds,
    rowStatements,
  );
  expireDue(state, now);
  const { results, created } = evaluateTransfers(batch, state, now);
  await writeOutcome(trx, caps, state, created, now, rowStatements);
  if (onCreated !== undefined && created.length > 0) await onCreated(trx, created);
  return { results, accounts: state.accounts };
}
