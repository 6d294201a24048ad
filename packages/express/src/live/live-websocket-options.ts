import { parseInput } from '@marketkit/core';
import { z } from 'zod';
import type { Authenticate } from '../actor-source.js';
import {
  type LiveEventsOptions,
  type ResolvedLiveEventsOptions,
  resolveLiveEventsOptions,
} from './live-events-options.js';

/** Options of {@link attachLiveWebSocket}. */
export interface LiveWebSocketOptions {
  /** The URL path that upgrades to the live WebSocket, e.g. `/api/v1/live` (other paths are left to others). */
  readonly path: string;
  /** Who connects: the router's own `authenticate` (e.g. {@link jwtAuthenticator}); see {@link attachLiveWebSocket}. */
  readonly authenticate: Authenticate;
  /** The same options as the router's `GET /v1/events`: wake-ups, polling, heartbeats, the per-client byte bound. */
  readonly liveEvents?: LiveEventsOptions;
  /** How long a connection without an `Authorization` header may take to send its auth message. Default 10000 ms. */
  readonly authTimeoutMs?: number;
}

/** {@link LiveWebSocketOptions} with their defaults. @internal */
export interface ResolvedLiveWebSocketOptions {
  readonly path: string;
  readonly authenticate: Authenticate;
  readonly live: ResolvedLiveEventsOptions;
  readonly authTimeoutMs: number;
}

const schema = z.strictObject({
  path: z.string().regex(/^\/[^?#\s]*$/, 'a URL path such as /api/v1/live'),
  authenticate: z.custom<Authenticate>((v) => typeof v === 'function', 'a function'),
  liveEvents: z.unknown().optional(),
  authTimeoutMs: z.number().int().min(1).max(600_000).optional(),
});

/** Validates the options and fills in the defaults; a bad option throws `VALIDATION_FAILED`. @internal */
export function resolveWebSocketOptions(options: LiveWebSocketOptions): ResolvedLiveWebSocketOptions {
  const o = parseInput(schema, options, 'attachLiveWebSocket options');
  return Object.freeze({
    path: o.path,
    authenticate: o.authenticate,
    live: resolveLiveEventsOptions(options.liveEvents),
    authTimeoutMs: o.authTimeoutMs ?? 10_000,
  });
}
