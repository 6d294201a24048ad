import { type Kysely, type Selectable, sql } from 'kysely';
import type { Clock } from '../clock/clock.js';
import type { OutboxEventInput } from '../events/event-types.js';
import type { MarketkitDatabase } from '../schema/database.js';
import { toNumber } from '../storage/int64.js';
import type { MarketkitTransaction, Storage } from '../storage/storage.js';
import { type ClaimedDelivery, claimDueDeliveries, readEndpoints, storedError } from './webhook-delivery-store.js';
import type { ResolvedWebhooksOptions } from './webhook-options.js';
import { nextAttemptAt } from './webhook-retry-schedule.js';
import { type SendResult, WebhookSender } from './webhook-sender.js';
import { signWebhookBody, WEBHOOK_EVENT_ID_HEADER, WEBHOOK_SIGNATURE_HEADER } from './webhook-signature.js';
import type { WebhookEndpointsTable } from './webhook-tables.js';

/** Writes events in a transaction (the marketplace's outbox). @internal */
export type Emit = (trx: MarketkitTransaction, events: readonly OutboxEventInput[]) => Promise<void>;

/** One attempt's result, with whether its endpoint was failing when the delivery was claimed. */
interface Outcome {
  readonly claim: ClaimedDelivery;
  readonly result: SendResult;
  readonly failing: boolean;
}

/** The secrets that sign now: the current one, and the previous one during a rotation's overlap. @internal */
export function activeSecrets(ep: Selectable<WebhookEndpointsTable>, now: number): string[] {
  const until = ep.previous_secret_expires_at;
  const previous = ep.previous_secret !== null && until !== null && toNumber(until) > now ? [ep.previous_secret] : [];
  return [ep.secret, ...previous];
}

/**
 * Sends due deliveries: claims a batch, POSTs each signed body, and records each outcome under the claim's fence
 * (a worker that lost its claim records nothing). A failure schedules the next attempt ({@link nextAttemptAt}) or
 * gives up; an endpoint with no success for `disableAfterMs` is disabled, with a `webhook_endpoint.disabled` event,
 * in the transaction that records the failure.
 * @internal
 */
export class WebhookDispatcher {
  readonly #storage: Storage;
  readonly #clock: Clock;
  readonly #options: ResolvedWebhooksOptions;
  readonly #emit: Emit;
  readonly #sender: WebhookSender;
  readonly #onError: (error: unknown) => void;
  /** Deliveries `feed` launched that are not recorded yet. */
  readonly #inFlight = new Set<Promise<void>>();
  /** Successes waiting for the next group write, and whether one is under way. */
  readonly #succeeded: { outcome: Outcome; done: (error?: unknown) => void }[] = [];
  #writing = false;

  constructor(
    storage: Storage,
    clock: Clock,
    options: ResolvedWebhooksOptions,
    emit: Emit,
    onError: (error: unknown) => void,
  ) {
    this.#storage = storage;
    this.#clock = clock;
    this.#options = options;
    this.#emit = emit;
    this.#onError = onError;
    this.#sender = new WebhookSender(options.timeoutMs, options.allowPrivateTargets);
  }

  /** One pass: claims up to `batchSize` due deliveries and sends them at once. Resolves to how many it attempted. */
  async deliverDue(): Promise<number> {
    const { leaseMs, batchSize } = this.#options;
    const claimed = await claimDueDeliveries(this.#storage, this.#clock.now(), leaseMs, batchSize);
    if (claimed.length === 0) return 0;
    const endpoints = await readEndpoints(this.#storage, [...new Set(claimed.map((c) => c.endpointId))]);
    const outcomes = await Promise.all(claimed.map((c) => this.#attempt(c, endpoints.get(c.endpointId))));
    const sent = outcomes.filter((o) => o !== undefined);
    // Successes are recorded together (one transaction per pass); each failure in its own, with its schedule.
    await this.#recordSuccesses(sent.filter((o) => o.result.ok));
    for (const o of sent) if (!o.result.ok) await this.#recordFailure(o.claim, o.result);
    return sent.length;
  }

  /**
   * The worker loop's step: keeps up to `batchSize` deliveries in flight across calls, each recorded as soon as its
   * answer comes, so a receiver that stalls until the timeout holds the slots of its own deliveries, not a whole
   * pass (the others go on while it holds fewer than half the slots). Claims what there is room for and resolves to
   * how many it launched; when more than half the slots are taken, waits for one and resolves to 1 (work is under
   * way), so each claim serves several deliveries. Errors of launched deliveries go to `onError`; {@link drain} waits
   * for them.
   */
  async feed(): Promise<number> {
    const free = this.#options.batchSize - this.#inFlight.size;
    // Claim when at least half the slots are free (or none is taken): a claim and its endpoint read serve many.
    if (this.#inFlight.size > 0 && free < Math.ceil(this.#options.batchSize / 2)) {
      await Promise.race(this.#inFlight);
      return 1;
    }
    const claimed = await claimDueDeliveries(this.#storage, this.#clock.now(), this.#options.leaseMs, free);
    if (claimed.length === 0) return 0;
    const endpoints = await readEndpoints(this.#storage, [...new Set(claimed.map((c) => c.endpointId))]);
    for (const c of claimed) this.#track(this.#launch(c, endpoints.get(c.endpointId)));
    return claimed.length;
  }

  /** Waits until every delivery {@link feed} launched is recorded. */
  async drain(): Promise<void> {
    while (this.#inFlight.size > 0) await Promise.all([...this.#inFlight]);
  }

  #track(task: Promise<void>): void {
    const tracked: Promise<void> = task
      .catch((error: unknown) => {
        try {
          this.#onError(error);
        } catch {
          // A throwing error handler must not stop deliveries.
        }
      })
      .finally(() => this.#inFlight.delete(tracked));
    this.#inFlight.add(tracked);
  }

  async #launch(c: ClaimedDelivery, ep: Selectable<WebhookEndpointsTable> | undefined): Promise<void> {
    const outcome = await this.#attempt(c, ep);
    if (outcome === undefined) return;
    if (outcome.result.ok) await this.#groupSuccess(outcome);
    else await this.#recordFailure(c, outcome.result);
  }

  /**
   * Records a success with the others that arrive meanwhile (group commit): while one write is under way the next
   * successes gather, and the write after it records them all in one statement.
   */
  #groupSuccess(outcome: Outcome): Promise<void> {
    return new Promise((resolve, reject) => {
      this.#succeeded.push({ outcome, done: (error) => (error === undefined ? resolve() : reject(error)) });
      if (!this.#writing) void this.#writeSuccesses();
    });
  }

  async #writeSuccesses(): Promise<void> {
    this.#writing = true;
    while (this.#succeeded.length > 0) {
      const group = this.#succeeded.splice(0);
      const error = await this.#recordSuccesses(group.map((g) => g.outcome)).then(
        () => undefined,
        (e: unknown) => e ?? new Error('recording deliveries failed'),
      );
      for (const g of group) g.done(error);
    }
    this.#writing = false;
  }

  /** Sends one claimed delivery; `undefined` (and the claim given back) when its endpoint was disabled meanwhile. */
  async #attempt(c: ClaimedDelivery, ep: Selectable<WebhookEndpointsTable> | undefined): Promise<Outcome | undefined> {
    if (ep === undefined || ep.status !== 'enabled') {
      await this.#release(c);
      return undefined;
    }
    return { claim: c, result: await this.#observedSend(c, ep), failing: ep.failing_since !== null };
  }

  /** {@link #send} in a `marketkit.webhook.delivery` span (ids, attempt, status code), timed as `webhook_delivery`. */
  #observedSend(c: ClaimedDelivery, ep: Selectable<WebhookEndpointsTable>): Promise<SendResult> {
    const obs = this.#storage.observability;
    if (obs.off) return this.#send(c, ep);
    const attributes = () => ({
      'marketkit.delivery_id': c.id,
      'marketkit.endpoint_id': c.endpointId,
      'marketkit.event_id': c.eventId,
      'marketkit.attempt': c.attempts + 1,
    });
    return obs.observe('webhook_delivery', 'marketkit.webhook.delivery', attributes, async (span) => {
      const result = await this.#send(c, ep);
      if (result.statusCode != null) span?.setAttribute('marketkit.http.status_code', result.statusCode);
      obs.metrics?.webhookDelivery(result.ok ? 'delivered' : 'failed');
      return result;
    });
  }

  /** Closes idle connections to receivers. */
  close(): void {
    this.#sender.close();
  }

  #send(c: ClaimedDelivery, ep: Selectable<WebhookEndpointsTable>): Promise<SendResult> {
    const now = this.#clock.now();
    const signature = signWebhookBody(c.body, activeSecrets(ep, now), Math.floor(now / 1000));
    return this.#sender.send({
      url: ep.url,
      body: c.body,
      headers: {
        'content-type': 'application/json',
        'user-agent': 'Marketkit-Webhooks/1',
        [WEBHOOK_SIGNATURE_HEADER]: signature,
        [WEBHOOK_EVENT_ID_HEADER]: c.eventId,
      },
    });
  }

  /** Gives a claim back unsent (its endpoint was disabled meanwhile). */
  async #release(c: ClaimedDelivery): Promise<void> {
    const now = this.#clock.now();
    await this.#storage.autocommit((db) =>
      db
        .updateTable('webhook_deliveries')
        .set({ next_attempt_at: now, updated_at: now })
        .where('id', '=', c.id)
        .where('fence', '=', c.fence)
        .execute(),
    );
  }

  async #recordSuccesses(done: readonly Outcome[]): Promise<void> {
    if (done.length === 0) return;
    const now = this.#clock.now();
    const byStatus = new Map<number | null, ClaimedDelivery[]>();
    for (const d of done) byStatus.set(d.result.statusCode, [...(byStatus.get(d.result.statusCode) ?? []), d.claim]);
    // Endpoints that were failing when claimed: a success ends that (`failing_since` back to null).
    const recovered = [...new Set(done.filter((d) => d.failing).map((d) => d.claim.endpointId))];
    const record = async (db: Kysely<MarketkitDatabase>) => {
      for (const [status, claims] of byStatus) {
        await db
          .updateTable('webhook_deliveries')
          .set({
            status: 'succeeded',
            attempts: sql`attempts + 1`,
            next_attempt_at: null,
            last_status_code: status,
            last_error: null,
            last_attempt_at: now,
            delivered_at: now,
            updated_at: now,
          })
          // Only under the claim's fence: a worker that lost its claim records nothing.
          .where((eb) => eb.or(claims.map((c) => eb.and([eb('id', '=', c.id), eb('fence', '=', c.fence)]))))
          .execute();
      }
      if (recovered.length > 0) await this.#healthy(db, recovered);
    };
    // The common case is one statement: no transaction round trips.
    if (byStatus.size === 1 && recovered.length === 0) await this.#storage.autocommit(record);
    else await this.#storage.transaction(record);
  }

  async #recordFailure(c: ClaimedDelivery, result: SendResult): Promise<void> {
    const now = this.#clock.now();
    const attempts = c.attempts + 1;
    const retryAt = nextAttemptAt(this.#options.retry, attempts, now, c.createdAt);
    await this.#storage.transaction(async (trx) => {
      const updated = await trx
        .updateTable('webhook_deliveries')
        .set({
          status: retryAt === undefined ? 'failed' : 'pending',
          attempts,
          next_attempt_at: retryAt ?? null,
          last_status_code: result.statusCode,
          last_error: storedError(result.error ?? 'failed'),
          last_attempt_at: now,
          updated_at: now,
        })
        .where('id', '=', c.id)
        .where('fence', '=', c.fence)
        .executeTakeFirst();
      if (updated.numUpdatedRows === 0n) return; // the claim was lost: the new holder records its own attempt
      if (retryAt === undefined) this.#storage.observability.metrics?.webhookDelivery('given_up');
      await this.#failing(trx, c.endpointId, now);
    });
  }

  async #healthy(trx: Kysely<MarketkitDatabase>, endpointIds: readonly string[]): Promise<void> {
    await trx
      .updateTable('webhook_endpoints')
      .set({ failing_since: null })
      .where('id', 'in', endpointIds)
      .where('failing_since', 'is not', null)
      .execute();
  }

  async #failing(trx: MarketkitTransaction, endpointId: string, now: number): Promise<void> {
    await trx
      .updateTable('webhook_endpoints')
      .set({ failing_since: now })
      .where('id', '=', endpointId)
      .where('failing_since', 'is', null)
      .execute();
    const disabled = await trx
      .updateTable('webhook_endpoints')
      .set({ status: 'disabled', disabled_reason: 'failing', updated_at: now })
      .where('id', '=', endpointId)
      .where('status', '=', 'enabled')
      .where('failing_since', '<=', BigInt(now - this.#options.disableAfterMs))
      .returning(['id', 'failing_since'])
      .executeTakeFirst();
    if (disabled === undefined) return;
    this.#storage.observability.metrics?.webhookDelivery('disabled');
    await this.#emit(trx, [
      disabledEvent(
        endpointId,
        'failing',
        now,
        disabled.failing_since === null ? null : toNumber(disabled.failing_since),
      ),
    ]);
  }
}

/** The `webhook_endpoint.disabled` event. @internal */
export function disabledEvent(
  endpointId: string,
  reason: 'failing' | 'manual',
  at: number,
  failingSince: number | null,
): OutboxEventInput {
  return {
    type: 'webhook_endpoint.disabled',
    aggregateType: 'webhook_endpoint',
    aggregateId: endpointId,
    payload: { endpointId, reason, disabledAt: at, failingSince },
  };
}
