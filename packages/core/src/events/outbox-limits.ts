import { JSON_INPUT_LIMITS } from '../storage/json-input.js';

/**
 * Number of outbox partitions. An aggregate's events always land in the same partition (a stable hash of its
 * type and id), and one relay at a time holds a partition, so this is also the most relays that can drain in
 * parallel. Fixed: the `0002-outbox` migration creates one lease row per partition.
 *
 * @example
 * ```ts
 * partitionOf('order', 'ord_1') < OUTBOX_PARTITIONS; // true
 * ```
 */
export const OUTBOX_PARTITIONS = 16;

/**
 * Every limit of the outbox, checked at the boundary (`VALIDATION_FAILED` past one).
 *
 * @example
 * ```ts
 * if (events.length > OUTBOX_LIMITS.maxEventsPerAppend) splitIntoSeveralTransactions(events);
 * ```
 */
export const OUTBOX_LIMITS = Object.freeze({
  /** Most events in one `appendEvents` call. */
  maxEventsPerAppend: 10_000,
  /** Longest event type, in characters. */
  maxTypeLength: 200,
  /** Longest aggregate type, in characters. */
  maxAggregateTypeLength: 100,
  /** Longest aggregate id, in characters. */
  maxAggregateIdLength: 200,
  /** Largest payload, in characters of its JSON text: `JSON_INPUT_LIMITS.maxLength`, as for saga inputs and job payloads. */
  maxPayloadLength: JSON_INPUT_LIMITS.maxLength,
  /** Largest relay batch (events read from one partition at a time). */
  maxBatchSize: 5000,
});
