import type { Actor } from '@marketkit/core';
import type { Request, RequestHandler, Response } from 'express';
import { RateLimiterMemory } from 'rate-limiter-flexible';
import { sendProblem } from '../http-answers.js';
import { problem } from '../problem.js';

/**
 * The class of a `/v1` route, each with its own limit: `money` for checkouts and payouts, `write` for every other
 * non-GET request, `read` for GET and HEAD.
 */
export type RouteClass = 'read' | 'write' | 'money';

/** A limit: `points` requests per `duration` seconds, per actor. */
export interface RateLimit {
  readonly points: number;
  readonly duration: number;
}

/**
 * What the router needs of a limiter, typed structurally: every limiter of `rate-limiter-flexible`
 * (`RateLimiterMemory`, `RateLimiterPostgres`, `RateLimiterRedis`, …) fits. `consume` resolves with the points left,
 * or rejects with the same shape when the key is over its limit, and with an `Error` when the store fails.
 */
export interface RateLimiterLike {
  /** Takes `points` (default 1) from `key`'s budget for the current window. */
  consume(key: string, points?: number): Promise<{ readonly remainingPoints: number; readonly msBeforeNext: number }>;
}

/** Options of the router's rate limits (`marketkitRouter(market, { rateLimits })`). */
export interface RateLimitsOptions {
  /** The limit of each route class; a class not named here is not limited. */
  readonly classes: Readonly<Partial<Record<RouteClass, RateLimit>>>;
  /**
   * Builds the limiter of one class. Default: `RateLimiterMemory`, one count per process. To share the counts
   * across processes, build a store-backed limiter of `rate-limiter-flexible` with the options given, e.g.
   * `(cls, o) => new RateLimiterPostgres({ ...o, storeClient: pool, tableName: 'mk_rate_limits', tableCreated: true })`.
   */
  readonly limiter?: (routeClass: RouteClass, options: RateLimit & { readonly keyPrefix: string }) => RateLimiterLike;
}

const MONEY_ROUTES = new Set(['/checkouts', '/payouts']);

/** The class of a request, by method and path (relative to `/v1`, where the middleware is mounted). */
export function routeClassOf(req: Request): RouteClass {
  if (req.method === 'GET' || req.method === 'HEAD') return 'read';
  return MONEY_ROUTES.has(req.path) ? 'money' : 'write';
}

/**
 * Middleware that counts each request of an authenticated actor against its route class's limit, and answers 429
 * `RATE_LIMITED` with `Retry-After` beyond it. Every limited response carries `RateLimit-Limit`,
 * `RateLimit-Remaining` and `RateLimit-Reset` (seconds), the fields of the IETF draft "RateLimit header fields for
 * HTTP". A store that fails lets the request through: the limiter guards the API, it does not gate it.
 */
export function rateLimitsMiddleware(options: RateLimitsOptions, actorOf: (req: Request) => Actor): RequestHandler {
  const make = options.limiter ?? ((_cls, o) => new RateLimiterMemory(o));
  const limiters = new Map<RouteClass, { readonly limit: RateLimit; readonly limiter: RateLimiterLike }>();
  for (const [cls, limit] of Object.entries(options.classes) as [RouteClass, RateLimit | undefined][]) {
    if (limit === undefined) continue;
    const frozen = Object.freeze({ points: limit.points, duration: limit.duration });
    limiters.set(cls, { limit: frozen, limiter: make(cls, { ...frozen, keyPrefix: `mk-rl-${cls}` }) });
  }
  return (req, res, next) => {
    const routeClass = routeClassOf(req);
    const entry = limiters.get(routeClass);
    if (entry === undefined) return next();
    const actor = actorOf(req);
    entry.limiter.consume(`${actor.role}:${actor.id}`).then(
      (state) => {
        setRateLimitHeaders(res, entry.limit, state);
        next();
      },
      (rejection: unknown) => {
        if (rejection instanceof Error || !isLimiterState(rejection)) return next();
        setRateLimitHeaders(res, entry.limit, rejection);
        const retryAfterMs = Math.max(1, Math.ceil(rejection.msBeforeNext));
        res.setHeader('Retry-After', String(Math.ceil(retryAfterMs / 1000)));
        sendProblem(
          res,
          problem('RATE_LIMITED', `Too many ${routeClass} requests; retry after the time given.`, {
            routeClass,
            limit: entry.limit.points,
            retryAfterMs,
          }),
        );
      },
    );
  };
}

function isLimiterState(v: unknown): v is { remainingPoints: number; msBeforeNext: number } {
  return typeof v === 'object' && v !== null && typeof (v as { msBeforeNext?: unknown }).msBeforeNext === 'number';
}

function setRateLimitHeaders(
  res: Response,
  limit: RateLimit,
  state: { readonly remainingPoints: number; readonly msBeforeNext: number },
): void {
  res.setHeader('RateLimit-Limit', String(limit.points));
  res.setHeader('RateLimit-Remaining', String(Math.max(0, state.remainingPoints)));
  res.setHeader('RateLimit-Reset', String(Math.max(0, Math.ceil(state.msBeforeNext / 1000))));
  res.setHeader('RateLimit-Policy', `${limit.points};w=${limit.duration}`);
}
