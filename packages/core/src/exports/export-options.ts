import { z } from 'zod';
import { MAX_EXPORT_CURSOR_LENGTH } from './export-cursor.js';
import type { ExportFormat } from './export-format.js';

/** The most rows one statement of an export reads. */
export const MAX_EXPORT_BATCH_SIZE = 10_000;

/** Rows one statement of an export reads unless told otherwise. */
export const DEFAULT_EXPORT_BATCH_SIZE = 1000;

/** What an export takes (`market.exports.orders(options)`, `.transfers`, `.orderEvents`). */
export interface ExportOptions {
  /** `ndjson` (one JSON object a line) or `csv` (RFC 4180, CRLF, a header row). */
  readonly format: ExportFormat;
  /**
   * Resume after this row: the `cursor` of the last row written. Refused (`VALIDATION_FAILED`) when it is not a
   * cursor, or one of another kind of export or another marketplace (tenant). Default: from the first row.
   */
  readonly after?: string;
  /** Most rows written, a positive safe integer. Default: every row. */
  readonly limit?: number;
  /** Rows read per statement, 1 to {@link MAX_EXPORT_BATCH_SIZE}. Default {@link DEFAULT_EXPORT_BATCH_SIZE}. */
  readonly batchSize?: number;
  /**
   * CSV only: whether the first line is the header row. Default: true for a new export, false when resuming
   * (`after` given), so a resumed export appended to the file it continues leaves one header.
   */
  readonly header?: boolean;
}

/** Validates {@link ExportOptions}. @internal */
export const exportOptionsSchema = z.strictObject({
  format: z.enum(['ndjson', 'csv'] satisfies ExportFormat[]),
  after: z.string().min(1).max(MAX_EXPORT_CURSOR_LENGTH).optional(),
  limit: z.number().int().min(1).max(Number.MAX_SAFE_INTEGER).optional(),
  batchSize: z.number().int().min(1).max(MAX_EXPORT_BATCH_SIZE).optional(),
  header: z.boolean().optional(),
});
