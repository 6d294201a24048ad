export { ERROR_CODES, type ErrorCode } from './error-codes.js';
export { hasErrorCode, isMarketkitError, MarketkitError, type MarketkitErrorOptions } from './marketkit-error.js';
export { parseInput, ValidationError, type ValidationIssue } from './validation-error.js';
