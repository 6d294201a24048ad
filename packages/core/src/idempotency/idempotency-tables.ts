/** Tables of the idempotency module, by logical (unprefixed) name. */
// biome-ignore lint/suspicious/noEmptyInterface: filled in as the module grows
export interface IdempotencyTables {}

/** Logical names of the tables above; the table prefix applies to exactly these. */
export const IDEMPOTENCY_TABLE_NAMES: readonly string[] = [];
