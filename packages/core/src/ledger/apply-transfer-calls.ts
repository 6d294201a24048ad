import { outboxArrayCtes } from '../events/outbox-arrays.js';
import type { MarketkitTransaction } from '../storage/storage.js';
import type { StorageCapabilities } from '../storage/storage-adapter.js';
import type { CreatedTransfersOutput } from './created-transfers.js';
import type { LedgerRowStatements } from './ledger-row-statements.js';
import type { ParsedTransfer } from './ledger-schemas.js';
import type { LedgerSnapshot, PendingState, TransferRecord } from './ledger-state.js';
import { loadSnapshot, writeOutcome } from './ledger-store.js';
import { evaluateTransfers, expireDue } from './transfer-evaluator.js';
import type { CreateTransferResult } from './transfer-types.js';

/**
 * Applies several `createTransfers` calls in one transaction, with the same outcome as applying them one after
 * another in the order given, each in its own transaction at `now`: one snapshot of everything the calls touch is
 * loaded and locked (in id order, as for one batch), then each call is evaluated on its own against the snapshot
 * the earlier calls left (so a linked chain never crosses a call and an open chain at the end of a call is
 * `linkedEventChainOpen`, as it is alone), and the effects of all of them are written once. Before a call, only the
 * due pending transfers that call references are expired, as its own transaction would. Returns one result list
 * per call, indices relative to that call, and the touched accounts' balances after all of them. `rowStatements`: the ledger's compiled per-row statements (SQLite), as
 * for one batch.
 */
export async function applyTransferCalls(
  trx: MarketkitTransaction,
  caps: StorageCapabilities,
  calls: readonly (readonly ParsedTransfer[])[],
  now: number,
  onCreated?: CreatedTransfersOutput,
  rowStatements?: LedgerRowStatements,
): Promise<{ readonly results: CreateTransferResult[][]; readonly accounts: LedgerSnapshot['accounts'] }> {
  const transferIds: string[] = [];
  const pendingIds: string[] = [];
  const accountIds = new Set<string>();
  for (const call of calls) {
    for (const t of call) {
      transferIds.push(t.id);
      if (t.pendingId !== undefined) pendingIds.push(t.pendingId);
      if (t.debitAccountId !== undefined) accountIds.add(t.debitAccountId);
      if (t.creditAccountId !== undefined) accountIds.add(t.creditAccountId);
    }
  }
  const state = await loadSnapshot(trx, caps, transferIds, pendingIds, accountIds, rowStatements);
  const results: CreateTransferResult[][] = [];
  const created: TransferRecord[] = [];
  for (const call of calls) {
    expireDue(referencedPendings(state, call), now);
    const outcome = evaluateTransfers(call, state, now);
    results.push(outcome.results);
    created.push(...outcome.created);
  }
  const event = onCreated?.event;
  const folded =
    event !== undefined && created.length > 0 && caps.arrayParams === true && caps.writableCtes
      ? outboxArrayCtes('ob', created.map(event.of), event.clock, now, event.jsonType).ctes
      : undefined;
  await writeOutcome(trx, caps, state, created, now, rowStatements, folded);
  if (onCreated !== undefined && folded === undefined && created.length > 0) await onCreated.hook(trx, created);
  return { results, accounts: state.accounts };
}

/** The snapshot seen through the pending transfers one call references (what its own transaction would load). */
function referencedPendings(state: LedgerSnapshot, call: readonly ParsedTransfer[]): LedgerSnapshot {
  const pendings = new Map<string, PendingState>();
  for (const t of call) {
    const p = t.pendingId === undefined ? undefined : state.pendings.get(t.pendingId);
    if (p !== undefined) pendings.set(p.id, p);
  }
  return { accounts: state.accounts, transfers: state.transfers, pendings };
}
