import type { RequestHandler } from 'express';
import { requireRole } from './actor-roles.js';
import type { Authenticate } from './actor-source.js';
import { actorOf, authenticationMiddleware } from './authentication.js';
import { sendError } from './http-answers.js';

/**
 * The registry `GET /metrics` serves: a prom-client `Registry` (the one given to `createMarketplace({ metrics })`),
 * typed by the two members the route uses, so `@marketkit/express` does not depend on prom-client.
 *
 * @example
 * ```ts
 * const registry = new Registry();
 * const market = createMarketplace({ adapter, metrics: { registry } });
 * app.use(marketkitRouter(market, { authenticate, metrics: { registry } }));
 * ```
 */
export interface MetricsRouteOptions {
  readonly registry: {
    /** The media type of what `metrics()` returns (Prometheus's text format). */
    readonly contentType: string;
    /** Every metric of the registry, collected now, in that format. */
    metrics(): Promise<string>;
  };
}

/**
 * `GET /metrics`: the registry in Prometheus's text format, for an operator only, as every operator route (401
 * `UNAUTHENTICATED` without an actor, 403 `FORBIDDEN` for another role). Give the scraper an operator's token.
 */
export function metricsRoute(authenticate: Authenticate, options: MetricsRouteOptions): RequestHandler[] {
  const serve: RequestHandler = (req, res) => {
    Promise.resolve()
      .then(async () => {
        requireRole(actorOf(req), 'operator', 'read metrics');
        const body = await options.registry.metrics();
        res.status(200).type(options.registry.contentType).send(body);
      })
      .catch((error: unknown) => sendError(res, error));
  };
  return [authenticationMiddleware(authenticate), serve];
}
