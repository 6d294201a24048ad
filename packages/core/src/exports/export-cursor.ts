import { ValidationError } from '../errors/validation-error.js';

/** What an export reads: the orders, the ledger's transfers, or the order events. */
export type ExportKind = 'orders' | 'transfers' | 'orderEvents';

/** The longest cursor an export accepts as `after`. */
export const MAX_EXPORT_CURSOR_LENGTH = 1024;

/**
 * A row's cursor: the kind of export, the tenant and the row's key, as base64url of a JSON array. Opaque to the host;
 * only letters, digits, `-` and `_`, so a CSV field never quotes it. Not a secret: a forged one reads only rows of
 * the marketplace that reads it, since every statement is scoped to its tenant.
 * @internal
 */
export function encodeExportCursor(kind: ExportKind, tenant: string, key: string): string {
  return Buffer.from(JSON.stringify([1, kind, tenant, key])).toString('base64url');
}

function refused(message: string): ValidationError {
  return new ValidationError([{ path: ['after'], message }], `Invalid export options: after ${message}`);
}

/**
 * The row key in `cursor`, checked to come from an export of `kind` in the marketplace of `tenant`: a cursor of
 * another kind of export, or of another tenant, is refused with `VALIDATION_FAILED`, as is anything not a cursor.
 * @internal
 */
export function decodeExportCursor(cursor: string, kind: ExportKind, tenant: string): string {
  let value: unknown;
  try {
    value = /^[A-Za-z0-9_-]+$/.test(cursor) ? JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) : null;
  } catch {
    value = null;
  }
  if (!Array.isArray(value) || value.length !== 4 || value[0] !== 1 || typeof value[3] !== 'string') {
    throw refused('is not a cursor returned by an export');
  }
  if (value[1] !== kind) throw refused(`is a cursor of a ${String(value[1])} export, not of ${kind}`);
  if (value[2] !== tenant) throw refused('is a cursor of another marketplace (tenant)');
  return value[3];
}
