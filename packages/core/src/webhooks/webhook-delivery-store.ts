import { type Selectable, sql } from 'kysely';
import { toBigInt, toNumber } from '../storage/int64.js';
import type { Storage } from '../storage/storage.js';
import type { WebhookDeliveriesTable, WebhookEndpointsTable } from './webhook-tables.js';
import type { WebhookDelivery } from './webhook-types.js';

/** A delivery a worker claimed, with what it needs to send it. @internal */
export interface ClaimedDelivery {
  readonly id: string;
  readonly endpointId: string;
  readonly eventId: string;
  readonly body: string;
  readonly attempts: number;
  readonly fence: bigint;
  readonly createdAt: number;
}

/** Longest `last_error` kept. */
const MAX_ERROR_LENGTH = 500;

/**
 * Claims up to `limit` due deliveries of enabled endpoints for `leaseMs`, bumping each one's fence: `UPDATE … WHERE id
 * IN (SELECT … FOR UPDATE SKIP LOCKED)` on PostgreSQL, so concurrent workers take disjoint rows; on SQLite the
 * `next_attempt_at <= now` guard of the one `UPDATE`, under the database write lock, makes the claim exclusive.
 *
 * Concurrency contract: a delivery is claimed by at most one caller per expiry of its claim.
 * @internal
 */
export async function claimDueDeliveries(
  storage: Storage,
  now: number,
  leaseMs: number,
  limit: number,
): Promise<ClaimedDelivery[]> {
  const rows = await storage.autocommit((db) => {
    let due = db
      .selectFrom('webhook_deliveries as d')
      .select('d.id')
      .where('d.next_attempt_at', '<=', BigInt(now))
      .where('d.endpoint_id', 'in', (eb) =>
        eb.selectFrom('webhook_endpoints as e').select('e.id').where('e.status', '=', 'enabled'),
      )
      .orderBy('d.next_attempt_at')
      .limit(limit);
    if (storage.adapter.capabilities.skipLocked) due = due.forUpdate().skipLocked();
    // The batch as a CTE, run once (a CTE that locks rows is never folded into the query): as `IN (subquery)` the
    // planner may rescan it per candidate row, and a rescan of `LIMIT … SKIP LOCKED` can return other rows.
    return db
      .with('due', () => due)
      .updateTable('webhook_deliveries')
      .set({ next_attempt_at: now + leaseMs, fence: sql`fence + 1`, updated_at: now })
      .where('id', 'in', (eb) => eb.selectFrom('due').select('due.id'))
      .where('next_attempt_at', '<=', BigInt(now))
      .returning(['id', 'endpoint_id', 'event_id', 'body', 'attempts', 'fence', 'created_at'])
      .execute();
  });
  return rows.map((r) => ({
    id: r.id,
    endpointId: r.endpoint_id,
    eventId: r.event_id,
    body: r.body,
    attempts: toNumber(r.attempts),
    fence: toBigInt(r.fence),
    createdAt: toNumber(r.created_at),
  }));
}

/** The signing material and URL of the endpoints of claimed deliveries. @internal */
export async function readEndpoints(
  storage: Storage,
  ids: readonly string[],
): Promise<Map<string, Selectable<WebhookEndpointsTable>>> {
  if (ids.length === 0) return new Map();
  const rows = await storage.run((db) =>
    db.selectFrom('webhook_endpoints').selectAll().where('id', 'in', ids).execute(),
  );
  return new Map(rows.map((r) => [r.id, r]));
}

/** Cuts an error to what is stored. @internal */
export function storedError(error: string): string {
  return error.length > MAX_ERROR_LENGTH ? `${error.slice(0, MAX_ERROR_LENGTH - 1)}…` : error;
}

/** The public view of a delivery row. @internal */
export function deliveryFromRow(r: Selectable<WebhookDeliveriesTable>): WebhookDelivery {
  const n = (v: bigint | number | string | null) => (v === null ? null : toNumber(v));
  return {
    id: r.id,
    endpointId: r.endpoint_id,
    eventId: r.event_id,
    eventType: r.event_type,
    aggregateType: r.aggregate_type,
    aggregateId: r.aggregate_id,
    status: r.status,
    attempts: toNumber(r.attempts),
    nextAttemptAt: r.status === 'pending' ? n(r.next_attempt_at) : null,
    lastStatusCode: n(r.last_status_code),
    lastError: r.last_error,
    lastAttemptAt: n(r.last_attempt_at),
    deliveredAt: n(r.delivered_at),
    createdAt: toNumber(r.created_at),
  };
}
