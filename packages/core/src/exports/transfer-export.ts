import type { Selectable } from 'kysely';
import { z } from 'zod';
import { TRANSFER_FLAG } from '../ledger/ledger-flags.js';
import type { TransfersTable } from '../ledger/ledger-tables.js';
import { toBigInt, toNumber } from '../storage/int64.js';
import { isoTime } from './export-row.js';
import { columnsOf, type ExportColumn, type ExportSource } from './export-source.js';

type TransferRow = Selectable<TransfersTable>;

const flag = (bit: number) => (r: TransferRow) => (toNumber(r.flags) & bit) !== 0;

/** The columns of a transfers export, in order: every field of a transfer, its flags one column each. */
const TRANSFER_COLUMNS: readonly ExportColumn<TransferRow>[] = [
  ['id', (r) => r.id],
  ['debit_account_id', (r) => r.debit_account_id],
  ['credit_account_id', (r) => r.credit_account_id],
  ['currency', (r) => r.currency],
  ['amount_minor', (r) => toBigInt(r.amount).toString()],
  ['code', (r) => toNumber(r.code)],
  ['reference', (r) => r.reference],
  ['user_data', (r) => r.user_data],
  ['linked', flag(TRANSFER_FLAG.linked)],
  ['pending', flag(TRANSFER_FLAG.pending)],
  ['post_pending', flag(TRANSFER_FLAG.postPending)],
  ['void_pending', flag(TRANSFER_FLAG.voidPending)],
  ['pending_id', (r) => r.pending_id],
  ['timeout_seconds', (r) => toNumber(r.timeout_seconds)],
  ['created_at', (r) => isoTime(r.created_at)],
];

const columns = columnsOf(TRANSFER_COLUMNS);

/** The ledger's transfers (append-only), in id order (the primary key). @internal */
export const transferExport: ExportSource = {
  kind: 'transfers',
  columns: columns.names,
  keySchema: z.string().min(1),
  async read(db, _capabilities, after, limit) {
    let q = db.selectFrom('transfers').selectAll();
    if (after !== undefined) q = q.where('id', '>', after);
    const rows = await q.orderBy('id').limit(limit).execute();
    return rows.map((r) => ({ key: r.id, values: columns.values(r) }));
  },
};
