/**
 * `@marketkit/adapters/nats`: A broker publisher for NATS JetStream: `jetStreamPublisher({ jetstream })` is a `Publisher` for the outbox relay.
 * @packageDocumentation
 * @module @marketkit/adapters/nats
 */
export { type JetStreamPublisher, jetStreamPublisher } from './jetstream-publisher.js';
export type {
  JetStreamAck,
  JetStreamPublishClient,
  JetStreamPublisherConfig,
  PublishableEvent,
} from './jetstream-publisher-config.js';
