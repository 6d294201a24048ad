import { MarketkitError } from '@marketkit/core';

const CURSOR = /^(0|[1-9][0-9]{0,18})-(0|[1-9][0-9]{0,18})$/;

/**
 * A client's resume point: an id the live stream sent (`<n>-<n>`, e.g. `0-42`), or `undefined` when absent or
 * empty. Anything else throws `VALIDATION_FAILED` naming `field`. @internal
 */
export function parseLastEventId(value: string | undefined, field: string): string | undefined {
  if (value === undefined || value === '') return undefined;
  if (!CURSOR.test(value)) {
    const message = `${field} must be an id this stream sent, e.g. 0-42.`;
    throw new MarketkitError('VALIDATION_FAILED', { message, details: { issues: [{ path: [field], message }] } });
  }
  return value;
}
