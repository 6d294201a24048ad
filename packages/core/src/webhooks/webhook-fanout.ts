import type { Insertable } from 'kysely';
import type { Clock } from '../clock/clock.js';
import type { EventSink } from '../events/event-sink.js';
import type { OutboxEvent } from '../events/event-types.js';
import type { IdFactory } from '../ids/id-factory.js';
import { chunks } from '../storage/chunks.js';
import type { Storage } from '../storage/storage.js';
import { eventTypeMatches } from './event-type-match.js';
import type { WebhookDeliveriesTable } from './webhook-tables.js';

/** Delivery rows inserted per statement. */
const INSERT_CHUNK = 200;

/** The JSON body POSTed for an event: `{ id, type, createdAt, data }`. @internal */
export function webhookBody(e: OutboxEvent): string {
  return JSON.stringify({ id: e.id, type: e.type, createdAt: new Date(e.createdAt).toISOString(), data: e.payload });
}

interface EndpointTarget {
  readonly id: string;
  readonly eventTypes: readonly string[];
  readonly sellerId: string | null;
}

/**
 * The outbox sink that turns events into deliveries: for each event, one `webhook_deliveries` row per enabled
 * endpoint whose event types match it (and, for a per-seller endpoint, whose seller sold the order), due at once.
 * The relay hands it every committed event at least once; the unique `(event_id, endpoint_id)` index and
 * `ON CONFLICT DO NOTHING` make that exactly one delivery per event and endpoint. An endpoint created (or enabled)
 * after an event was fanned out does not receive that event.
 * @internal
 */
export class WebhookFanout implements EventSink {
  readonly name = 'webhooks';
  readonly #storage: Storage;
  readonly #clock: Clock;
  readonly #ids: IdFactory;

  constructor(storage: Storage, clock: Clock, ids: IdFactory) {
    this.#storage = storage;
    this.#clock = clock;
    this.#ids = ids;
  }

  async deliver(events: readonly OutboxEvent[]): Promise<void> {
    if (events.length === 0) return;
    const endpoints = await this.#endpoints();
    if (endpoints.length === 0) return;
    const sellers = await this.#sellersOf(events, endpoints);
    const now = this.#clock.now();
    const rows: Insertable<WebhookDeliveriesTable>[] = [];
    for (const e of events) {
      let body: string | undefined;
      for (const ep of endpoints) {
        if (!eventTypeMatches(ep.eventTypes, e.type)) continue;
        if (ep.sellerId !== null && !(e.aggregateType === 'order' && sellers.get(e.aggregateId) === ep.sellerId)) {
          continue;
        }
        body ??= webhookBody(e);
        rows.push({
          id: this.#ids('wd'),
          endpoint_id: ep.id,
          event_id: e.id,
          event_type: e.type,
          aggregate_type: e.aggregateType,
          aggregate_id: e.aggregateId,
          body,
          status: 'pending',
          next_attempt_at: now,
          created_at: now,
          updated_at: now,
        });
      }
    }
    for (const chunk of chunks(rows, INSERT_CHUNK)) {
      await this.#storage.autocommit((db) =>
        db
          .insertInto('webhook_deliveries')
          .values(chunk)
          .onConflict((oc) => oc.columns(['event_id', 'endpoint_id']).doNothing())
          .execute(),
      );
    }
  }

  async #endpoints(): Promise<EndpointTarget[]> {
    const rows = await this.#storage.run((db) =>
      db
        .selectFrom('webhook_endpoints')
        .select(['id', 'event_types', 'seller_id'])
        .where('status', '=', 'enabled')
        .orderBy('id')
        .execute(),
    );
    return rows.map((r) => ({ id: r.id, eventTypes: JSON.parse(r.event_types) as string[], sellerId: r.seller_id }));
  }

  /** The seller of each order among the events, when a per-seller endpoint needs it. */
  async #sellersOf(events: readonly OutboxEvent[], endpoints: readonly EndpointTarget[]): Promise<Map<string, string>> {
    const sellers = new Map<string, string>();
    if (!endpoints.some((ep) => ep.sellerId !== null)) return sellers;
    const orderIds = [...new Set(events.filter((e) => e.aggregateType === 'order').map((e) => e.aggregateId))];
    for (const ids of chunks(orderIds, INSERT_CHUNK)) {
      const rows = await this.#storage.run((db) =>
        db.selectFrom('orders').select(['id', 'seller_id']).where('id', 'in', ids).execute(),
      );
      for (const r of rows) sellers.set(r.id, r.seller_id);
    }
    return sellers;
  }
}
