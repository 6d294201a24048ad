import { type Selectable, sql } from 'kysely';
import type { Clock } from '../clock/clock.js';
import { MarketkitError } from '../errors/marketkit-error.js';
import { parseInput } from '../errors/validation-error.js';
import type { IdFactory } from '../ids/id-factory.js';
import { toNumber } from '../storage/int64.js';
import type { Storage } from '../storage/storage.js';
import { deliveryFromRow } from './webhook-delivery-store.js';
import { disabledEvent, type Emit, WebhookDispatcher } from './webhook-dispatcher.js';
import type { ResolvedWebhooksOptions } from './webhook-options.js';
import {
  type CreateWebhookEndpointInput,
  createEndpointSchema,
  idSchema,
  type ListWebhookDeliveriesInput,
  type ListWebhookEndpointsInput,
  listDeliveriesSchema,
  listEndpointsSchema,
  rotateSecretSchema,
  type UpdateWebhookEndpointInput,
  updateEndpointSchema,
} from './webhook-schemas.js';
import { generateWebhookSecret } from './webhook-signature.js';
import type { WebhookEndpointsTable } from './webhook-tables.js';
import { checkWebhookTarget } from './webhook-target-guard.js';
import type { WebhookDelivery, WebhookEndpoint, WebhookEndpointWithSecret } from './webhook-types.js';

/** What {@link Webhooks} is built from. @internal */
export interface WebhooksDeps {
  readonly storage: Storage;
  readonly clock: Clock;
  readonly ids: IdFactory;
  readonly options: ResolvedWebhooksOptions;
  readonly emit: Emit;
  /** Hears errors of deliveries the worker loop launched (a lost database connection while recording). */
  readonly onError: (error: unknown) => void;
}

function endpointFromRow(r: Selectable<WebhookEndpointsTable>): WebhookEndpoint {
  const n = (v: bigint | number | string | null) => (v === null ? null : toNumber(v));
  return {
    id: r.id,
    url: r.url,
    description: r.description,
    eventTypes: JSON.parse(r.event_types) as string[],
    sellerId: r.seller_id,
    status: r.status,
    disabledReason: r.disabled_reason as WebhookEndpoint['disabledReason'],
    failingSince: n(r.failing_since),
    previousSecretExpiresAt: n(r.previous_secret_expires_at),
    createdAt: toNumber(r.created_at),
    updatedAt: toNumber(r.updated_at),
  };
}

const notFound = (resource: 'webhookEndpoint' | 'webhookDelivery', id: string) =>
  new MarketkitError('NOT_FOUND', { message: `No ${resource} ${id}.`, details: { resource, id } });

/**
 * Outgoing webhooks: endpoints that receive the marketplace's events as signed JSON POSTs. Each committed event
 * becomes one delivery per matching enabled endpoint (made by the outbox relay); workers send due deliveries, retry
 * failures with backoff for about three days and disable an endpoint that keeps failing. `market.worker()` does all
 * of it; {@link Webhooks.deliverDue} runs one sending pass. See docs/webhooks.md.
 *
 * @example
 * ```ts
 * const { endpoint, secret } = await market.webhooks.create({
 *   url: 'https://shop.example/hooks/marketkit',
 *   eventTypes: ['order.*'],
 * });
 * // the receiver checks each POST with verifyWebhookSignature(rawBody, header, [secret])
 * ```
 */
export class Webhooks {
  readonly #d: WebhooksDeps;
  readonly #dispatcher: WebhookDispatcher;

  constructor(deps: WebhooksDeps) {
    this.#d = deps;
    this.#dispatcher = new WebhookDispatcher(deps.storage, deps.clock, deps.options, deps.emit, deps.onError);
  }

  /**
   * Creates an enabled endpoint and returns it with its signing secret, shown this once. The URL must be https
   * and on a public address (`WEBHOOK_TARGET_REFUSED`), unless `webhooks.allowPrivateTargets` is set. It receives
   * the events that commit from now on.
   *
   * @example
   * ```ts
   * const { endpoint, secret } = await market.webhooks.create({ url, eventTypes: ['*'], sellerId: 'seller_1' });
   * ```
   */
  async create(input: CreateWebhookEndpointInput): Promise<WebhookEndpointWithSecret> {
    const i = parseInput(createEndpointSchema, input, 'webhook endpoint');
    await checkWebhookTarget(i.url, this.#d.options.allowPrivateTargets);
    const now = this.#d.clock.now();
    const secret = generateWebhookSecret();
    const row = await this.#d.storage.run((db) =>
      db
        .insertInto('webhook_endpoints')
        .values({
          id: this.#d.ids('we'),
          url: i.url,
          description: i.description ?? null,
          event_types: JSON.stringify(i.eventTypes),
          seller_id: i.sellerId ?? null,
          status: 'enabled',
          secret,
          created_at: now,
          updated_at: now,
        })
        .returningAll()
        .executeTakeFirstOrThrow(),
    );
    return { endpoint: endpointFromRow(row), secret };
  }

  /**
   * The endpoints, oldest first, optionally of one seller or one status.
   *
   * @example
   * ```ts
   * const disabled = await market.webhooks.list({ status: 'disabled' });
   * ```
   */
  async list(filter: ListWebhookEndpointsInput = {}): Promise<WebhookEndpoint[]> {
    const f = parseInput(listEndpointsSchema, filter, 'webhook endpoint filter');
    const rows = await this.#d.storage.run((db) => {
      let q = db.selectFrom('webhook_endpoints').selectAll().orderBy('id');
      if (f.sellerId !== undefined) q = q.where('seller_id', '=', f.sellerId);
      if (f.status !== undefined) q = q.where('status', '=', f.status);
      return q.execute();
    });
    return rows.map(endpointFromRow);
  }

  /**
   * One endpoint; `NOT_FOUND` (resource `webhookEndpoint`) when there is none.
   *
   * @example
   * ```ts
   * const endpoint = await market.webhooks.get('we_01J…');
   * ```
   */
  async get(id: string): Promise<WebhookEndpoint> {
    return endpointFromRow(await this.#row(parseInput(idSchema, id, 'webhook endpoint id')));
  }

  /**
   * Changes the URL (checked as in `create`), the event types or the description.
   *
   * @example
   * ```ts
   * await market.webhooks.update(id, { eventTypes: ['order.completed'] });
   * ```
   */
  async update(id: string, patch: UpdateWebhookEndpointInput): Promise<WebhookEndpoint> {
    const key = parseInput(idSchema, id, 'webhook endpoint id');
    const p = parseInput(updateEndpointSchema, patch, 'webhook endpoint update');
    if (p.url !== undefined) await checkWebhookTarget(p.url, this.#d.options.allowPrivateTargets);
    const now = this.#d.clock.now();
    const row = await this.#d.storage.run((db) =>
      db
        .updateTable('webhook_endpoints')
        .set({
          ...(p.url === undefined ? {} : { url: p.url }),
          ...(p.eventTypes === undefined ? {} : { event_types: JSON.stringify(p.eventTypes) }),
          ...(p.description === undefined ? {} : { description: p.description }),
          updated_at: now,
        })
        .where('id', '=', key)
        .returningAll()
        .executeTakeFirst(),
    );
    if (row === undefined) throw notFound('webhookEndpoint', key);
    return endpointFromRow(row);
  }

  /**
   * Stops deliveries to an endpoint: events committed while it is disabled are not delivered to it, and its pending
   * deliveries wait. Writes a `webhook_endpoint.disabled` event (reason `manual`). Disabling a disabled endpoint
   * changes nothing.
   *
   * @example
   * ```ts
   * await market.webhooks.disable(id);
   * ```
   */
  async disable(id: string): Promise<WebhookEndpoint> {
    const key = parseInput(idSchema, id, 'webhook endpoint id');
    const now = this.#d.clock.now();
    await this.#d.storage.transaction(async (trx) => {
      const row = await trx
        .updateTable('webhook_endpoints')
        .set({ status: 'disabled', disabled_reason: 'manual', updated_at: now })
        .where('id', '=', key)
        .where('status', '=', 'enabled')
        .returning('id')
        .executeTakeFirst();
      if (row !== undefined) await this.#d.emit(trx, [disabledEvent(key, 'manual', now, null)]);
    });
    return this.get(key);
  }

  /**
   * Enables an endpoint again (and forgets its failures): its pending deliveries are sent, and it receives the
   * events that commit from now on.
   *
   * @example
   * ```ts
   * await market.webhooks.enable(id);
   * ```
   */
  async enable(id: string): Promise<WebhookEndpoint> {
    const key = parseInput(idSchema, id, 'webhook endpoint id');
    const now = this.#d.clock.now();
    await this.#d.storage.run((db) =>
      db
        .updateTable('webhook_endpoints')
        .set({ status: 'enabled', disabled_reason: null, failing_since: null, updated_at: now })
        .where('id', '=', key)
        .where('status', '=', 'disabled')
        .execute(),
    );
    return this.get(key);
  }

  /**
   * Replaces the signing secret and returns the new one (shown this once). For `overlapMs` the old secret still
   * signs: every delivery carries a `v1` signature under each, so receivers can switch at their pace. A second
   * rotation ends the first one's overlap.
   *
   * @example
   * ```ts
   * const { secret } = await market.webhooks.rotateSecret(id, { overlapMs: 24 * 3_600_000 });
   * ```
   */
  async rotateSecret(id: string, options: { readonly overlapMs: number }): Promise<WebhookEndpointWithSecret> {
    const key = parseInput(idSchema, id, 'webhook endpoint id');
    const { overlapMs } = parseInput(rotateSecretSchema, options, 'secret rotation');
    const now = this.#d.clock.now();
    const secret = generateWebhookSecret();
    // One statement: `secret` on the right is the value before the update, in PostgreSQL and SQLite alike.
    const row = await this.#d.storage.autocommit((db) =>
      db
        .updateTable('webhook_endpoints')
        .set({
          secret,
          previous_secret: overlapMs > 0 ? sql.ref<string>('secret') : null,
          previous_secret_expires_at: overlapMs > 0 ? now + overlapMs : null,
          updated_at: now,
        })
        .where('id', '=', key)
        .returningAll()
        .executeTakeFirst(),
    );
    if (row === undefined) throw notFound('webhookEndpoint', key);
    return { endpoint: endpointFromRow(row), secret };
  }

  /**
   * Sends again: given a delivery id, that delivery; given an event id, every delivery of that event. Each becomes
   * pending and due now, whatever its status (a succeeded one is sent once more; receivers deduplicate by
   * `Marketkit-Event-Id`). Its retry window stays the original one: an old delivery that fails again is failed.
   * `NOT_FOUND` (resource `webhookDelivery`) when the id matches no delivery.
   *
   * @example
   * ```ts
   * await market.webhooks.redeliver('wd_01J…');
   * ```
   */
  async redeliver(deliveryOrEventId: string): Promise<WebhookDelivery[]> {
    const key = parseInput(idSchema, deliveryOrEventId, 'delivery or event id');
    const now = this.#d.clock.now();
    const rows = await this.#d.storage.run((db) =>
      db
        .updateTable('webhook_deliveries')
        .set({ status: 'pending', next_attempt_at: now, updated_at: now })
        .where((eb) => eb.or([eb('id', '=', key), eb('event_id', '=', key)]))
        // A delivery being sent now keeps its claim (its next_attempt_at is the claim's expiry, in the future).
        .where((eb) => eb.or([eb('status', '!=', 'pending'), eb('next_attempt_at', '<=', BigInt(now))]))
        .returningAll()
        .execute(),
    );
    if (rows.length === 0) {
      const known = await this.listDeliveries({ eventId: key, limit: 1 });
      if (known.length === 0) await this.getDelivery(key);
    }
    return rows.map(deliveryFromRow);
  }

  /**
   * Deliveries, newest first, with status, attempts and last error; filter by endpoint, event or status, and page
   * with `after` (the last id of the previous page).
   *
   * @example
   * ```ts
   * const failed = await market.webhooks.listDeliveries({ endpointId, status: 'failed', limit: 50 });
   * ```
   */
  async listDeliveries(filter: ListWebhookDeliveriesInput = {}): Promise<WebhookDelivery[]> {
    const f = parseInput(listDeliveriesSchema, filter, 'webhook delivery filter');
    const rows = await this.#d.storage.run((db) => {
      let q = db.selectFrom('webhook_deliveries').selectAll().orderBy('id', 'desc').limit(f.limit);
      if (f.endpointId !== undefined) q = q.where('endpoint_id', '=', f.endpointId);
      if (f.eventId !== undefined) q = q.where('event_id', '=', f.eventId);
      if (f.status !== undefined) q = q.where('status', '=', f.status);
      if (f.after !== undefined) q = q.where('id', '<', f.after);
      return q.execute();
    });
    return rows.map(deliveryFromRow);
  }

  /**
   * One delivery; `NOT_FOUND` (resource `webhookDelivery`) when there is none.
   *
   * @example
   * ```ts
   * const d = await market.webhooks.getDelivery('wd_01J…');
   * ```
   */
  async getDelivery(id: string): Promise<WebhookDelivery> {
    const key = parseInput(idSchema, id, 'webhook delivery id');
    const row = await this.#d.storage.run((db) =>
      db.selectFrom('webhook_deliveries').selectAll().where('id', '=', key).executeTakeFirst(),
    );
    if (row === undefined) throw notFound('webhookDelivery', key);
    return deliveryFromRow(row);
  }

  /**
   * One sending pass: claims up to `batchSize` due deliveries of enabled endpoints, POSTs them at once and records
   * each outcome. Resolves to how many were attempted. `market.worker()` calls it in a loop; call it yourself in
   * tests or a cron host (after `market.events.runOnce()`, which makes the deliveries).
   *
   * @example
   * ```ts
   * await market.events.runOnce();
   * await market.webhooks.deliverDue();
   * ```
   */
  deliverDue(): Promise<number> {
    return this.#dispatcher.deliverDue();
  }

  /**
   * The worker's poller: keeps up to `batchSize` deliveries in flight, each recorded as its answer comes (a stalled
   * receiver holds one slot, not the others); `drain` waits for them (the worker's `stop` calls it).
   * @internal
   */
  readonly poller = {
    name: 'webhooks',
    runOnce: (): Promise<number> => this.#dispatcher.feed(),
    drain: (): Promise<void> => this.#dispatcher.drain(),
  };

  /** Waits for deliveries in flight, then closes idle keep-alive connections to receivers (`market.close()` calls it). */
  async close(): Promise<void> {
    await this.#dispatcher.drain();
    this.#dispatcher.close();
  }

  async #row(id: string): Promise<Selectable<WebhookEndpointsTable>> {
    const row = await this.#d.storage.run((db) =>
      db.selectFrom('webhook_endpoints').selectAll().where('id', '=', id).executeTakeFirst(),
    );
    if (row === undefined) throw notFound('webhookEndpoint', id);
    return row;
  }
}
