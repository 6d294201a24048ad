import { type Kysely, sql } from 'kysely';
import { z } from 'zod';
import type { MarketkitDatabase } from '../schema/database.js';
import type { StorageCapabilities } from '../storage/storage-adapter.js';
import { TENANT } from '../storage/tenant-plugin.js';
import { mayRead } from './order-read-access.js';
import { orderEventFromRow } from './order-rows.js';
import { actorSchema } from './order-schemas.js';
import type { Actor, OrderEvent } from './order-types.js';

/** Most events one {@link Orders.feed} call returns. */
export const MAX_ORDER_FEED_LIMIT = 1000;

/**
 * An order event as the feed returns it: the event, its order and parties, and its position in the feed.
 */
export interface OrderFeedEvent extends OrderEvent {
  readonly orderId: string;
  readonly buyerId: string;
  readonly sellerId: string;
  /** Where this event stands in the feed: pass it as `after` to read what follows it. */
  readonly cursor: string;
}

/** What {@link Orders.feed} takes. */
export interface OrderFeedOptions {
  /** Read the events after this position (an event's `cursor` or a page's `cursor`). Default: from the start. */
  readonly after?: string;
  /** Read no event beyond this position (inclusive). Default: no bound. */
  readonly until?: string;
  /** Only the events of orders this actor may read ({@link mayRead}). Default: every event (a trusted read). */
  readonly actor?: Actor;
  /** Most events returned, 1 to {@link MAX_ORDER_FEED_LIMIT}. Default 100. */
  readonly limit?: number;
}

/** One page of the order feed. */
export interface OrderFeedPage {
  readonly events: readonly OrderFeedEvent[];
  /** The position to read on from: the last event's, or `after` when there was none. */
  readonly cursor: string;
  /**
   * True when events beyond `cursor` are written but not readable yet, because a transaction that began before
   * theirs is still running (PostgreSQL): read again shortly. Always false with one writer at a time.
   */
  readonly heldBack: boolean;
}

/**
 * The PostgreSQL channel notified when order events commit (`LISTEN marketkit_order_events`); the payload is the
 * schema-qualified table (`public.mk_order_events`). A wake-up, not the events: read them with {@link Orders.feed}.
 */
export const ORDER_EVENTS_CHANNEL = 'marketkit_order_events';

/** The position before every event. */
export const ORDER_FEED_START = '0-0';

/** An order feed cursor (`tx-pos`). @internal */
export const orderFeedCursorSchema = z
  .string()
  .regex(/^(0|[1-9][0-9]{0,18})-(0|[1-9][0-9]{0,18})$/, 'an order feed cursor, e.g. 0-42');

/** Validates {@link OrderFeedOptions} (optional as a whole). @internal */
export const orderFeedOptionsSchema = z
  .strictObject({
    after: orderFeedCursorSchema.optional(),
    until: orderFeedCursorSchema.optional(),
    actor: actorSchema.optional(),
    limit: z.number().int().min(1).max(MAX_ORDER_FEED_LIMIT).optional(),
  })
  .optional();

type Position = readonly [bigint, bigint];

function position(cursor: string): Position {
  const [tx = '0', pos = '0'] = cursor.split('-');
  return [BigInt(tx), BigInt(pos)];
}

/**
 * Orders two feed cursors: negative when `a` comes before `b`, zero when equal, positive after.
 *
 * @example
 * ```ts
 * compareOrderFeedCursors('0-7', '0-12'); // < 0
 * ```
 */
export function compareOrderFeedCursors(a: string, b: string): number {
  const [x, y] = [position(orderFeedCursorSchema.parse(a)), position(orderFeedCursorSchema.parse(b))];
  if (x[0] !== y[0]) return x[0] < y[0] ? -1 : 1;
  return x[1] === y[1] ? 0 : x[1] < y[1] ? -1 : 1;
}

interface FeedRow {
  readonly order_id: string;
  readonly seq: number | bigint | string;
  readonly transition: string;
  readonly from_state: string | null;
  readonly to_state: string;
  readonly actor_role: string;
  readonly actor_id: string;
  readonly reason: string | null;
  readonly data: string | null;
  readonly at: number | bigint | string;
  readonly tx: string;
  readonly pos: string;
  readonly buyer_id: string;
  readonly seller_id: string;
}

/**
 * PostgreSQL: the oldest transaction id whose events may still commit, as of the statement's snapshot. Every event
 * written by a transaction below it is committed (or rolled back) for good; none can appear later below it. It is
 * the oldest transaction the snapshot sees in progress, except those known to run in another database of the same
 * server: transaction ids are the server's, so `pg_snapshot_xmin` alone lets an idle transaction in any database
 * hold every event back. A transaction counts as another database's only when `pg_locks` shows its own lock on its
 * id held by a backend connected elsewhere (`pg_stat_activity.datname`, visible to every role); one that ended
 * since the snapshot, a prepared one, or one whose backend is unknown counts as ours, which only delays.
 */
const FEED_HORIZON = sql`(
  select coalesce(min(x.xid::text::bigint), pg_snapshot_xmax(pg_current_snapshot())::text::bigint)
  from pg_snapshot_xip(pg_current_snapshot()) as x(xid)
  where not exists (
    select 1 from pg_locks l join pg_stat_activity a on a.pid = l.pid
    where l.locktype = 'transactionid' and l.mode = 'ExclusiveLock' and l.granted
      and l.transactionid::text::bigint = x.xid::text::bigint % 4294967296
      and a.datname <> current_database()))`;

/** The SQL position of an order event and the condition "committed for good", by backend capability. */
function positionSql(capabilities: StorageCapabilities) {
  // One writer at a time: rowid order is commit order. Concurrent writers: see migration 0011-order-feed.
  return capabilities.concurrentWriters
    ? {
        tx: sql`e.tx`,
        pos: sql`e.pos`,
        order: sql`e.tx, e.pos`,
        orderDesc: sql`e.tx desc, e.pos desc`,
        settled: sql`e.tx < ${FEED_HORIZON}`,
        unsettled: sql`e.tx >= ${FEED_HORIZON}`,
      }
    : {
        tx: sql`0`,
        pos: sql`e.rowid`,
        order: sql`e.rowid`,
        orderDesc: sql`e.rowid desc`,
        settled: sql`1 = 1`,
        unsettled: sql`1 = 0`,
      };
}

function after(p: ReturnType<typeof positionSql>, cursor: string, op: '>' | '<=') {
  const [tx, pos] = position(cursor);
  const t = sql`${tx.toString()}`;
  const q = sql`${pos.toString()}`;
  const cmp = sql.raw(op);
  // (tx, pos) op (t, q), spelled out: SQLite's row values need 3.15, and this keeps the casts explicit.
  return op === '>'
    ? sql`(${p.tx} > cast(${t} as bigint) or (${p.tx} = cast(${t} as bigint) and ${p.pos} ${cmp} cast(${q} as bigint)))`
    : sql`(${p.tx} < cast(${t} as bigint) or (${p.tx} = cast(${t} as bigint) and ${p.pos} ${cmp} cast(${q} as bigint)))`;
}

function partyFilter(actor: Actor | undefined) {
  if (actor === undefined || actor.role === 'operator' || actor.role === 'system') return sql`1 = 1`;
  return actor.role === 'buyer' ? sql`o.buyer_id = ${actor.id}` : sql`o.seller_id = ${actor.id}`;
}

/** Reads one page of the order feed; see {@link Orders.feed}. @internal */
export async function readOrderFeed(
  db: Kysely<MarketkitDatabase>,
  capabilities: StorageCapabilities,
  options: OrderFeedOptions,
): Promise<OrderFeedPage> {
  const p = positionSql(capabilities);
  const from = options.after ?? ORDER_FEED_START;
  const until = options.until === undefined ? sql`1 = 1` : after(p, options.until, '<=');
  const { rows } = await sql<FeedRow>`
    select e.order_id, e.seq, e.transition, e.from_state, e.to_state, e.actor_role, e.actor_id, e.reason, e.data,
      e.at, cast(${p.tx} as text) as tx, cast(${p.pos} as text) as pos, o.buyer_id, o.seller_id
    from ${sql.table('order_events')} e join ${sql.table('orders')} o on o.tenant = e.tenant and o.id = e.order_id
    where e.tenant = ${TENANT} and ${after(p, from, '>')} and ${until} and ${p.settled} and ${partyFilter(options.actor)}
    order by ${p.order}
    limit ${options.limit ?? 100}`.execute(db);
  const events = rows.map(feedEventFromRow).filter((e) => options.actor === undefined || mayRead(options.actor, e));
  const last = rows.at(-1);
  const cursor = last === undefined ? from : `${last.tx}-${last.pos}`;
  const heldBack =
    capabilities.concurrentWriters &&
    (
      await sql<{ n: number }>`select 1 as n from ${sql.table('order_events')} e
        where e.tenant = ${TENANT} and ${after(p, cursor, '>')} and ${p.unsettled} limit 1`.execute(db)
    ).rows.length > 0;
  return { events, cursor, heldBack };
}

/** The position of the last readable event: reading after it returns only events committed from now on. @internal */
export async function orderFeedHead(db: Kysely<MarketkitDatabase>, capabilities: StorageCapabilities): Promise<string> {
  const p = positionSql(capabilities);
  const { rows } = await sql<{ tx: string; pos: string }>`
    select cast(${p.tx} as text) as tx, cast(${p.pos} as text) as pos from ${sql.table('order_events')} e
    where e.tenant = ${TENANT} and ${p.settled} order by ${p.orderDesc} limit 1`.execute(db);
  const row = rows[0];
  return row === undefined ? ORDER_FEED_START : `${row.tx}-${row.pos}`;
}

function feedEventFromRow(r: FeedRow): OrderFeedEvent {
  return {
    orderId: r.order_id,
    buyerId: r.buyer_id,
    sellerId: r.seller_id,
    ...orderEventFromRow(r),
    cursor: `${r.tx}-${r.pos}`,
  };
}
