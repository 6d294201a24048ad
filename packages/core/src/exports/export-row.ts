/**
 * JSON text kept as written (an order event's `data`): embedded as is in NDJSON, quoted as one field in CSV.
 * @internal
 */
export class RawJson {
  constructor(readonly text: string) {}
}

/**
 * One value of an exported row: text, a safe integer, a flag, JSON text or nothing. Money is minor units as text
 * (`"1999"`), a time is ISO-8601 text: neither ever passes through a float.
 * @internal
 */
export type ExportValue = string | number | boolean | null | RawJson;

/** One exported row: its key (what a cursor resumes after) and its values in the columns' order. @internal */
export interface ExportRecord {
  readonly key: string;
  readonly values: readonly ExportValue[];
}

/** A time stored as epoch milliseconds, as ISO-8601 UTC text. @internal */
export function isoTime(ms: bigint | number | string): string {
  return new Date(Number(ms)).toISOString();
}
