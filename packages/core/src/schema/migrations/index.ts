import type { MarketkitMigration } from '../migration-context.js';
import { ledgerMigration } from './0001-ledger.js';

/** Every migration, in the order it runs. Append only: never edit or reorder a released migration. */
export const MIGRATIONS: readonly MarketkitMigration[] = [ledgerMigration];
