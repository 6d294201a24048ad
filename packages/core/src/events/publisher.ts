import type { EventSink } from './event-sink.js';
import type { OutboxEvent } from './event-types.js';

/**
 * The port to a message broker. `@marketkit/adapters/nats` has a JetStream implementation
 * (`jetStreamPublisher`).
 *
 * Contract:
 * - `publish` MUST resolve only once the broker confirmed (persisted) every event of the batch, and reject
 *   otherwise; the relay then publishes the whole batch again later.
 * - Events of one aggregate MUST reach the broker in the order given (do not publish `sequence` n + 1 before
 *   n is confirmed); events of different aggregates may go in parallel.
 * - Every message carries the event `id` as its message id, so the broker (or the consumer) drops the copies
 *   that retries produce.
 *
 * @example
 * ```ts
 * const stdoutPublisher: Publisher = {
 *   async publish(events) { for (const e of events) process.stdout.write(`${JSON.stringify(e)}\n`); },
 * };
 * ```
 */
export interface Publisher {
  /** Publishes a batch to the broker; resolves once the broker accepted every event, throws to have it retried. */
  publish(events: readonly OutboxEvent[]): Promise<void>;
}

/**
 * Makes a {@link Publisher} an {@link EventSink} for the relay.
 *
 * @example
 * ```ts
 * const relay = new OutboxRelay(storage, { sinks: [publisherSink(jetStreamPublisher({ jetstream: nc.jetstream() }))] });
 * ```
 */
export function publisherSink(publisher: Publisher, name = 'publisher'): EventSink {
  return Object.freeze({ name, deliver: (events: readonly OutboxEvent[]) => publisher.publish(events) });
}
