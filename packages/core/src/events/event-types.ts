/**
 * A JSON value, as a payload comes back from the outbox.
 *
 * @example
 * ```ts
 * const v: JsonValue = { amount: '1250', tags: ['gift'], paid: true };
 * ```
 */
export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };

/**
 * A JSON object: the shape of every delivered payload unless an {@link EventMap} says more.
 *
 * @example
 * ```ts
 * listeners.onAny((e: OutboxEvent<JsonObject>) => console.log(e.payload['orderId']));
 * ```
 */
export type JsonObject = { [key: string]: JsonValue };

/**
 * What a payload looks like once it went through the outbox as JSON: `bigint` and `Date` become strings,
 * everything else keeps its shape.
 *
 * @example
 * ```ts
 * type Paid = Jsonified<{ orderId: string; amount: bigint }>; // { orderId: string; amount: string }
 * ```
 */
export type Jsonified<T> = T extends bigint | Date
  ? string
  : T extends readonly (infer U)[]
    ? Jsonified<U>[]
    : T extends object
      ? { [K in keyof T]: Jsonified<T[K]> }
      : T;

/**
 * Declares a host's event types: each event type maps to its payload as written (bigints allowed). Used to type
 * `on(type, handler)` and {@link EventInputOf}.
 *
 * @example
 * ```ts
 * interface ShopEvents {
 *   'order.paid': { orderId: string; amount: bigint; currency: string };
 *   'order.shipped': { orderId: string; carrier: string };
 * }
 * ```
 */
export type EventMap = Record<string, object>;

/**
 * A domain event to write: what happened (`type`), to which aggregate, and a JSON-safe object payload
 * (`bigint` values are written as decimal strings).
 *
 * @example
 * ```ts
 * const event: OutboxEventInput = {
 *   type: 'order.paid',
 *   aggregateType: 'order',
 *   aggregateId: 'ord_1',
 *   payload: { amount: 1250n, currency: 'USD' },
 * };
 * ```
 */
export interface OutboxEventInput<T extends string = string, P extends object = object> {
  readonly type: T;
  readonly aggregateType: string;
  readonly aggregateId: string;
  readonly payload: P;
}

/**
 * The union of event inputs an {@link EventMap} allows, to type-check events before `appendEvents`.
 *
 * @example
 * ```ts
 * const e: EventInputOf<ShopEvents> = { type: 'order.shipped', aggregateType: 'order', aggregateId: 'o1', payload: { orderId: 'o1', carrier: 'ups' } };
 * ```
 */
export type EventInputOf<M> = { [K in keyof M & string]: OutboxEventInput<K, M[K] & object> }[keyof M & string];

/**
 * What `appendEvents` wrote for one input event, in input order.
 *
 * @example
 * ```ts
 * const [written] = await appendEvents(trx, [event]);
 * console.log(written.id, written.sequence); // '01J…', 1
 * ```
 */
export interface AppendedEvent {
  /** ULID; unique, for consumers to deduplicate redeliveries. */
  readonly id: string;
  readonly type: string;
  readonly aggregateType: string;
  readonly aggregateId: string;
  /** 1, 2, 3… per aggregate, without gaps, in commit order. */
  readonly sequence: number;
  /** The outbox partition of the aggregate, `0 ≤ partition < OUTBOX_PARTITIONS`. */
  readonly partition: number;
}

/**
 * A committed event as a sink receives it. Delivery is at least once: deduplicate by `id` (or by aggregate and
 * `sequence`). Events of one aggregate arrive in `sequence` order.
 *
 * @example
 * ```ts
 * market.events.on('order.paid', (e: OutboxEvent<{ orderId: string }>) => console.log(e.sequence, e.payload.orderId));
 * ```
 */
export interface OutboxEvent<P = JsonObject> extends AppendedEvent {
  readonly payload: P;
  /** When it was written, in ms since the epoch, by the writer's clock (informational: order uses `sequence`). */
  readonly createdAt: number;
  /**
   * The W3C `traceparent` of the span that wrote the event, when the writer traced (OpenTelemetry): a publisher may
   * pass it on (a message header) so consumers continue the trace. Absent otherwise.
   */
  readonly traceContext?: string;
}

/**
 * What `market.events.backlog()` answers: the outbox events no sink has yet, for an operator's view of a worker
 * that lags.
 *
 * @example
 * ```ts
 * const backlog: OutboxBacklog = await market.events.backlog({ cap: 1000 });
 * ```
 */
export interface OutboxBacklog {
  /** Events not yet delivered to every sink, counted up to the cap. */
  readonly undelivered: number;
  /** Whether the count stopped at the cap (there may be more). */
  readonly capped: boolean;
  /** How long the oldest undelivered event has waited, in ms; `null` when none waits. */
  readonly oldestAgeMs: number | null;
}
