/** Tables of the sagas module, by logical (unprefixed) name. */
// biome-ignore lint/suspicious/noEmptyInterface: filled in as the module grows
export interface SagaTables {}

/** Logical names of the tables above; the table prefix applies to exactly these. */
export const SAGA_TABLE_NAMES: readonly string[] = [];
