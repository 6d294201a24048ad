import type { Int64Column } from '../ledger/ledger-tables.js';

/**
 * Row shape of the `leases` table: one row per lease name, kept forever so that `token` only ever grows.
 * A released lease keeps its row with `owner` set to `null`.
 */
export interface LeasesTable {
  /** The lease name, e.g. `outbox-relay`. */
  name: string;
  /** Who holds the lease; `null` once released. */
  owner: string | null;
  /** Fencing token: 1 on the first acquisition, then +1 on every acquisition (never on a renewal). */
  token: Int64Column;
  /** When the lease stops protecting its holder, in ms since the epoch (the acquirer's injected clock). */
  expires_at: Int64Column;
  /** When the current token was issued, in ms since the epoch. */
  acquired_at: Int64Column;
}

/** Tables of the locking module (leases), by logical (unprefixed) name. */
export interface LockingTables {
  leases: LeasesTable;
}

/** Logical names of the tables above; the table prefix applies to exactly these. */
export const LOCKING_TABLE_NAMES: readonly string[] = ['leases'];
