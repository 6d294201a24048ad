import { type Marketplace, parseInput } from '@marketkit/core';
import express, { type Request, type RequestHandler, type Response, Router } from 'express';
import { z } from 'zod';
import { requireRole } from '../actor-roles.js';
import type { Authenticate } from '../actor-source.js';
import { actorOf, authenticationMiddleware } from '../authentication.js';
import { bodyErrorHandler } from '../body-error-handler.js';
import { ProblemError, sendError, sendResult } from '../http-answers.js';
import { problem } from '../problem.js';
import { resolveBody } from '../request-schemas.js';
import { CONSOLE_CSP, CONSOLE_HTML } from './console-page.js';
import { renderPanels } from './console-panels.js';
import { readConsoleState } from './console-state.js';

/** Options of {@link operatorConsole}. */
export interface OperatorConsoleOptions {
  /** Who sends a request, as for `marketkitRouter` (e.g. the same `jwtAuthenticator`); only operators get in. */
  readonly authenticate: Authenticate;
  /** The `Intl` locale money is formatted in. Default `en-US`. */
  readonly locale?: string;
  /** Days of charts, ending today (UTC), 1 to 366. Default 30. */
  readonly chartDays?: number;
  /**
   * The window `market.payments.reconcile` checks on each view: the `windowMs` (1 ms to 31 days, default a day) that
   * closed `settleMs` ago (0 to 31 days, default an hour: past the reservation window, so checkouts in flight do not
   * show as discrepancies); `false` leaves the panel out (a provider without `listEffects`, or one whose listing
   * costs too much to run on every view).
   */
  readonly reconciliation?: { readonly windowMs?: number; readonly settleMs?: number } | false;
  /** The time the console reads at, in ms since the epoch; pass the marketplace's clock. Default `Date.now`. */
  readonly now?: () => number;
}

const DAY_MS = 86_400_000;
const span = z
  .number()
  .int()
  .min(0)
  .max(31 * DAY_MS);
const optionsSchema = z.object({
  authenticate: z.custom<Authenticate>((v) => typeof v === 'function', 'must be a function'),
  locale: z.string().min(2).max(35).optional(),
  chartDays: z.number().int().min(1).max(366).optional(),
  reconciliation: z
    .union([z.literal(false), z.strictObject({ windowMs: span.min(1).optional(), settleMs: span.optional() })])
    .optional(),
  now: z.custom<() => number>((v) => typeof v === 'function', 'must be a function').optional(),
});

/** Refuses a request another site's page made the browser send (`Sec-Fetch-Site: cross-site`). */
const sameSiteOnly: RequestHandler = (req, _res, next) => {
  if (req.get('Sec-Fetch-Site') === 'cross-site') {
    return next(new ProblemError(problem('FORBIDDEN', 'The console takes no cross-site requests.', {})));
  }
  next();
};

/** An action needs a JSON body: a form another site posts (url-encoded, multipart, text) never gets this far. */
const jsonOnly: RequestHandler = (req, _res, next) => {
  if (!req.is('application/json')) {
    const message = 'Console actions take Content-Type: application/json.';
    return next(new ProblemError(problem('VALIDATION_FAILED', message, {}, 415)));
  }
  next();
};

function sagaId(req: Request): string {
  const id = req.params['id'];
  return typeof id === 'string' ? id : '';
}

function noStore(res: Response): void {
  res.setHeader('Cache-Control', 'no-store');
  res.setHeader('X-Content-Type-Options', 'nosniff');
  res.setHeader('Referrer-Policy', 'no-referrer');
}

/**
 * The operator console: one web page, for the operator role only, that shows what is stuck and where the money is —
 * parked sagas (with retry and resolve), checkouts stuck past their reservation, the outbox and webhook backlog, the
 * payment provider's breaker, reconciliation discrepancies, and charts of GMV, take rate and escrow by day. Mount it
 * under any path; the page itself holds no data and needs no authentication, everything it loads does:
 * `GET <mount>/panels` (server-rendered HTML) and `POST <mount>/sagas/:id/retry` and `…/resolve` (JSON), each
 * authenticated by `authenticate` and refused to non-operators with the router's problems (401
 * `UNAUTHENTICATED`, 403 `FORBIDDEN`). The page sends the operator's bearer token from `sessionStorage`; actions
 * also need a JSON body and refuse `Sec-Fetch-Site: cross-site`, so a cookie-authenticated host stays CSRF-safe.
 * See docs/http.md, "The operator console".
 *
 * @example
 * ```ts
 * const authenticate = jwtAuthenticator({ secret: process.env.JWT_SECRET!, issuer: 'shop', audience: 'shop-api' });
 * app.use('/api', marketkitRouter(market, { authenticate }));
 * app.use('/console', operatorConsole(market, { authenticate }));
 * ```
 */
export function operatorConsole(market: Marketplace, options: OperatorConsoleOptions): Router {
  const o = parseInput(optionsSchema, options, 'operator console options');
  const locale = o.locale ?? 'en-US';
  const now = o.now ?? Date.now;
  const chartDays = o.chartDays ?? 30;
  const reconciliation =
    o.reconciliation === false
      ? false
      : { windowMs: o.reconciliation?.windowMs ?? DAY_MS, settleMs: o.reconciliation?.settleMs ?? 3_600_000 };
  const router = Router();

  router.get('/', (_req, res) => {
    noStore(res);
    res.setHeader('Content-Security-Policy', CONSOLE_CSP);
    res.setHeader('X-Frame-Options', 'DENY');
    res.status(200).type('text/html').send(CONSOLE_HTML);
  });

  router.use(authenticationMiddleware(o.authenticate));
  const operatorOnly =
    (operation: string): RequestHandler =>
    (req, _res, next) => {
      try {
        requireRole(actorOf(req), 'operator', operation);
        next();
      } catch (e) {
        next(e);
      }
    };
  const answer =
    (handler: (req: Request, res: Response) => Promise<void>): RequestHandler =>
    (req, res) => {
      handler(req, res).catch((e: unknown) => sendError(res, e));
    };

  router.get(
    '/panels',
    operatorOnly('open the operator console'),
    answer(async (_req, res) => {
      const state = await readConsoleState(market, { now: now(), chartDays, reconciliation });
      noStore(res);
      res.setHeader('Content-Security-Policy', "default-src 'none'; frame-ancestors 'none'");
      res.status(200).type('text/html').send(renderPanels(state, locale).toString());
    }),
  );
  const action = (operation: string) => [
    operatorOnly(operation),
    sameSiteOnly,
    jsonOnly,
    express.json({ limit: '4kb' }),
  ];
  router.post(
    '/sagas/:id/retry',
    action('retry sagas'),
    answer(async (req, res) => {
      sendResult(res, 200, await market.sagas.retry(sagaId(req)));
    }),
  );
  router.post(
    '/sagas/:id/resolve',
    action('resolve sagas'),
    answer(async (req, res) => {
      const { note } = parseInput(resolveBody, req.body ?? {}, 'resolution');
      sendResult(res, 200, await market.sagas.resolve(sagaId(req), note));
    }),
  );
  router.use(bodyErrorHandler);
  return router;
}
