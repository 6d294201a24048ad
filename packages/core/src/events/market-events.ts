import type { Clock } from '../clock/clock.js';
import { traceFields } from '../logging/correlation.js';
import { consoleLogger, errorFields, type Logger } from '../logging/logger.js';
import { parseRowLimit } from '../storage/row-limit.js';
import type { MarketkitTransaction, Storage } from '../storage/storage.js';
import type { StorageAdapter } from '../storage/storage-adapter.js';
import { appendEvents, appendEventsStatements } from './append-events.js';
import { EventListeners } from './event-listeners.js';
import type { EventSink } from './event-sink.js';
import type { AppendedEvent, JsonObject, OutboxBacklog, OutboxEventInput } from './event-types.js';
import { OutboxRelay } from './outbox-relay.js';
import { type Publisher, publisherSink } from './publisher.js';
import type { OutboxRelayOptions, RelayErrorInfo } from './relay-options.js';

/**
 * Options of the events module of a marketplace (`createMarketplace({ events })`).
 *
 * @example
 * ```ts
 * const events: EventsOptions = { publishers: [jetStreamPublisher({ jetstream: nc.jetstream() })], relay: { batchSize: 200 } };
 * ```
 */
export interface EventsOptions {
  /** Brokers to publish every event to, after the in-process listeners. */
  readonly publishers?: readonly Publisher[];
  /** Further sinks (webhooks, …), after the publishers. */
  readonly sinks?: readonly EventSink[];
  /** Relay tuning; `sinks` and `clock` come from the marketplace. */
  readonly relay?: Omit<OutboxRelayOptions, 'sinks' | 'clock'>;
}

/**
 * The events module of one marketplace: typed in-process listeners, the relay that drains the outbox to them and
 * to the configured publishers, and `append` to write events in a transaction.
 *
 * @example
 * ```ts
 * market.events.on('transfer.created', (e) => console.log(e.payload));
 * market.events.start(); // or let `market.worker()` call `runOnce()`
 * ```
 */
export class MarketEvents<M extends object = Record<string, JsonObject>> {
  readonly listeners: EventListeners<M>;
  readonly relay: OutboxRelay;
  readonly #clock: Clock;
  readonly #backend: StorageAdapter;
  readonly #storage: Storage;

  /**
   * `logger` hears the relay's errors when `options.relay.onError` is not given (see {@link Logger}). `coreSinks` run
   * first, before the listeners: the marketplace's own sinks (the webhook fan-out), which a failing listener or
   * broker must not hold back.
   */
  constructor(
    storage: Storage,
    clock: Clock,
    options: EventsOptions = {},
    logger: Logger = consoleLogger,
    coreSinks: readonly EventSink[] = [],
  ) {
    this.#clock = clock;
    this.#backend = storage.adapter;
    this.#storage = storage;
    this.listeners = new EventListeners<M>();
    const sinks: EventSink[] = [
      ...coreSinks,
      this.listeners,
      ...(options.publishers ?? []).map((p, i) => publisherSink(p, `publisher-${i}`)),
      ...(options.sinks ?? []),
    ];
    const onError = options.relay?.onError ?? logRelayErrors(logger);
    this.relay = new OutboxRelay(storage, { ...options.relay, sinks, clock, onError });
  }

  /** See {@link EventListeners.on}. */
  readonly on: EventListeners<M>['on'] = (type, handler) => this.listeners.on(type, handler);
  /** See {@link EventListeners.onAny}. */
  readonly onAny: EventListeners<M>['onAny'] = (handler) => this.listeners.onAny(handler);

  /** Writes events in `trx` with the marketplace's clock; see {@link appendEvents}. */
  append(trx: MarketkitTransaction, events: readonly OutboxEventInput[]): Promise<AppendedEvent[]> {
    return appendEvents(trx, events, {
      clock: this.#clock,
      backend: this.#backend,
      templates: this.#storage.templates,
    });
  }

  /**
   * Writes events in `trx` with its commit, for a caller that does not need their sequence numbers: as
   * {@link MarketEvents.append}, they commit exactly when the transaction does, with the same ids, per-aggregate
   * sequence numbers and order (taken when the write runs, in the order of the calls), but on PostgreSQL the write
   * is queued and sent together with the COMMIT, a round trip fewer per transaction (two fewer on a pool in
   * pipeline mode, where it shares the COMMIT's round trip). Until the commit, the transaction does not see the
   * events, and the aggregates' counter rows are locked only from then on. A failing write (a deadlock, a
   * serialization failure) fails the transaction with its own error, so `market`'s transactions rerun it as any
   * other. On SQLite it writes at once, as `append` does. Validates now: malformed events throw `VALIDATION_FAILED`
   * here, before anything is queued. Only inside a transaction of this marketplace (`trx` as its hooks and steps
   * receive it).
   *
   * @example
   * ```ts
   * // A saga's local step: the event commits with the step's writes and progress.
   * const mark = {
   *   name: 'mark-shipped',
   *   kind: 'local',
   *   run: async ({ trx, input }) => {
   *     await market.events.appendOnCommit(trx, [
   *       { type: 'order.shipped', aggregateType: 'order', aggregateId: input.orderId, payload: { carrier: 'dhl' } },
   *     ]);
   *   },
   * } as const;
   * ```
   */
  async appendOnCommit(trx: MarketkitTransaction, events: readonly OutboxEventInput[]): Promise<void> {
    if (!this.#storage.queuesCommitWrites || !this.#backend.capabilities.writableCtes) {
      await this.append(trx, events);
      return;
    }
    const statements = appendEventsStatements(trx, events, {
      clock: this.#clock,
      backend: this.#backend,
      templates: this.#storage.templates,
    });
    for (const query of statements) await this.#storage.onCommit(trx, { query });
  }

  /**
   * How long the oldest event not yet delivered to every sink has waited, in milliseconds of the marketplace's
   * clock; `undefined` when nothing waits. A growing figure means no worker drains the outbox, or a sink keeps
   * failing: a readiness probe's measure of worker lag.
   *
   * @example
   * ```ts
   * if (((await market.events.oldestUndeliveredAgeMs()) ?? 0) > 60_000) alert('the outbox is not draining');
   * ```
   */
  async oldestUndeliveredAgeMs(): Promise<number | undefined> {
    const row = await this.#storage.run((db) =>
      db
        .selectFrom('outbox_events')
        .select((eb) => eb.fn.min('created_at').as('oldest'))
        .where('delivered_at', 'is', null)
        .executeTakeFirst(),
    );
    const oldest = row?.oldest;
    if (oldest === null || oldest === undefined) return undefined;
    return Math.max(0, this.#clock.now() - Number(oldest));
  }

  /**
   * The outbox's backlog: how many events wait for a sink (counted up to `cap`, 1 to 1,000,000, default 10,000;
   * `capped` when there are at least that many) and how long the oldest has waited (`oldestAgeMs`, `null` when none
   * waits), in ms of the marketplace's clock, as {@link MarketEvents.oldestUndeliveredAgeMs}. Reads the partial index
   * of undelivered events only.
   *
   * @example
   * ```ts
   * const { undelivered, capped, oldestAgeMs } = await market.events.backlog();
   * console.info(`${undelivered}${capped ? '+' : ''} events waiting, oldest ${oldestAgeMs ?? 0} ms`);
   * ```
   */
  async backlog(options: { readonly cap?: number } = {}): Promise<OutboxBacklog> {
    const cap = parseRowLimit(options.cap === undefined ? 10_000 : options.cap, 1_000_000, 'backlog cap');
    const row = await this.#storage.run((db) =>
      db
        .selectFrom((eb) =>
          eb.selectFrom('outbox_events').select('id').where('delivered_at', 'is', null).limit(cap).as('w'),
        )
        .select((eb) => eb.fn.countAll().as('n'))
        .executeTakeFirst(),
    );
    const undelivered = Number(row?.n ?? 0);
    const oldestAgeMs = undelivered === 0 ? null : ((await this.oldestUndeliveredAgeMs()) ?? null);
    return { undelivered, capped: undelivered >= cap, oldestAgeMs };
  }

  /** See {@link OutboxRelay.runOnce}. */
  runOnce(): Promise<number> {
    return this.relay.runOnce();
  }

  /** See {@link OutboxRelay.start}. */
  start(): void {
    this.relay.start();
  }

  /** See {@link OutboxRelay.stop}. */
  stop(): Promise<void> {
    return this.relay.stop();
  }
}

/** The relay's default `onError`: a failed delivery (retried with backoff) as a warning, a failed loop as an error. */
function logRelayErrors(logger: Logger): (error: unknown, info: RelayErrorInfo) => void {
  return (error, info) => {
    if (info.sink === undefined)
      logger.error({ ...info, ...traceFields(), ...errorFields(error) }, 'outbox relay: a run failed');
    else
      logger.warn(
        { ...info, ...traceFields(), ...errorFields(error) },
        'outbox relay: a delivery failed; retried with backoff',
      );
  };
}
