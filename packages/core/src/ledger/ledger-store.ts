import { type Kysely, type RawBuilder, sql } from 'kysely';
import { MarketkitError } from '../errors/marketkit-error.js';
import { chunks } from '../storage/chunks.js';
import type { MarketkitTransaction } from '../storage/storage.js';
import type { StorageCapabilities } from '../storage/storage-adapter.js';
import { updateFromValues } from '../storage/update-from-values.js';
import { textArray, writeBatchUnnest } from './ledger-array-writes.js';
import type { LedgerRowStatements } from './ledger-row-statements.js';
import { accountStateFromRow, pendingStateFromRow, transferRecordFromRow, transferRow } from './ledger-rows.js';
import type { AccountState, LedgerSnapshot, PendingState, TransferRecord } from './ledger-state.js';

const ROWS_PER_INSERT = 2000;
/** Ids per `id = any($1)` read where arrays bind as one parameter: one statement for any batch (8,190 at most). */
const ARRAY_CHUNK = 10_000;

/**
 * The per-row statements, where they are the cheaper way: a backend without row locks (nothing to take in id
 * order by one statement) and without array parameters (SQLite, where a statement has no round trip).
 */
function perRow(caps: StorageCapabilities, rows: LedgerRowStatements | undefined): LedgerRowStatements | undefined {
  return caps.rowLocks || caps.arrayParams ? undefined : rows;
}

/** Reads and locks what a batch touches: pending rows first, then accounts, each in id order (no deadlocks). */
export async function loadSnapshot(
  trx: MarketkitTransaction,
  caps: StorageCapabilities,
  transferIds: readonly string[],
  pendingIds: readonly string[],
  accountIds: ReadonlySet<string>,
  rowStatements?: LedgerRowStatements,
): Promise<LedgerSnapshot> {
  const transfers = new Map<string, TransferRecord>();
  const pendings = new Map<string, PendingState>();
  const accounts = new Map<string, AccountState>();
  const lookup = [...new Set([...transferIds, ...pendingIds])];
  const rows = perRow(caps, rowStatements);
  if (rows !== undefined) {
    for (const r of await rows.transfers(trx, lookup)) transfers.set(r.id, transferRecordFromRow(r));
    const ids = new Set(accountIds);
    for (const r of await rows.pendings(trx, [...new Set(pendingIds)].sort())) {
      pendings.set(r.id, pendingStateFromRow(r));
      ids.add(r.debit_account_id);
      ids.add(r.credit_account_id);
    }
    await lockAccounts(trx, caps, [...ids], accounts, rows);
    return { accounts, transfers, pendings };
  }
  for (const chunk of chunks(lookup, caps.arrayParams ? ARRAY_CHUNK : 5000)) {
    const q = trx.selectFrom('transfers').selectAll();
    const rows = await (caps.arrayParams ? q.where('id', '=', textArray(chunk)) : q.where('id', 'in', chunk)).execute();
    for (const r of rows) transfers.set(r.id, transferRecordFromRow(r));
  }
  const ids = new Set(accountIds);
  if (pendingIds.length > 0) {
    for (const chunk of chunks([...new Set(pendingIds)].sort(), caps.arrayParams ? ARRAY_CHUNK : 5000)) {
      let q = trx
        .selectFrom('pending_transfers')
        .selectAll()
        .where('id', caps.arrayParams ? '=' : 'in', caps.arrayParams ? textArray(chunk) : chunk)
        .orderBy('id');
      if (caps.rowLocks) q = q.forUpdate();
      for (const r of await q.execute()) {
        pendings.set(r.id, pendingStateFromRow(r));
        ids.add(r.debit_account_id);
        ids.add(r.credit_account_id);
      }
    }
  }
  await lockAccounts(trx, caps, [...ids], accounts);
  return { accounts, transfers, pendings };
}

/** Loads and (where the backend has row locks) locks accounts in id order into `into`. */
export async function lockAccounts(
  trx: MarketkitTransaction,
  caps: StorageCapabilities,
  ids: readonly string[],
  into: Map<string, AccountState>,
  rowStatements?: LedgerRowStatements,
): Promise<void> {
  const rows = perRow(caps, rowStatements);
  if (rows !== undefined) {
    for (const r of await rows.accounts(trx, [...ids].sort())) into.set(r.id, accountStateFromRow(r));
    return;
  }
  for (const chunk of chunks([...ids].sort(), caps.arrayParams ? ARRAY_CHUNK : 5000)) {
    let q = trx
      .selectFrom('accounts')
      .selectAll()
      .where('id', caps.arrayParams ? '=' : 'in', caps.arrayParams ? textArray(chunk) : chunk)
      .orderBy('id');
    if (caps.rowLocks) q = q.forUpdate();
    for (const r of await q.execute()) into.set(r.id, accountStateFromRow(r));
  }
}

/** Writes a batch's effects: new transfers, pending statuses, account balances. */
export async function writeOutcome(
  trx: MarketkitTransaction,
  caps: StorageCapabilities,
  state: LedgerSnapshot,
  created: readonly TransferRecord[],
  now: number,
  rowStatements?: LedgerRowStatements,
  alsoWrite?: readonly RawBuilder<unknown>[],
): Promise<void> {
  if (alsoWrite !== undefined && !caps.arrayParams) {
    throw new MarketkitError('INTERNAL', { message: 'ledger writes take more CTEs only where arrays bind' });
  }
  const rows = perRow(caps, rowStatements);
  if (rows !== undefined) {
    await rows.insertTransfers(trx, created);
    const changed = [...state.pendings.values()].filter((p) => p.changed);
    await rows.insertPendings(
      trx,
      changed.filter((p) => p.isNew),
      now,
    );
    await rows.updatePendings(
      trx,
      changed.filter((p) => !p.isNew),
      now,
    );
    await rows.updateAccounts(
      trx,
      [...state.accounts.values()].filter((a) => a.changed),
    );
    return;
  }
  if (caps.arrayParams) {
    const pendings = [...state.pendings.values()].filter((p) => p.changed);
    const accounts = [...state.accounts.values()].filter((a) => a.changed);
    await writeBatchUnnest(trx, caps.writableCtes, created, pendings, accounts, now, alsoWrite);
    return;
  }
  for (const chunk of chunks(created, ROWS_PER_INSERT)) {
    await trx.insertInto('transfers').values(chunk.map(transferRow)).execute();
  }
  await writePendings(
    trx,
    [...state.pendings.values()].filter((p) => p.changed),
    now,
  );
  await writeAccounts(
    trx,
    [...state.accounts.values()].filter((a) => a.changed),
  );
}

async function writePendings(trx: MarketkitTransaction, changed: readonly PendingState[], now: number) {
  const inserts = changed.filter((p) => p.isNew);
  for (const chunk of chunks(inserts, ROWS_PER_INSERT)) {
    await trx
      .insertInto('pending_transfers')
      .values(
        chunk.map((p) => ({
          id: p.id,
          debit_account_id: p.debitAccountId,
          credit_account_id: p.creditAccountId,
          amount: p.amount,
          currency: p.currency,
          status: p.status,
          expires_at: p.expiresAt,
          resolved_by_id: p.resolvedById,
          updated_at: now,
        })),
      )
      .execute();
  }
  const updates = changed.filter((p) => !p.isNew);
  if (updates.length === 0) return;
  await updateFromValues(
    trx as unknown as Kysely<unknown>,
    'pending_transfers',
    'id',
    [{ name: 'status' }, { name: 'resolved_by_id' }, { name: 'updated_at', int64: true }],
    updates.map((p) => [p.id, p.status, p.resolvedById, now]),
  );
}

async function writeAccounts(trx: MarketkitTransaction, changed: readonly AccountState[]) {
  if (changed.length === 0) return;
  await updateFromValues(
    trx as unknown as Kysely<unknown>,
    'accounts',
    'id',
    [
      { name: 'debits_pending', int64: true },
      { name: 'debits_posted', int64: true },
      { name: 'credits_pending', int64: true },
      { name: 'credits_posted', int64: true },
    ],
    changed.map((a) => [a.id, a.debitsPending, a.debitsPosted, a.creditsPending, a.creditsPosted]),
    [sql`version = version + 1`],
  );
}
