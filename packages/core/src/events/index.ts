export { type AppendEventsOptions, appendEvents } from './append-events.js';
export { type EventHandler, EventListeners } from './event-listeners.js';
export type { EventSink } from './event-sink.js';
export type {
  AppendedEvent,
  EventInputOf,
  EventMap,
  Jsonified,
  JsonObject,
  JsonValue,
  OutboxBacklog,
  OutboxEvent,
  OutboxEventInput,
} from './event-types.js';
export { type EventsOptions, MarketEvents } from './market-events.js';
export { OUTBOX_LIMITS, OUTBOX_PARTITIONS } from './outbox-limits.js';
export { OutboxRelay } from './outbox-relay.js';
export { partitionOf } from './partition-of.js';
export { type Publisher, publisherSink } from './publisher.js';
export type { OutboxRelayOptions, RelayBackoffOptions, RelayErrorInfo } from './relay-options.js';
