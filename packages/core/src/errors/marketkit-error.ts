import { ERROR_CODES, type ErrorCode } from './error-codes.js';
import type { ErrorDetails } from './error-details.js';

const BRAND = Symbol.for('@marketkit/core/MarketkitError');

/** Options accepted by {@link MarketkitError}: `details` must have the shape declared for the code. */
export type MarketkitErrorOptions<C extends ErrorCode = ErrorCode> = {
  readonly message?: string;
  readonly cause?: unknown;
  /** Overrides the default retryability of the code. */
  readonly retryable?: boolean;
} & (Record<never, never> extends ErrorDetails<C>
  ? { readonly details?: ErrorDetails<C> }
  : { readonly details: ErrorDetails<C> });

/** True when `T` is a union of several types. */
type IsUnion<T, U = T> = T extends unknown ? ([U] extends [T] ? false : true) : never;

/**
 * The constructor's options argument: optional only for codes whose details can be empty. A code that is a union
 * (`cond ? 'A' : 'B'`) is refused, since its details could not be checked against one shape: construct each code
 * on its own branch.
 */
type OptionsArgument<C extends ErrorCode> =
  true extends IsUnion<C>
    ? [options: never]
    : Record<never, never> extends ErrorDetails<C>
      ? [options?: MarketkitErrorOptions<C>]
      : [options: MarketkitErrorOptions<C>];

/**
 * The one base class of every error Marketkit throws. Check errors by `code` or with
 * {@link isMarketkitError}; `instanceof` can lie when an app loads both the ESM and CJS copies. `details` has one
 * shape per code ({@link ERROR_DETAILS_SCHEMAS}); narrow on `code` (see {@link AnyMarketkitError}) to read it typed.
 *
 * @example
 * ```ts
 * try { await ledger.createAccounts([...]); }
 * catch (e) { if (hasErrorCode(e, 'VALIDATION_FAILED')) console.log(e.details.issues); }
 * ```
 */
export class MarketkitError<C extends ErrorCode = ErrorCode> extends Error {
  readonly code: C;
  readonly retryable: boolean;
  readonly details: ErrorDetails<C>;

  constructor(code: C, ...[options]: OptionsArgument<C>) {
    const o: MarketkitErrorOptions<C> | undefined = options;
    super(o?.message ?? ERROR_CODES[code].message, o?.cause === undefined ? {} : { cause: o.cause });
    this.name = 'MarketkitError';
    this.code = code;
    this.retryable = o?.retryable ?? ERROR_CODES[code].retryable;
    this.details = Object.freeze({ ...(o?.details ?? {}) }) as ErrorDetails<C>;
    Object.defineProperty(this, BRAND, { value: true });
  }

  /** A plain, JSON-safe view: what an API would send to a client. */
  toJSON(): { code: C; message: string; retryable: boolean; details: ErrorDetails<C> } {
    return { code: this.code, message: this.message, retryable: this.retryable, details: this.details };
  }
}

/** A Marketkit error with code `C`, whose `details` has that code's shape. */
export type MarketkitErrorOf<C extends ErrorCode> = MarketkitError<C>;

/** Any Marketkit error, as a union discriminated by `code`: `switch (e.code)` narrows `e.details`. */
export type AnyMarketkitError = { [C in ErrorCode]: MarketkitErrorOf<C> }[ErrorCode];

/** True when `e` is a Marketkit error from any loaded copy of the package (ESM or CJS). */
export function isMarketkitError(e: unknown): e is AnyMarketkitError {
  return typeof e === 'object' && e !== null && (e as Record<symbol, unknown>)[BRAND] === true;
}

/** True when `e` is a Marketkit error with the given code; its `details` then has that code's shape. */
export function hasErrorCode<C extends ErrorCode>(e: unknown, code: C): e is MarketkitErrorOf<C> {
  return isMarketkitError(e) && e.code === code;
}
