import { ERROR_CODES, ERROR_DETAILS_SCHEMAS, type ErrorCode } from '@marketkit/core';
import { detailsShape } from './details-shape.js';
import { markdownTable } from './generated-section.js';

/**
 * The table of every error code in docs/errors.md: HTTP status, retryable, meaning (the default message) and the
 * `details` shape, all read from `ERROR_CODES` and `ERROR_DETAILS_SCHEMAS`.
 */
export function errorCodesTable(): string {
  const rows = (Object.keys(ERROR_CODES) as ErrorCode[]).map((code) => {
    const spec = ERROR_CODES[code];
    const shape = detailsShape(ERROR_DETAILS_SCHEMAS[code]);
    const details = [`\`${shape.type}\``, ...shape.notes].join('; ');
    return [`\`${code}\``, String(spec.httpStatus), spec.retryable ? 'yes' : 'no', spec.message, details];
  });
  return markdownTable(['code', 'HTTP', 'retryable', 'meaning', '`details`'], rows);
}
