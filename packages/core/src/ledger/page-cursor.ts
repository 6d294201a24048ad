import { ValidationError } from '../errors/validation-error.js';

/** Where a page of transfers stopped: the last row's timestamp and id. */
export interface PagePosition {
  readonly createdAt: number;
  readonly id: string;
}

/** A position as an opaque cursor (the format `listTransfers` has always issued). */
export function encodePosition(c: PagePosition): string {
  return Buffer.from(JSON.stringify([c.createdAt, c.id])).toString('base64url');
}

function decode(s: string): unknown {
  try {
    return JSON.parse(Buffer.from(s, 'base64url').toString('utf8'));
  } catch {
    return undefined;
  }
}

function rejected(issuer: string): ValidationError {
  return new ValidationError([{ path: ['cursor'], message: `is not a cursor returned by ${issuer}` }]);
}

/** The position in a cursor from {@link encodePosition}; `VALIDATION_FAILED` at `cursor` for anything else. */
export function decodePosition(s: string, issuer: string): PagePosition {
  const v = decode(s);
  if (Array.isArray(v) && v.length === 2 && Number.isSafeInteger(v[0]) && typeof v[1] === 'string') {
    return { createdAt: v[0] as number, id: v[1] };
  }
  throw rejected(issuer);
}

/** An account id as an opaque cursor. */
export function encodeAccountCursor(id: string): string {
  return Buffer.from(JSON.stringify(['a', id])).toString('base64url');
}

/** The id in a cursor from {@link encodeAccountCursor}; `VALIDATION_FAILED` at `cursor` for anything else. */
export function decodeAccountCursor(s: string, issuer: string): string {
  const v = decode(s);
  if (Array.isArray(v) && v.length === 2 && v[0] === 'a' && typeof v[1] === 'string') return v[1];
  throw rejected(issuer);
}
