import {
  type Actor,
  escrowAccounts,
  MarketkitError,
  type Marketplace,
  type ProviderWebhookHandler,
  parseInput,
} from '@marketkit/core';
import cors, { type CorsOptions } from 'cors';
import express, { type Request, type RequestHandler, type Response, Router } from 'express';
import helmet, { type HelmetOptions } from 'helmet';
import { z } from 'zod';
import { forbidden, requireRole } from './actor-roles.js';
import type { Authenticate } from './actor-source.js';
import { actorOf, authenticationMiddleware } from './authentication.js';
import { bodyErrorHandler } from './body-error-handler.js';
import { ProblemError, sendError, sendProblem, sendResult } from './http-answers.js';
import { DEFAULT_MAX_IN_FLIGHT, loadSheddingMiddleware } from './limits/load-shedding.js';
import { type RateLimitsOptions, rateLimitsMiddleware } from './limits/rate-limits.js';
import { type ReadinessOptions, readinessHandler } from './limits/readiness.js';
import { type LiveEventsOptions, resolveLiveEventsOptions } from './live/live-events-options.js';
import { SseHandler } from './live/sse-handler.js';
import { type MetricsRouteOptions, metricsRoute } from './metrics-route.js';
import { serveApiReference, serveOpenApi } from './openapi/openapi-routes.js';
import { problem } from './problem.js';
import {
  checkoutBody,
  createListingBody,
  definedOnly,
  payoutBody,
  payoutDestinationBody,
  resolveBody,
  transitionBody,
  updateListingBody,
} from './request-schemas.js';

/** Options of {@link marketkitRouter}. */
export interface MarketkitRouterOptions {
  /** Who sends a request (e.g. {@link jwtAuthenticator}); `undefined` answers 401 `UNAUTHENTICATED` with `WWW-Authenticate: Bearer`. */
  readonly authenticate: Authenticate;
  /** Largest JSON body accepted, in `body-parser`'s notation. Default `100kb`; beyond it 413. */
  readonly bodyLimit?: string | number;
  /** helmet's options, or `false` when the host already sets security headers. Default `helmet()`'s defaults. */
  readonly helmet?: HelmetOptions | false;
  /** The `cors` package's options (answers preflights before authentication). Default: no CORS headers. */
  readonly cors?: CorsOptions;
  /** Requests served at once by this router in this process; beyond it 503 `OVERLOADED`. Default 256. */
  readonly maxInFlight?: number;
  /** Limits per actor and route class (429 `RATE_LIMITED`); see {@link RateLimitsOptions}. Default: none. */
  readonly rateLimits?: RateLimitsOptions;
  /** What `/readyz` checks beyond the database and the migrations; see {@link ReadinessOptions}. */
  readonly readiness?: ReadinessOptions;
  /** The live order-event stream `GET /v1/events` (Server-Sent Events): its options, or `false` to leave it out. */
  readonly liveEvents?: LiveEventsOptions | false;
  /**
   * Incoming webhooks of payment providers, mounted at `POST /v1/webhooks/<provider>` with the raw body (before any
   * JSON parser: the signature covers its bytes), without authentication (the provider's signature is the
   * authentication) and outside the per-actor rate limits. `{ stripe: stripeWebhookHandler({ market, stripe,
   * endpointSecret }) }` (from `@marketkit/adapters/stripe`) serves `POST /v1/webhooks/stripe`. Default: none.
   */
  readonly providerWebhooks?: { readonly stripe?: ProviderWebhookHandler };
  /**
   * `GET /metrics` (Prometheus text format, operator only) from this registry, the one given to
   * `createMarketplace({ metrics: { registry } })`. Default: not mounted. See docs/observability.md.
   */
  readonly metrics?: MetricsRouteOptions;
}

/** Stripe's event payloads stay well under this (its docs: events are at most a few hundred kilobytes). */
const WEBHOOK_BODY_LIMIT = '1mb';

/** `POST /v1/webhooks/<provider>`: the raw body and the signature header to the provider's handler. */
function providerWebhookRoute(handler: ProviderWebhookHandler, limit: string | number): RequestHandler[] {
  const signatureHeader = `${handler.provider}-signature`;
  return [
    express.raw({ type: () => true, limit }),
    (req, res) => {
      const parsed: unknown = req.body;
      // No body at all: Express 5 leaves `req.body` undefined, Express 4's parsers set `{}`.
      const empty = parsed === undefined || (isPlainObject(parsed) && Object.keys(parsed).length === 0);
      const body = empty ? Buffer.alloc(0) : parsed;
      if (!Buffer.isBuffer(body)) {
        // A body parser of the host's ran first: the exact bytes the signature covers are gone.
        const message = `The ${handler.provider} webhook's body was parsed before marketkitRouter: mount the router before any body parser (express.json()).`;
        sendProblem(res, problem('INTERNAL', message));
        return;
      }
      handler
        .handleProviderWebhook(body, req.get(signatureHeader))
        .then((outcome) => sendResult(res, 200, { received: true, ...outcome }))
        .catch((e: unknown) => sendError(res, e));
    },
  ];
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && Object.getPrototypeOf(v) === Object.prototype;
}

type Handler = (req: Request, res: Response, actor: Actor) => Promise<void>;

/**
 * An Express router with Marketkit's HTTP API under `/v1`, `/healthz` and `/readyz`, to mount under any prefix:
 * `app.use('/market', marketkitRouter(market, { authenticate }))`. Errors are RFC 9457 problem documents
 * (`application/problem+json`, see {@link problemFor}); `Idempotency-Key` is passed to Marketkit as the call's
 * idempotency key (required for checkouts and payouts) and a replay answers with `Idempotent-Replayed: true`.
 * See docs/http.md for the routes.
 *
 * @example
 * ```ts
 * const app = express();
 * app.use('/api', marketkitRouter(market, {
 *   authenticate: jwtAuthenticator({ secret: process.env.JWT_SECRET!, issuer: 'shop', audience: 'shop-api' }),
 * }));
 * ```
 */
export function marketkitRouter(market: Marketplace, options: MarketkitRouterOptions): Router {
  if (typeof options?.authenticate !== 'function') {
    throw new TypeError('marketkitRouter(market, { authenticate }) needs an authenticate function.');
  }
  const maxInFlight = options.maxInFlight ?? DEFAULT_MAX_IN_FLIGHT;
  if (!Number.isSafeInteger(maxInFlight) || maxInFlight < 1) {
    throw new TypeError('marketkitRouter: maxInFlight must be a positive integer.');
  }
  const live = options.liveEvents === false ? undefined : resolveLiveEventsOptions(options.liveEvents);
  const router = Router();
  if (options.helmet !== false) router.use(helmet(options.helmet));
  if (options.cors !== undefined) router.use(cors(options.cors));

  router.get('/healthz', (_req, res) => {
    res.status(200).json({ status: 'ok' });
  });
  router.get('/readyz', readinessHandler(market, options.readiness));
  if (options.metrics !== undefined) router.get('/metrics', metricsRoute(options.authenticate, options.metrics));

  // Shed load before authentication: a request past the bound costs no token check, body or connection. The live
  // stream is exempt under every spelling its route matches (routing ignores case and a trailing slash): a stream
  // counted would hold its slot for as long as it stays open.
  router.use(
    '/v1',
    loadSheddingMiddleware(maxInFlight, (path) => /^\/events\/?$/i.test(path)),
  );

  // The API's own description is public: mounted before authentication. Every route is documented in
  // openapi/operations.ts (test/openapi.test.ts fails on a route missing there).
  router.get('/v1/openapi.json', serveOpenApi);
  router.get('/v1/docs', serveApiReference);

  // Provider webhooks: before authentication and the JSON parser (the signature authenticates the raw body).
  const stripeHooks = options.providerWebhooks?.stripe;
  if (stripeHooks !== undefined) {
    router.post('/v1/webhooks/stripe', providerWebhookRoute(stripeHooks, WEBHOOK_BODY_LIMIT));
  }

  // Authentication before the body is read: an anonymous request costs no parsing.
  router.use('/v1', authenticationMiddleware(options.authenticate));
  if (options.rateLimits !== undefined) {
    router.use('/v1', rateLimitsMiddleware(options.rateLimits, actorOf));
  }
  router.use('/v1', express.json({ limit: options.bodyLimit ?? '100kb' }));

  const route =
    (handler: Handler): RequestHandler =>
    (req, res, next) => {
      let actor: Actor;
      try {
        actor = actorOf(req);
      } catch (e) {
        return next(e);
      }
      handler(req, res, actor).catch((e: unknown) => sendError(res, e));
    };

  router.post(
    '/v1/listings',
    route(async (req, res, actor) => {
      requireRole(actor, 'seller', 'create listings');
      const body = parseInput(createListingBody, req.body ?? {}, 'listing');
      const key = idempotencyKey(req, false);
      const listing = await market.listings.create({
        ...definedOnly(body),
        sellerId: actor.id,
        ...(key === undefined ? {} : { idempotencyKey: key }),
      });
      res.setHeader('ETag', etag(listing));
      sendResult(res, 201, listing);
    }),
  );
  router.get(
    '/v1/listings/:id',
    route(async (req, res) => {
      const id = param(req, 'id');
      const listing = await market.listings.get(id);
      if (listing === undefined) throw listingNotFound(id);
      res.setHeader('ETag', etag(listing));
      sendResult(res, 200, listing);
    }),
  );
  router.patch(
    '/v1/listings/:id',
    route(async (req, res, actor) => {
      const id = param(req, 'id');
      const expectedVersion = ifMatchVersion(req);
      const body = parseInput(updateListingBody, req.body ?? {}, 'listing update');
      // From the primary: compared with the version the client holds, which a replica may not have replayed yet.
      const current = await market.listings.get(id, { consistency: 'primary' });
      if (current === undefined) throw listingNotFound(id);
      if (actor.role !== 'operator' && !(actor.role === 'seller' && actor.id === current.sellerId)) {
        throw forbidden(actor, 'listings.update', 'Only the listing’s seller or an operator may edit it.');
      }
      if (current.version !== expectedVersion) return sendVersionMismatch(res, current);
      const key = idempotencyKey(req, false);
      try {
        const listing = await market.listings.update(id, {
          ...definedOnly(body),
          expectedVersion,
          ...(key === undefined ? {} : { idempotencyKey: key }),
        });
        res.setHeader('ETag', etag(listing));
        sendResult(res, 200, listing);
      } catch (e) {
        if (e instanceof MarketkitError && e.code === 'CONCURRENCY_CONFLICT') return sendVersionMismatch(res);
        throw e;
      }
    }),
  );

  router.post(
    '/v1/checkouts',
    route(async (req, res, actor) => {
      requireRole(actor, 'buyer', 'check out');
      const idempotencyKeyValue = idempotencyKey(req, true);
      const body = parseInput(checkoutBody, req.body ?? {}, 'checkout');
      const order = await market.orders.checkout({
        ...definedOnly(body),
        buyerId: actor.id,
        idempotencyKey: idempotencyKeyValue,
      });
      sendResult(res, 201, order);
    }),
  );
  router.get(
    '/v1/orders/:id',
    route(async (req, res, actor) => {
      sendResult(res, 200, await market.orders.get(param(req, 'id'), { actor }));
    }),
  );
  router.get(
    '/v1/orders/:id/history',
    route(async (req, res, actor) => {
      sendResult(res, 200, { events: await market.orders.history(param(req, 'id'), { actor }) });
    }),
  );
  router.post(
    '/v1/orders/:id/transitions/:name',
    route(async (req, res, actor) => {
      const body = parseInput(transitionBody, req.body ?? {}, 'transition');
      const key = idempotencyKey(req, false);
      const order = await market.orders.transition(param(req, 'id'), param(req, 'name'), {
        ...definedOnly(body),
        actor,
        ...(key === undefined ? {} : { idempotencyKey: key }),
      });
      sendResult(res, 200, order);
    }),
  );

  router.post(
    '/v1/payouts',
    route(async (req, res, actor) => {
      requireRole(actor, 'seller', 'request payouts');
      const key = idempotencyKey(req, true);
      const body = parseInput(payoutBody, req.body ?? {}, 'payout');
      const payout = await market.payouts.request({ ...definedOnly(body), sellerId: actor.id, idempotencyKey: key });
      sendResult(res, 201, payout);
    }),
  );
  router.put(
    '/v1/payouts/destination',
    route(async (req, res, actor) => {
      requireRole(actor, 'seller', 'set payout destinations');
      const body = parseInput(payoutDestinationBody, req.body ?? {}, 'payout destination');
      sendResult(res, 200, await market.payouts.setDestination({ ...body, sellerId: actor.id }));
    }),
  );
  router.get(
    '/v1/balances',
    route(async (req, res, actor) => {
      requireRole(actor, 'seller', 'read seller balances');
      const currency = parseInput(currencyQuery, req.query['currency'], 'currency query parameter');
      const account = await market.ledger.getAccount(escrowAccounts.seller(actor.id, currency));
      const posted = (account?.creditsPosted ?? 0n) - (account?.debitsPosted ?? 0n);
      const pending = account?.debitsPending ?? 0n;
      sendResult(res, 200, {
        sellerId: actor.id,
        currency,
        posted,
        pendingDebits: pending,
        available: posted - pending,
      });
    }),
  );

  if (live !== undefined) {
    const sse = new SseHandler(market, live);
    router.get(
      '/v1/events',
      route((req, res, actor) => sse.handle(req, res, actor)),
    );
  }

  router.get(
    '/v1/operator/sagas',
    route(async (req, res, actor) => {
      requireRole(actor, 'operator', 'list sagas');
      const status = req.query['status'] ?? 'failed';
      if (status !== 'failed') {
        throw validation(['status'], 'Only status=failed is listed.');
      }
      sendResult(res, 200, { sagas: await market.sagas.listFailed() });
    }),
  );
  router.post(
    '/v1/operator/sagas/:id/retry',
    route(async (req, res, actor) => {
      requireRole(actor, 'operator', 'retry sagas');
      sendResult(res, 200, await market.sagas.retry(param(req, 'id')));
    }),
  );
  router.post(
    '/v1/operator/sagas/:id/resolve',
    route(async (req, res, actor) => {
      requireRole(actor, 'operator', 'resolve sagas');
      const { note } = parseInput(resolveBody, req.body ?? {}, 'resolution');
      sendResult(res, 200, await market.sagas.resolve(param(req, 'id'), note));
    }),
  );

  router.use(bodyErrorHandler);
  return router;
}

const currencyQuery = z.string().regex(/^[A-Z]{3}$/, 'a three-letter ISO 4217 code, e.g. USD');

function validation(path: string[], message: string): MarketkitError {
  return new MarketkitError('VALIDATION_FAILED', { message, details: { issues: [{ path, message }] } });
}

function listingNotFound(id: string): MarketkitError {
  return new MarketkitError('NOT_FOUND', {
    message: 'The listing does not exist.',
    details: { resource: 'listing', id },
  });
}

function param(req: Request, name: string): string {
  const value = req.params[name];
  return typeof value === 'string' ? value : '';
}

/** The `Idempotency-Key` header; `required` answers 400 without it. */
function idempotencyKey(req: Request, required: true): string;
function idempotencyKey(req: Request, required: false): string | undefined;
function idempotencyKey(req: Request, required: boolean): string | undefined {
  const key = req.get('Idempotency-Key');
  if (key === undefined || key === '') {
    if (required) throw validation(['Idempotency-Key'], 'An Idempotency-Key header is required where money moves.');
    return undefined;
  }
  return key;
}

/**
 * A listing's entity tag: its version (what `If-Match` compares for an edit) and its stock counters, which move with
 * every sale or hold without bumping the version, so a conditional read never answers 304 with stale stock.
 */
function etag(listing: { readonly version: number; readonly sold: number; readonly reserved: number }): string {
  return `"${listing.version}.${listing.sold}.${listing.reserved}"`;
}

/**
 * The version named by `If-Match`: a listing's `ETag` (`"3.1.0"`) or its bare version (`"3"`), weak or strong; only
 * the version is compared (stock that moved since the read does not refuse an edit of the listing's fields). 428
 * without the header, 400 when it names no version.
 */
function ifMatchVersion(req: Request): number {
  const header = req.get('If-Match');
  if (header === undefined) {
    throw new ProblemError(problem('VALIDATION_FAILED', 'Editing a listing needs If-Match with its ETag.', {}, 428));
  }
  const match = /^\s*(?:W\/)?"(0|[1-9][0-9]{0,14})(?:\.(?:0|[1-9][0-9]{0,14})\.(?:0|[1-9][0-9]{0,14}))?"\s*$/.exec(
    header,
  );
  if (match?.[1] === undefined) throw validation(['If-Match'], 'If-Match must name one listing version, e.g. "3".');
  return Number(match[1]);
}

function sendVersionMismatch(
  res: Response,
  current?: { readonly version: number; readonly sold: number; readonly reserved: number },
): void {
  if (current !== undefined) res.setHeader('ETag', etag(current));
  sendProblem(
    res,
    problem('CONCURRENCY_CONFLICT', 'The listing was changed since that version; reload it and retry.', {}, 412),
  );
}
