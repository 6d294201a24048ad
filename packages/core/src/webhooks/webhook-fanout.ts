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
    const { endpoints, sellers } = await this.#targets(events);
    if (endpoints.length === 0) return;
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

  /**
   * The enabled endpoints that may want some of `events`: every endpoint without a seller, and the per-seller
   * endpoints of the sellers of the batch's orders (looked up through `orders`, so thousands of seller endpoints
   * cost nothing for a batch that does not concern them); and the seller of each of those orders.
   */
  async #targets(
    events: readonly OutboxEvent[],
  ): Promise<{ endpoints: EndpointTarget[]; sellers: Map<string, string> }> {
    const toTarget = (r: { id: string; event_types: string; seller_id: string | null }): EndpointTarget => ({
      id: r.id,
      eventTypes: JSON.parse(r.event_types) as string[],
      sellerId: r.seller_id,
    });
    const shared = await this.#storage.run((db) =>
      db
        .selectFrom('webhook_endpoints')
        .select(['id', 'event_types', 'seller_id'])
        .where('status', '=', 'enabled')
        .where('seller_id', 'is', null)
        .orderBy('id')
        .execute(),
    );
    const endpoints = shared.map(toTarget);
    const sellers = new Map<string, string>();
    const orderIds = [...new Set(events.filter((e) => e.aggregateType === 'order').map((e) => e.aggregateId))];
    for (const ids of chunks(orderIds, INSERT_CHUNK)) {
      const orders = await this.#storage.run((db) =>
        db
          .selectFrom('orders as o')
          .innerJoin('webhook_endpoints as e', 'e.seller_id', 'o.seller_id')
          .select(['o.id as order_id', 'o.seller_id', 'e.id', 'e.event_types', 'e.status'])
          .where('o.id', 'in', ids)
          .where('e.status', '=', 'enabled')
          .execute(),
      );
      const seen = new Set(endpoints.map((e) => e.id));
      for (const r of orders) {
        sellers.set(r.order_id, r.seller_id);
        if (seen.has(r.id)) continue;
        seen.add(r.id);
        endpoints.push(toTarget({ id: r.id, event_types: r.event_types, seller_id: r.seller_id }));
      }
    }
    return { endpoints, sellers };
  }
}
