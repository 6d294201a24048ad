import { isReplayed } from '@marketkit/core';
import type { Response } from 'express';
import { type Problem, problemFor } from './problem.js';

/** JSON with bigints as decimal strings (ledger balances, payout amounts) and `Money` as its `toJSON()` form. */
export function toJson(body: unknown): string {
  return JSON.stringify(body, (_key, value: unknown) => (typeof value === 'bigint' ? value.toString() : value));
}

/** Sends a result; a replayed idempotent result (`isReplayed`) carries `Idempotent-Replayed: true`. */
export function sendResult(res: Response, status: number, body: object): void {
  if (isReplayed(body)) res.setHeader('Idempotent-Replayed', 'true');
  res.status(status).type('application/json').send(toJson(body));
}

/** Sends an RFC 9457 problem document. */
export function sendProblem(res: Response, p: Problem): void {
  res.status(p.status).type('application/problem+json').send(toJson(p));
}

/** Codes whose answer says when to come back: `Retry-After` from `details.retryAfterMs`. */
const RETRY_AFTER_CODES: ReadonlySet<string> = new Set(['OVERLOADED', 'RATE_LIMITED', 'PROVIDER_UNAVAILABLE']);

/**
 * Sends the problem for anything thrown, with `Idempotent-Replayed: true` on a replayed stored error and
 * `Retry-After` on `IDEMPOTENCY_CONFLICT`, `OVERLOADED` (a process past its in-flight bound, or no database
 * connection free in time), `RATE_LIMITED` and `PROVIDER_UNAVAILABLE` (an open provider breaker): whole seconds from
 * `details.retryAfterMs`, at least 1, except that `IDEMPOTENCY_CONFLICT` always says 1: the first request with the
 * key usually ends within a second, whereas its `retryAfterMs` is when its claim lapses should its process have died
 * (a minute by default), too long a wait to advise every client of a double submit.
 */
export function sendError(res: Response, error: unknown): void {
  const p = error instanceof ProblemError ? error.problem : problemFor(error);
  if (typeof error === 'object' && error !== null && isReplayed(error)) res.setHeader('Idempotent-Replayed', 'true');
  if (p.code === 'IDEMPOTENCY_CONFLICT') res.setHeader('Retry-After', '1');
  else if (RETRY_AFTER_CODES.has(p.code)) {
    const ms = p.details['retryAfterMs'];
    res.setHeader('Retry-After', String(typeof ms === 'number' ? Math.max(1, Math.ceil(ms / 1000)) : 1));
  }
  sendProblem(res, p);
}

/** Thrown inside a route to answer with a given problem (a 412 or 428 whose code keeps its own status elsewhere). */
export class ProblemError extends Error {
  readonly problem: Problem;
  constructor(p: Problem) {
    super(p.detail);
    this.problem = p;
  }
}
