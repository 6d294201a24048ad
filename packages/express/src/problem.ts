import { ERROR_CODES, type ErrorCode, HTTP_STATUS_BY_CODE, isMarketkitError } from '@marketkit/core';

export { HTTP_STATUS_BY_CODE };

/** An RFC 9457 problem document, as the router sends it with `Content-Type: application/problem+json`. */
export interface Problem {
  /** `urn:marketkit:error:<CODE>`: stable, one per code. */
  readonly type: string;
  /** The HTTP reason phrase of `status`. */
  readonly title: string;
  readonly status: number;
  /** A human-readable explanation. Never a stack, SQL or the request body. */
  readonly detail: string;
  /** The stable Marketkit error code (see docs/errors.md). */
  readonly code: ErrorCode;
  /** The code's details (`{}` for 5xx codes, whose details could name internals). */
  readonly details: Readonly<Record<string, unknown>>;
}

const TITLES: Readonly<Record<number, string>> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  402: 'Payment Required',
  403: 'Forbidden',
  404: 'Not Found',
  409: 'Conflict',
  412: 'Precondition Failed',
  413: 'Content Too Large',
  422: 'Unprocessable Content',
  428: 'Precondition Required',
  429: 'Too Many Requests',
  500: 'Internal Server Error',
  501: 'Not Implemented',
  502: 'Bad Gateway',
  503: 'Service Unavailable',
  504: 'Gateway Timeout',
};

/** A problem built from its parts; `status` defaults to the code's status in {@link HTTP_STATUS_BY_CODE}. */
export function problem(
  code: ErrorCode,
  detail: string,
  details: Readonly<Record<string, unknown>> = {},
  status: number = HTTP_STATUS_BY_CODE[code],
): Problem {
  return { type: `urn:marketkit:error:${code}`, title: TITLES[status] ?? 'Error', status, detail, code, details };
}

/** 5xx codes whose message and details name nothing internal: the provider's operation and its failure. */
const DETAILED_5XX: ReadonlySet<ErrorCode> = new Set(['PROVIDER_ERROR', 'PROVIDER_TIMEOUT', 'PROVIDER_UNAVAILABLE']);

/**
 * The problem document for anything thrown: a `MarketkitError` answers with its code's status
 * ({@link HTTP_STATUS_BY_CODE}), message and details, except that a 5xx code answers with the code's generic
 * message and no details (a storage error's message can carry SQL); `OVERLOADED` keeps its details (what is at
 * capacity, when to retry) with the generic message. Anything else is a 500 `INTERNAL` with a
 * generic detail: no stack, no message, nothing of the input.
 *
 * @example
 * ```ts
 * app.use((err, req, res, next) => {
 *   const p = problemFor(err);
 *   res.status(p.status).type('application/problem+json').json(p);
 * });
 * ```
 */
export function problemFor(error: unknown): Problem {
  if (!isMarketkitError(error)) return problem('INTERNAL', 'An unexpected error occurred.');
  const status = HTTP_STATUS_BY_CODE[error.code];
  if (status >= 500 && !DETAILED_5XX.has(error.code)) {
    // OVERLOADED's details say only what is at capacity and when to retry; its message may be the driver's.
    const details = error.code === 'OVERLOADED' ? (error.details as Readonly<Record<string, unknown>>) : {};
    return problem(error.code, ERROR_CODES[error.code].message, details);
  }
  return problem(error.code, error.message, error.details as Readonly<Record<string, unknown>>);
}
