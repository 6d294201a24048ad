/**
 * An event as the publisher sends it: the shape of `OutboxEvent` from `@marketkit/core`, declared here so the
 * adapter needs no runtime import from core.
 *
 * @example
 * ```ts
 * const e: PublishableEvent = { id: '01J…', type: 'order.paid', aggregateType: 'order', aggregateId: 'o1',
 *   sequence: 1, partition: 3, payload: { amount: '1250' }, createdAt: Date.now() };
 * ```
 */
export interface PublishableEvent {
  readonly id: string;
  readonly type: string;
  readonly aggregateType: string;
  readonly aggregateId: string;
  readonly sequence: number;
  readonly partition: number;
  readonly payload: unknown;
  readonly createdAt: number;
}

/**
 * The acknowledgement JetStream returns for a stored message.
 *
 * @example
 * ```ts
 * const ack: JetStreamAck = await nc.jetstream().publish('marketkit.events.order.order.paid', body, { msgID: id });
 * if (ack.duplicate) console.log('already stored as', ack.seq);
 * ```
 */
export interface JetStreamAck {
  readonly stream: string;
  readonly seq: number;
  /** True when the stream already held a message with this `msgID` (within its duplicate window). */
  readonly duplicate: boolean;
}

/**
 * The one method of a `nats` `JetStreamClient` the publisher calls, typed structurally so `nats` stays an optional
 * peer dependency. Pass `nc.jetstream()`.
 *
 * @example
 * ```ts
 * import { connect } from 'nats';
 * const nc = await connect({ servers: '127.0.0.1:4222' });
 * const client: JetStreamPublishClient = nc.jetstream();
 * ```
 */
export interface JetStreamPublishClient {
  /** Publishes one message; `msgID` makes JetStream drop a duplicate within its window. */
  publish(
    subject: string,
    payload?: Uint8Array,
    options?: { msgID?: string; timeout?: number; expect?: { streamName?: string } },
  ): Promise<JetStreamAck>;
}

/**
 * Options of {@link jetStreamPublisher}.
 *
 * @example
 * ```ts
 * const config: JetStreamPublisherConfig = { jetstream: nc.jetstream(), subjectPrefix: 'shop.events', streamName: 'SHOP' };
 * ```
 */
export interface JetStreamPublisherConfig {
  readonly jetstream: JetStreamPublishClient;
  /**
   * Start of every subject; the default subject is `<prefix>.<aggregateType>.<type>`, with characters NATS does not
   * allow in a subject token replaced by `_`. Default `marketkit.events`.
   */
  readonly subjectPrefix?: string;
  /** Picks the subject of an event instead of the default. */
  readonly subject?: (event: PublishableEvent) => string;
  /** The stream that must store the messages (`expect.streamName`): a message that lands elsewhere fails. */
  readonly streamName?: string;
  /** How long to wait for each acknowledgement, in ms. Default 5000. */
  readonly ackTimeoutMs?: number;
}
