import { type ExportValue, RawJson } from './export-row.js';

/** How an export writes its rows: one JSON object per line, or RFC 4180 CSV with a header row. */
export type ExportFormat = 'ndjson' | 'csv';

/** Writes one row (its values, then its cursor) as one line of the format. @internal */
export type RowWriter = (values: readonly ExportValue[], cursor: string) => string;

function jsonValue(v: ExportValue): string {
  if (v instanceof RawJson) return v.text;
  return JSON.stringify(v);
}

/** NDJSON: `{"column":value,…,"cursor":"…"}` and `\n`; the keys are the columns, in order. @internal */
export function ndjsonWriter(columns: readonly string[]): RowWriter {
  const keys = columns.map((c, i) => `${i === 0 ? '{' : ','}${JSON.stringify(c)}:`);
  return (values, cursor) => {
    let line = '';
    for (let i = 0; i < keys.length; i++) line += keys[i] + jsonValue(values[i] ?? null);
    return `${line},"cursor":${JSON.stringify(cursor)}}\n`;
  };
}

const NEEDS_QUOTES = /[",\r\n]/;

/**
 * One CSV field (RFC 4180): quoted, with quotes doubled, when it holds a quote, a comma, CR or LF. Null is an empty
 * field, the empty string a quoted empty field (`""`), as PostgreSQL's `COPY … CSV` reads them.
 * @internal
 */
export function csvField(v: ExportValue): string {
  if (v === null) return '';
  const text = v instanceof RawJson ? v.text : String(v);
  return text === '' || NEEDS_QUOTES.test(text) ? `"${text.replaceAll('"', '""')}"` : text;
}

/** CSV: the fields, then the cursor, separated by commas; lines end with CRLF. @internal */
export function csvWriter(): RowWriter {
  return (values, cursor) => {
    let line = '';
    for (const v of values) line += `${csvField(v)},`;
    return `${line}${cursor}\r\n`;
  };
}

/** The CSV header row: the column names and `cursor`. @internal */
export function csvHeader(columns: readonly string[]): string {
  return `${[...columns, 'cursor'].map(csvField).join(',')}\r\n`;
}
