import { type Selectable, sql } from 'kysely';
import { runPerRow, type StatementTemplate, type StatementTemplates } from '../storage/statement-template.js';
import type { MarketkitTransaction } from '../storage/storage.js';
import type { AccountState, PendingState, TransferRecord } from './ledger-state.js';
import type { AccountsTable, PendingTransfersTable, TransfersTable } from './ledger-tables.js';

type Values = Readonly<Record<string, unknown>>;

/**
 * A ledger batch's reads and writes as one statement per row, each compiled once (`StatementTemplate`) and then only
 * bound: for backends where a row's statement costs little in the database and a multi-row one mostly costs JS
 * (SQLite: no round trip, the adapter keeps prepared statements), so no query is built, run through the plugins or
 * compiled per batch. With `batches` (the adapter's `capabilities.statementBatches`) a batch's rows of one statement
 * are bound together and run by one `executeQuery` (`StatementTemplate.bindMany`), so the driver stack is passed once
 * per statement, not once per row. The tenant is a template parameter, bound from the storage instance.
 */
export class LedgerRowStatements {
  readonly #t: StatementTemplates;
  readonly #batches: boolean;

  constructor(templates: StatementTemplates, batches = false) {
    this.#t = templates;
    this.#batches = batches;
  }

  /** The transfers with these ids that exist. */
  transfers(trx: MarketkitTransaction, ids: readonly string[]): Promise<Selectable<TransfersTable>[]> {
    const t = this.#t.get('ledger:transfer-by-id', (db, p) =>
      db.selectFrom('transfers').selectAll().where('id', '=', p('id')),
    );
    return this.#run<Selectable<TransfersTable>>(
      trx,
      t,
      ids.map((id) => ({ id })),
    );
  }

  /** The pending transfers with these ids that exist, in the order of `ids`. */
  pendings(trx: MarketkitTransaction, ids: readonly string[]): Promise<Selectable<PendingTransfersTable>[]> {
    const t = this.#t.get('ledger:pending-by-id', (db, p) =>
      db.selectFrom('pending_transfers').selectAll().where('id', '=', p('id')),
    );
    return this.#run<Selectable<PendingTransfersTable>>(
      trx,
      t,
      ids.map((id) => ({ id })),
    );
  }

  /** The accounts with these ids that exist, in the order of `ids`. */
  accounts(trx: MarketkitTransaction, ids: readonly string[]): Promise<Selectable<AccountsTable>[]> {
    const t = this.#t.get('ledger:account-by-id', (db, p) =>
      db.selectFrom('accounts').selectAll().where('id', '=', p('id')),
    );
    return this.#run<Selectable<AccountsTable>>(
      trx,
      t,
      ids.map((id) => ({ id })),
    );
  }

  async insertTransfers(trx: MarketkitTransaction, records: readonly TransferRecord[]): Promise<void> {
    const t = this.#t.get('ledger:insert-transfer', (db, p) =>
      db.insertInto('transfers').values({
        id: p('id'),
        debit_account_id: p('debit'),
        credit_account_id: p('credit'),
        amount: p('amount'),
        currency: p('currency'),
        code: p('code'),
        reference: p('reference'),
        user_data: p('user_data'),
        flags: p('flags'),
        pending_id: p('pending_id'),
        timeout_seconds: p('timeout'),
        created_at: p('now'),
      }),
    );
    await this.#run(
      trx,
      t,
      records.map((r) => ({
        id: r.id,
        debit: r.debitAccountId,
        credit: r.creditAccountId,
        amount: r.amount,
        currency: r.currency,
        code: r.code,
        reference: r.reference,
        user_data: r.userData,
        flags: r.flags,
        pending_id: r.pendingId,
        timeout: r.timeoutSeconds,
        now: r.createdAt,
      })),
    );
  }

  async insertPendings(trx: MarketkitTransaction, rows: readonly PendingState[], now: number): Promise<void> {
    const t = this.#t.get('ledger:insert-pending', (db, p) =>
      db.insertInto('pending_transfers').values({
        id: p('id'),
        debit_account_id: p('debit'),
        credit_account_id: p('credit'),
        amount: p('amount'),
        currency: p('currency'),
        status: p('status'),
        expires_at: p('expires_at'),
        resolved_by_id: p('resolved_by_id'),
        updated_at: p('now'),
      }),
    );
    await this.#run(
      trx,
      t,
      rows.map((r) => ({
        id: r.id,
        debit: r.debitAccountId,
        credit: r.creditAccountId,
        amount: r.amount,
        currency: r.currency,
        status: r.status,
        expires_at: r.expiresAt,
        resolved_by_id: r.resolvedById,
        now,
      })),
    );
  }

  async updatePendings(trx: MarketkitTransaction, rows: readonly PendingState[], now: number): Promise<void> {
    const t = this.#t.get('ledger:update-pending', (db, p) =>
      db
        .updateTable('pending_transfers')
        .set({ status: p('status'), resolved_by_id: p('resolved_by_id'), updated_at: p('now') })
        .where('id', '=', p('id')),
    );
    await this.#run(
      trx,
      t,
      rows.map((r) => ({ id: r.id, status: r.status, resolved_by_id: r.resolvedById, now })),
    );
  }

  async updateAccounts(trx: MarketkitTransaction, accounts: readonly AccountState[]): Promise<void> {
    const t = this.#t.get('ledger:update-balances', (db, p) =>
      db
        .updateTable('accounts')
        .set({
          debits_pending: p('dp'),
          debits_posted: p('dpo'),
          credits_pending: p('cp'),
          credits_posted: p('cpo'),
          version: sql`version + 1`,
        })
        .where('id', '=', p('id')),
    );
    await this.#run(
      trx,
      t,
      accounts.map((a) => ({
        id: a.id,
        dp: a.debitsPending,
        dpo: a.debitsPosted,
        cp: a.creditsPending,
        cpo: a.creditsPosted,
      })),
    );
  }

  #run<R>(trx: MarketkitTransaction, t: StatementTemplate, rows: readonly Values[]): Promise<R[]> {
    return runPerRow<R>(trx, t, rows, this.#batches);
  }
}
