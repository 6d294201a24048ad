import type { MarketkitMigration } from '../migration-context.js';

/** Accounts, immutable transfers and the status of two-phase transfers. */
export const ledgerMigration: MarketkitMigration = {
  name: '0001-ledger',
  async up(db, { types, prefix }) {
    const i64 = types.int64;
    await db.schema
      .createTable('accounts')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('owner_id', 'text')
      .addColumn('code', i64, (c) => c.notNull())
      .addColumn('currency', 'text', (c) => c.notNull())
      .addColumn('flags', i64, (c) => c.notNull())
      .addColumn('debits_pending', i64, (c) => c.notNull().defaultTo(0))
      .addColumn('debits_posted', i64, (c) => c.notNull().defaultTo(0))
      .addColumn('credits_pending', i64, (c) => c.notNull().defaultTo(0))
      .addColumn('credits_posted', i64, (c) => c.notNull().defaultTo(0))
      .addColumn('user_data', 'text')
      .addColumn('version', i64, (c) => c.notNull().defaultTo(0))
      .addColumn('created_at', i64, (c) => c.notNull())
      .execute();
    await db.schema.createIndex(`${prefix}accounts_owner_idx`).on('accounts').column('owner_id').execute();

    await db.schema
      .createTable('transfers')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('debit_account_id', 'text', (c) => c.notNull())
      .addColumn('credit_account_id', 'text', (c) => c.notNull())
      .addColumn('amount', i64, (c) => c.notNull())
      .addColumn('currency', 'text', (c) => c.notNull())
      .addColumn('code', i64, (c) => c.notNull())
      .addColumn('reference', 'text')
      .addColumn('user_data', 'text')
      .addColumn('flags', i64, (c) => c.notNull())
      .addColumn('pending_id', 'text')
      .addColumn('timeout_seconds', i64, (c) => c.notNull().defaultTo(0))
      .addColumn('created_at', i64, (c) => c.notNull())
      .execute();
    await db.schema
      .createIndex(`${prefix}transfers_debit_idx`)
      .on('transfers')
      .columns(['debit_account_id', 'created_at', 'id'])
      .execute();
    await db.schema
      .createIndex(`${prefix}transfers_credit_idx`)
      .on('transfers')
      .columns(['credit_account_id', 'created_at', 'id'])
      .execute();
    await db.schema.createIndex(`${prefix}transfers_reference_idx`).on('transfers').column('reference').execute();

    await db.schema
      .createTable('pending_transfers')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('debit_account_id', 'text', (c) => c.notNull())
      .addColumn('credit_account_id', 'text', (c) => c.notNull())
      .addColumn('amount', i64, (c) => c.notNull())
      .addColumn('currency', 'text', (c) => c.notNull())
      .addColumn('status', 'text', (c) => c.notNull())
      .addColumn('expires_at', i64)
      .addColumn('resolved_by_id', 'text')
      .addColumn('updated_at', i64, (c) => c.notNull())
      .execute();
    await db.schema
      .createIndex(`${prefix}pending_transfers_expiry_idx`)
      .on('pending_transfers')
      .columns(['status', 'expires_at'])
      .execute();
  },
};
