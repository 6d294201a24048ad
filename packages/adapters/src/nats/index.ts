export { type JetStreamPublisher, jetStreamPublisher } from './jetstream-publisher.js';
export type {
  JetStreamAck,
  JetStreamPublishClient,
  JetStreamPublisherConfig,
  PublishableEvent,
} from './jetstream-publisher-config.js';
