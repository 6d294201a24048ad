/**
 * `@marketkit/express`: Marketkit's HTTP API as an Express router — actors from a verified JWT (or the host's own
 * authentication), `Idempotency-Key`, ETags on listings, RFC 9457 problem documents.
 * @packageDocumentation
 * @module @marketkit/express
 */
export type { Authenticate } from './actor-source.js';
export { type OperatorConsoleOptions, operatorConsole } from './console/operator-console.js';
export { type JwtAuthenticatorOptions, jwtAuthenticator } from './jwt-authenticator.js';
export { DEFAULT_MAX_IN_FLIGHT } from './limits/load-shedding.js';
export type { RateLimit, RateLimiterLike, RateLimitsOptions, RouteClass } from './limits/rate-limits.js';
export type { ReadinessOptions, ReadinessReport } from './limits/readiness.js';
export type { LiveEventsOptions } from './live/live-events-options.js';
export { attachLiveWebSocket, type LiveWebSocket } from './live/live-websocket.js';
export { LIVE_WEBSOCKET_CLOSE_CODES } from './live/live-websocket-close-codes.js';
export type { LiveWebSocketOptions } from './live/live-websocket-options.js';
export type { OrderEventsWake } from './live/order-event-hub.js';
export { type PgListenClient, pgNotifyWake } from './live/pg-notify-wake.js';
export type { MetricsRouteOptions } from './metrics-route.js';
export { type OpenApiDocument, type OpenApiDocumentOptions, openApiDocument } from './openapi/openapi-document.js';
export { HTTP_STATUS_BY_CODE, type Problem, problemFor } from './problem.js';
export { type MarketkitRouterOptions, marketkitRouter } from './router.js';
export type { VerifiedTokenCacheOptions } from './verified-token-cache.js';
