import { ERROR_CODES, type ErrorCode } from './error-codes.js';

const BRAND = Symbol.for('@marketkit/core/MarketkitError');

/** Options accepted by {@link MarketkitError}. */
export interface MarketkitErrorOptions {
  readonly message?: string;
  readonly details?: Readonly<Record<string, unknown>>;
  readonly cause?: unknown;
  /** Overrides the default retryability of the code. */
  readonly retryable?: boolean;
}

/**
 * The one base class of every error Marketkit throws. Check errors by `code` or with
 * {@link isMarketkitError}; `instanceof` can lie when an app loads both the ESM and CJS copies.
 *
 * @example
 * ```ts
 * try { await ledger.createAccounts([...]); }
 * catch (e) { if (isMarketkitError(e) && e.code === 'VALIDATION_FAILED') console.log(e.details); }
 * ```
 */
export class MarketkitError extends Error {
  readonly code: ErrorCode;
  readonly retryable: boolean;
  readonly details: Readonly<Record<string, unknown>>;

  constructor(code: ErrorCode, options: MarketkitErrorOptions = {}) {
    super(options.message ?? ERROR_CODES[code].message, options.cause === undefined ? {} : { cause: options.cause });
    this.name = 'MarketkitError';
    this.code = code;
    this.retryable = options.retryable ?? ERROR_CODES[code].retryable;
    this.details = Object.freeze({ ...(options.details ?? {}) });
    Object.defineProperty(this, BRAND, { value: true });
  }

  /** A plain, JSON-safe view: what an API would send to a client. */
  toJSON(): { code: ErrorCode; message: string; retryable: boolean; details: Readonly<Record<string, unknown>> } {
    return { code: this.code, message: this.message, retryable: this.retryable, details: this.details };
  }
}

/** True when `e` is a Marketkit error from any loaded copy of the package (ESM or CJS). */
export function isMarketkitError(e: unknown): e is MarketkitError {
  return typeof e === 'object' && e !== null && (e as Record<symbol, unknown>)[BRAND] === true;
}

/** True when `e` is a Marketkit error with the given code. */
export function hasErrorCode(e: unknown, code: ErrorCode): e is MarketkitError {
  return isMarketkitError(e) && e.code === code;
}
