import type { LedgerTables } from '../ledger/ledger-tables.js';

/** Every table Marketkit owns, by logical name; the physical name carries the configured prefix. */
export interface MarketkitDatabase extends LedgerTables {}

/** Logical names of every table Marketkit owns (the table prefix applies to exactly these). */
export const MARKETKIT_TABLES: readonly (keyof MarketkitDatabase)[] = ['accounts', 'transfers', 'pending_transfers'];
