import { z } from 'zod';
import type { Clock } from '../clock/clock.js';
import { storableText } from '../errors/storable-text.js';
import type { EventSink } from './event-sink.js';
import { OUTBOX_LIMITS, OUTBOX_PARTITIONS } from './outbox-limits.js';

/**
 * What the relay reports to `onError`: which partition and sink failed, and how often in a row.
 *
 * @example
 * ```ts
 * const onError = (e: unknown, info: RelayErrorInfo) => log.warn({ err: e, ...info }, 'outbox delivery failed');
 * ```
 */
export interface RelayErrorInfo {
  /** The partition being drained, when the error belongs to one. */
  readonly partition?: number;
  /** The sink that failed, for a delivery failure. */
  readonly sink?: string;
  /** Consecutive failed deliveries of the partition, this one included. */
  readonly attempts?: number;
  /** When the partition will be tried again (ms since the epoch, relay's clock), after a delivery failure. */
  readonly retryAt?: number;
}

/**
 * Exponential backoff of a partition whose sink fails: `min(maxMs, baseMs × 2^(attempts-1))`, jittered.
 *
 * @example
 * ```ts
 * const backoff: RelayBackoffOptions = { baseMs: 1000, maxMs: 5 * 60_000 }; // 1 s, 2 s, 4 s … 5 min
 * ```
 */
export interface RelayBackoffOptions {
  /** Delay after the first failure. Default 500 ms. */
  readonly baseMs?: number;
  /** Longest delay. Default 60 s. */
  readonly maxMs?: number;
  /** Draw each delay uniformly from [delay/2, delay] so failing relays do not retry in step. Default true. */
  readonly jitter?: boolean;
}

/**
 * Options of {@link OutboxRelay}.
 *
 * @example
 * ```ts
 * const options: OutboxRelayOptions = { sinks: [listeners], batchSize: 500, leaseMs: 30_000 };
 * ```
 */
export interface OutboxRelayOptions {
  /** Where events go, in this order; all must accept a batch before it counts as delivered. */
  readonly sinks: readonly EventSink[];
  /** Source of lease expiry, backoff and `delivered_at` times. Default: the system clock. */
  readonly clock?: Clock;
  /** Lease owner name, for operators (`outbox_partitions.owner`). Default: a random `relay-…`. */
  readonly owner?: string;
  /** Most events read from one partition per claim. Default 500, at most `OUTBOX_LIMITS.maxBatchSize`. */
  readonly batchSize?: number;
  /** Most partitions one `runOnce` claims and drains in parallel. Default 4, at most `OUTBOX_PARTITIONS`. */
  readonly partitionsPerRun?: number;
  /**
   * How long a claim is exclusive. Longer than the slowest delivery of a batch: past it another relay may take the
   * partition over and deliver again (the fencing token then stops this relay from marking). Default 30 s.
   */
  readonly leaseMs?: number;
  readonly backoff?: RelayBackoffOptions;
  /** Idle wait of the `start()` loop between polls that found nothing. Default 100 ms. */
  readonly pollIntervalMs?: number;
  /**
   * How long delivered events are kept (counted from when they were written) before the sweep deletes them. Default
   * 7 days. `0` keeps none: each batch is deleted as it is marked delivered, in the same statement, which is cheaper
   * than marking it and sweeping it later (the drain writes no new row versions).
   */
  readonly retentionMs?: number;
  /** How often the `start()` loop sweeps delivered events; 0 never. Default 60 s. */
  readonly sweepIntervalMs?: number;
  /** Told about sink failures (then retried with backoff) and errors of the `start()` loop. Default: none. */
  readonly onError?: (error: unknown, info: RelayErrorInfo) => void;
}

const positiveMs = z
  .number()
  .int()
  .min(1)
  .max(2 ** 31 - 1);

/** Validates {@link OutboxRelayOptions} and fills the defaults. @internal */
export const relayOptionsSchema = z.object({
  sinks: z
    .array(
      z.custom<EventSink>(
        (v) => typeof (v as EventSink | undefined)?.deliver === 'function' && typeof (v as EventSink).name === 'string',
        'must be an EventSink ({ name, deliver })',
      ),
    )
    .min(1),
  clock: z.custom<Clock>((v) => typeof (v as Clock | undefined)?.now === 'function', 'must have now()').optional(),
  owner: storableText().min(1).max(200).optional(),
  batchSize: z.number().int().min(1).max(OUTBOX_LIMITS.maxBatchSize).default(500),
  partitionsPerRun: z.number().int().min(1).max(OUTBOX_PARTITIONS).default(4),
  leaseMs: positiveMs.default(30_000),
  backoff: z
    .object({
      baseMs: positiveMs.default(500),
      maxMs: positiveMs.default(60_000),
      jitter: z.boolean().default(true),
    })
    .default({ baseMs: 500, maxMs: 60_000, jitter: true }),
  pollIntervalMs: positiveMs.default(100),
  retentionMs: z
    .number()
    .int()
    .min(0)
    .default(7 * 24 * 3600 * 1000),
  sweepIntervalMs: z
    .number()
    .int()
    .min(0)
    .max(2 ** 31 - 1)
    .default(60_000),
  onError: z.custom<(error: unknown, info: RelayErrorInfo) => void>((v) => typeof v === 'function').optional(),
});

/** Options after validation and defaults. @internal */
export type ResolvedRelayOptions = z.output<typeof relayOptionsSchema>;

/** The delay before a partition's next attempt after its `attempts`-th consecutive failure. @internal */
export function backoffDelay(options: ResolvedRelayOptions['backoff'], attempts: number): number {
  const exponent = Math.min(Math.max(attempts - 1, 0), 30);
  const delay = Math.min(options.maxMs, options.baseMs * 2 ** exponent);
  return options.jitter ? Math.ceil(delay / 2 + (Math.random() * delay) / 2) : delay;
}
