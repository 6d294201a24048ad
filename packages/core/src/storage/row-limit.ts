import { z } from 'zod';
import { parseInput } from '../errors/validation-error.js';

/**
 * Checks a `limit` argument (how many rows a sweep, a list or a batch may touch): an integer from 1 to `max`.
 * Throws `VALIDATION_FAILED` for anything else (a negative, fractional, non-finite or string limit would make
 * SQLite return nothing and PostgreSQL fail with a storage error).
 * @internal
 */
export function parseRowLimit(limit: unknown, max: number, what: string): number {
  if (typeof limit === 'number' && Number.isInteger(limit) && limit >= 1 && limit <= max) return limit;
  return parseInput(z.number().int().min(1).max(max), limit, what);
}

/** The most rows one maintenance call (`expireReservations`, `fireDueTransitions`, …) may be asked to touch. */
export const MAX_MAINTENANCE_LIMIT = 10_000;
