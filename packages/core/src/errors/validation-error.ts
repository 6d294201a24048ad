import type { z } from 'zod';
import { MarketkitError } from './marketkit-error.js';

/** One problem found in an input, with the path to the offending field. */
export interface ValidationIssue {
  readonly path: readonly (string | number)[];
  readonly message: string;
}

/** Thrown when input fails validation at a public entry point. Nothing has been written. */
export class ValidationError extends MarketkitError<'VALIDATION_FAILED'> {
  readonly issues: readonly ValidationIssue[];
  constructor(issues: readonly ValidationIssue[], message = 'The input did not pass validation.') {
    super('VALIDATION_FAILED', { message, details: { issues } });
    this.name = 'ValidationError';
    this.issues = issues;
  }
}

/**
 * Parses `input` with `schema`, throwing {@link ValidationError} (code `VALIDATION_FAILED`) on failure.
 * @internal used by every public entry point of core.
 */
export function parseInput<S extends z.ZodType>(schema: S, input: unknown, what: string): z.output<S> {
  const result = schema.safeParse(input);
  if (result.success) return result.data;
  const issues = result.error.issues.map((i) => ({
    path: i.path.map((p) => (typeof p === 'symbol' ? String(p) : p)),
    message: i.message,
  }));
  throw new ValidationError(
    issues,
    `Invalid ${what}: ${issues.map((i) => `${i.path.join('.') || '(root)'} ${i.message}`).join('; ')}`,
  );
}
