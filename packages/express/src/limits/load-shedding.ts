import type { RequestHandler } from 'express';
import { sendProblem } from '../http-answers.js';
import { problem } from '../problem.js';

/** The default bound on requests a router serves at once in one process. */
export const DEFAULT_MAX_IN_FLIGHT = 256;

/**
 * Middleware that bounds the requests in flight in this process: past `maxInFlight`, a request is answered at once
 * with 503 `OVERLOADED` and `Retry-After: 1`, before it reads its body or touches the database, instead of joining
 * an unbounded queue. A request counts until its response closes (finished or aborted). `exempt` requests (long-lived
 * streams) are not counted.
 */
export function loadSheddingMiddleware(
  maxInFlight: number,
  exempt: (path: string) => boolean = () => false,
): RequestHandler {
  let inFlight = 0;
  return (req, res, next) => {
    if (exempt(req.path)) return next();
    if (inFlight >= maxInFlight) {
      res.setHeader('Retry-After', '1');
      sendProblem(
        res,
        problem('OVERLOADED', 'The server is at its capacity; retry after the time given.', {
          resource: 'requests',
          retryAfterMs: 1000,
        }),
      );
      return;
    }
    inFlight++;
    let counted = true;
    res.once('close', () => {
      if (counted) inFlight--;
      counted = false;
    });
    next();
  };
}
