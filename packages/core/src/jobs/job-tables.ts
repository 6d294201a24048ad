/** Tables of the durable timers (scheduled jobs), by logical (unprefixed) name. */
// biome-ignore lint/suspicious/noEmptyInterface: filled in as the module grows
export interface JobTables {}

/** Logical names of the tables above; the table prefix applies to exactly these. */
export const JOB_TABLE_NAMES: readonly string[] = [];
