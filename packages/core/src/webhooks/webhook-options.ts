import { z } from 'zod';
import { DEFAULT_RETRY_SCHEDULE, type RetrySchedule } from './webhook-retry-schedule.js';

const DAY = 86_400_000;

/**
 * Options of the webhooks module (`createMarketplace({ webhooks })`).
 *
 * @example
 * ```ts
 * const webhooks: WebhooksOptions = { timeoutMs: 5_000, disableAfterMs: 86_400_000 };
 * ```
 */
export interface WebhooksOptions {
  /**
   * Allow endpoints on private, loopback and link-local addresses (and plain http to a loopback host). Default
   * false: such a URL is refused when created, and a host that resolves to one at delivery time is not connected to.
   */
  readonly allowPrivateTargets?: boolean;
  /** How long one attempt may take, connect to last byte, in ms (100 to 60 000). Default 10 000. */
  readonly timeoutMs?: number;
  /** Retry schedule of failed deliveries (see {@link RetrySchedule}). Default 1 min base, 6 h cap, 3 days. */
  readonly retry?: Partial<RetrySchedule>;
  /** An endpoint failing continuously for this long (ms, no success in between) is disabled. Default 3 days. */
  readonly disableAfterMs?: number;
  /** Most deliveries one pass claims and sends at once (1 to 1000). Default 32. */
  readonly batchSize?: number;
}

/** @internal */
export const webhooksOptionsSchema = z.strictObject({
  allowPrivateTargets: z.boolean().default(false),
  timeoutMs: z.number().int().min(100).max(60_000).default(10_000),
  retry: z
    .strictObject({
      baseMs: z.number().int().min(1).max(DAY).optional(),
      maxDelayMs: z
        .number()
        .int()
        .min(1)
        .max(30 * DAY)
        .optional(),
      windowMs: z
        .number()
        .int()
        .min(0)
        .max(90 * DAY)
        .optional(),
    })
    .default({}),
  disableAfterMs: z
    .number()
    .int()
    .min(1)
    .max(365 * DAY)
    .default(3 * DAY),
  batchSize: z.number().int().min(1).max(1000).default(32),
});

/** The options with every default filled in. @internal */
export interface ResolvedWebhooksOptions {
  readonly allowPrivateTargets: boolean;
  readonly timeoutMs: number;
  readonly retry: RetrySchedule;
  readonly disableAfterMs: number;
  readonly batchSize: number;
  /** How long a claim lasts: the timeout and a margin, so a live sender never loses its claim. */
  readonly leaseMs: number;
}

/** Fills in the defaults of parsed options. @internal */
export function resolveWebhooksOptions(o: z.output<typeof webhooksOptionsSchema>): ResolvedWebhooksOptions {
  const d = DEFAULT_RETRY_SCHEDULE;
  const retry: RetrySchedule = {
    baseMs: o.retry.baseMs ?? d.baseMs,
    maxDelayMs: o.retry.maxDelayMs ?? d.maxDelayMs,
    windowMs: o.retry.windowMs ?? d.windowMs,
  };
  return Object.freeze({ ...o, retry, leaseMs: o.timeoutMs * 2 + 30_000 });
}
