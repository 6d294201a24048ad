export { ERROR_CODES, type ErrorCode, type ErrorCodeSpec, HTTP_STATUS_BY_CODE } from './error-codes.js';
export {
  ERROR_DETAILS_SCHEMAS,
  type ErrorDetails,
  type ErrorDetailsMap,
  matchesErrorDetails,
} from './error-details.js';
export {
  type AnyMarketkitError,
  hasErrorCode,
  isMarketkitError,
  MarketkitError,
  type MarketkitErrorOf,
  type MarketkitErrorOptions,
} from './marketkit-error.js';
export { restoreMarketkitError, type StoredMarketkitError } from './restore-error.js';
export { isStorableText, UNSTORABLE_TEXT_MESSAGE } from './storable-text.js';
export { parseInput, ValidationError, type ValidationIssue } from './validation-error.js';
