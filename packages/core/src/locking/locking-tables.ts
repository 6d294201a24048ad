/** Tables of the locking module (leases), by logical (unprefixed) name. */
// biome-ignore lint/suspicious/noEmptyInterface: filled in as the module grows
export interface LockingTables {}

/** Logical names of the tables above; the table prefix applies to exactly these. */
export const LOCKING_TABLE_NAMES: readonly string[] = [];
