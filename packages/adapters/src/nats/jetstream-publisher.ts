import type { JetStreamAck, JetStreamPublisherConfig, PublishableEvent } from './jetstream-publisher-config.js';

/**
 * What {@link jetStreamPublisher} returns: a `Publisher` of `@marketkit/core`.
 *
 * @example
 * ```ts
 * const publisher: JetStreamPublisher = jetStreamPublisher({ jetstream: nc.jetstream() });
 * await publisher.publish(events); // resolves once every event is acknowledged
 * ```
 */
export interface JetStreamPublisher {
  /**
   * Publishes every event and resolves once JetStream acknowledged each one (stored, or recognised as a duplicate
   * of a message already stored); rejects if any was not acknowledged. Events of one aggregate are published one
   * after the other, each after the previous one's acknowledgement; different aggregates in parallel.
   */
  publish(events: readonly PublishableEvent[]): Promise<void>;
}

const encoder = new TextEncoder();

/**
 * A `Publisher` to NATS JetStream. Each event becomes one message whose body is the event as JSON
 * (`{ id, type, aggregateType, aggregateId, sequence, partition, createdAt, payload }`) and whose JetStream
 * `msgID` is the event id, so the stream drops the copies a relay's retries publish within its duplicate
 * window; consumers deduplicate by `id` beyond it.
 *
 * Per-aggregate order holds in the stream: the next event of an aggregate is published only after the previous
 * one was acknowledged, so a failed publish can never let a later event overtake it.
 *
 * @example
 * ```ts
 * import { connect } from 'nats';
 * import { jetStreamPublisher } from '@marketkit/adapters/nats';
 *
 * const nc = await connect({ servers: '127.0.0.1:4222' });
 * await (await nc.jetstreamManager()).streams.add({ name: 'MARKETKIT', subjects: ['marketkit.events.>'] });
 * const market = createMarketplace({ adapter, events: { publishers: [jetStreamPublisher({ jetstream: nc.jetstream() })] } });
 * ```
 */
export function jetStreamPublisher(config: JetStreamPublisherConfig): JetStreamPublisher {
  const prefix = config.subjectPrefix ?? 'marketkit.events';
  const subjectOf = config.subject ?? ((e: PublishableEvent) => `${prefix}.${token(e.aggregateType)}.${token(e.type)}`);
  const options = {
    timeout: config.ackTimeoutMs ?? 5000,
    ...(config.streamName === undefined ? {} : { expect: { streamName: config.streamName } }),
  };
  const publishOne = (e: PublishableEvent): Promise<JetStreamAck> =>
    config.jetstream.publish(subjectOf(e), encoder.encode(JSON.stringify(envelope(e))), { ...options, msgID: e.id });

  return Object.freeze({
    async publish(events: readonly PublishableEvent[]): Promise<void> {
      const chains = [...byAggregate(events).values()].map(async (chain) => {
        for (const e of chain) await publishOne(e);
      });
      const results = await Promise.allSettled(chains);
      const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
      if (failed !== undefined) {
        const reason = failed.reason instanceof Error ? failed.reason.message : String(failed.reason);
        throw new Error(`JetStream did not acknowledge every event: ${reason}`, { cause: failed.reason });
      }
    },
  });
}

function envelope(e: PublishableEvent) {
  return {
    id: e.id,
    type: e.type,
    aggregateType: e.aggregateType,
    aggregateId: e.aggregateId,
    sequence: e.sequence,
    partition: e.partition,
    createdAt: e.createdAt,
    payload: e.payload,
  };
}

function byAggregate(events: readonly PublishableEvent[]): Map<string, PublishableEvent[]> {
  const chains = new Map<string, PublishableEvent[]>();
  for (const e of events) {
    const key = `${e.aggregateType}\u0000${e.aggregateId}`;
    const chain = chains.get(key);
    if (chain === undefined) chains.set(key, [e]);
    else chain.push(e);
  }
  return chains;
}

/**
 * Makes a string safe as part of a NATS subject: whitespace, `*`, `>` and other characters outside
 * `[A-Za-z0-9_.-]` become `_`, and empty tokens (leading, trailing or doubled dots) become `_`.
 */
function token(text: string): string {
  return text
    .replace(/[^A-Za-z0-9_.-]/g, '_')
    .split('.')
    .map((t) => (t === '' ? '_' : t))
    .join('.');
}
