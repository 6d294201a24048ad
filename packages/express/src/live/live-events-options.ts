import { parseInput } from '@marketkit/core';
import { z } from 'zod';
import type { OrderEventsWake } from './order-event-hub.js';

/** Options of the live order-event stream, `GET /v1/events` (`marketkitRouter`'s `liveEvents`). */
export interface LiveEventsOptions {
  /**
   * Wake-ups when order events commit in any process, e.g. {@link pgNotifyWake} on PostgreSQL. Without one the
   * stream polls every `pollIntervalMs`.
   */
  readonly wake?: OrderEventsWake;
  /** How often the process reads new events without a wake-up. Default 250 ms, or 5000 ms with `wake`. */
  readonly pollIntervalMs?: number;
  /** How often an idle stream sends a comment line, so proxies and clients see it alive. Default 15000 ms. */
  readonly heartbeatMs?: number;
  /**
   * Most bytes waiting to be sent to one client; a client that reads slower than its events arrive is disconnected
   * past it (it resumes with `Last-Event-ID`). Default 1 MiB.
   */
  readonly maxBufferedBytes?: number;
  /** Events read per database round trip. Default 200. */
  readonly pageSize?: number;
  /** The reconnection delay sent to clients (`retry:`), in ms. Default 2000. */
  readonly retryMs?: number;
}

/** The options with their defaults. @internal */
export interface ResolvedLiveEventsOptions {
  readonly wake: OrderEventsWake | undefined;
  readonly pollIntervalMs: number;
  readonly heartbeatMs: number;
  readonly maxBufferedBytes: number;
  readonly pageSize: number;
  readonly retryMs: number;
}

const ms = (max: number) => z.number().int().min(1).max(max);

const liveEventsOptionsSchema = z.strictObject({
  wake: z.custom<OrderEventsWake>((v) => typeof v === 'function', 'a function').optional(),
  pollIntervalMs: ms(60_000).optional(),
  heartbeatMs: ms(3_600_000).optional(),
  maxBufferedBytes: z
    .number()
    .int()
    .min(1024)
    .max(1 << 30)
    .optional(),
  pageSize: z.number().int().min(1).max(1000).optional(),
  retryMs: ms(3_600_000).optional(),
});

/** Validates the options and fills in the defaults; a bad option throws `VALIDATION_FAILED`. @internal */
export function resolveLiveEventsOptions(options: LiveEventsOptions | undefined): ResolvedLiveEventsOptions {
  const o = parseInput(liveEventsOptionsSchema, options ?? {}, 'liveEvents options');
  return Object.freeze({
    wake: o.wake,
    pollIntervalMs: o.pollIntervalMs ?? (o.wake === undefined ? 250 : 5000),
    heartbeatMs: o.heartbeatMs ?? 15_000,
    maxBufferedBytes: o.maxBufferedBytes ?? 1 << 20,
    pageSize: o.pageSize ?? 200,
    retryMs: o.retryMs ?? 2000,
  });
}
