/** Tables of the outbox (events) module, by logical (unprefixed) name. */
// biome-ignore lint/suspicious/noEmptyInterface: filled in as the module grows
export interface OutboxTables {}

/** Logical names of the tables above; the table prefix applies to exactly these. */
export const OUTBOX_TABLE_NAMES: readonly string[] = [];
