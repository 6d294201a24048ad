import { EventEmitter } from 'eventemitter3';
import type { EventSink } from './event-sink.js';
import type { Jsonified, JsonObject, OutboxEvent } from './event-types.js';

/**
 * A listener of committed events. It may be async: the relay waits for it before the next event. A listener that
 * throws (or rejects) fails the batch, which is delivered again after a backoff, to every listener: make
 * listeners idempotent (deduplicate by `event.id`).
 *
 * @example
 * ```ts
 * const handler: EventHandler<{ orderId: string }> = async (e) => { await mailer.sendReceipt(e.payload.orderId); };
 * ```
 */
export type EventHandler<P = JsonObject> = (event: OutboxEvent<P>) => void | Promise<void>;

type Listener = (event: OutboxEvent) => void | Promise<void>;
type Channels = Record<string | symbol, [OutboxEvent]>;

const ANY = Symbol('any event');

/**
 * In-process, typed listeners of committed events: an {@link EventSink} that the relay calls, so listeners run
 * only after the transaction that wrote an event committed, never for a rolled-back one, and see each aggregate's
 * events in `sequence` order. Built on eventemitter3.
 *
 * With several processes, each event is delivered once (at least) to the listeners of whichever process's relay
 * drained it, not broadcast to all: register the same listeners in every process that runs a relay.
 *
 * @example
 * ```ts
 * interface ShopEvents { 'order.paid': { orderId: string; amount: bigint } }
 * const listeners = new EventListeners<ShopEvents>();
 * const off = listeners.on('order.paid', (e) => console.log(e.payload.amount)); // amount: string (was bigint)
 * const relay = new OutboxRelay(storage, { sinks: [listeners] });
 * off();
 * ```
 */
export class EventListeners<M extends object = Record<string, JsonObject>> implements EventSink {
  readonly name: string;
  readonly #emitter = new EventEmitter<Channels>();

  constructor(name = 'listeners') {
    this.name = name;
  }

  /** Calls `handler` for every committed event of `type`. Returns a function that removes it. */
  on<K extends keyof M & string>(type: K, handler: EventHandler<Jsonified<M[K]>>): () => void {
    const fn = handler as unknown as Listener;
    this.#emitter.on(type, fn);
    return () => {
      this.#emitter.off(type, fn);
    };
  }

  /** Calls `handler` for every committed event, whatever its type, after the typed listeners of that event. */
  onAny(handler: EventHandler): () => void {
    const fn = handler as Listener;
    this.#emitter.on(ANY, fn);
    return () => {
      this.#emitter.off(ANY, fn);
    };
  }

  /** Number of listeners of `type`, or of all types when omitted (counting `onAny` listeners once). */
  listenerCount(type?: keyof M & string): number {
    if (type !== undefined) return this.#emitter.listenerCount(type);
    return this.#emitter.eventNames().reduce((n, name) => n + this.#emitter.listenerCount(name), 0);
  }

  /** Removes every listener. */
  clear(): void {
    this.#emitter.removeAllListeners();
  }

  /** Runs the listeners of each event in batch order, awaiting async ones. Called by the relay. */
  async deliver(events: readonly OutboxEvent[]): Promise<void> {
    const anyListeners = this.#emitter.listeners(ANY);
    for (const event of events) {
      for (const fn of this.#emitter.listeners(event.type)) {
        const result: unknown = fn(event);
        if (isThenable(result)) await result; // synchronous listeners cost no microtask
      }
      for (const fn of anyListeners) {
        const result: unknown = fn(event);
        if (isThenable(result)) await result;
      }
    }
  }
}

function isThenable(value: unknown): value is PromiseLike<unknown> {
  return typeof (value as PromiseLike<unknown> | undefined)?.then === 'function';
}
