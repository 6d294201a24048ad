import type { OutboxEvent } from './event-types.js';

/**
 * Where the relay delivers committed events. The port every sink fills in: in-process listeners
 * ({@link EventListeners}), a broker through {@link publisherSink}, a webhook caller.
 *
 * Contract:
 * - `deliver` receives a batch from one partition; the events of each aggregate in it are in `sequence` order
 *   and MUST be handled in that order.
 * - Resolving means every event of the batch was handled (or durably handed on). Rejecting means the relay
 *   treats none as delivered: the whole batch comes again after a backoff, so a sink MUST tolerate events it
 *   has seen (deduplicate by `id`).
 * - The same event can also come twice when a relay loses its lease mid-delivery; never more often out of
 *   order: the first delivery of `sequence` n of an aggregate always precedes the first of n + 1.
 *
 * @example
 * ```ts
 * const logSink: EventSink = {
 *   name: 'log',
 *   async deliver(events) { for (const e of events) console.log(e.type, e.aggregateId, e.sequence); },
 * };
 * ```
 */
export interface EventSink {
  /** A short name, recorded with failures (`last_error`) and reported to `onError`. */
  readonly name: string;
  /** Delivers a batch, in order per aggregate; throwing makes the relay retry the batch later (at least once). */
  deliver(events: readonly OutboxEvent[]): Promise<void>;
}
