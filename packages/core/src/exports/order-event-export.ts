import type { OrderFeedEvent } from '../orders/order-feed.js';
import { orderFeedCursorSchema, readOrderFeed } from '../orders/order-feed.js';
import { isoTime, RawJson } from './export-row.js';
import { columnsOf, type ExportColumn, type ExportSource } from './export-source.js';

/** The columns of an order events export, in order: the event, and its order's parties. */
const ORDER_EVENT_COLUMNS: readonly ExportColumn<OrderFeedEvent>[] = [
  ['order_id', (e) => e.orderId],
  ['seq', (e) => e.seq],
  ['transition', (e) => e.transition],
  ['from_state', (e) => e.from],
  ['to_state', (e) => e.to],
  ['actor_role', (e) => e.actor.role],
  ['actor_id', (e) => e.actor.id],
  ['reason', (e) => e.reason],
  ['data', (e) => (e.data === null ? null : new RawJson(JSON.stringify(e.data)))],
  ['at', (e) => isoTime(e.at)],
  ['buyer_id', (e) => e.buyerId],
  ['seller_id', (e) => e.sellerId],
];

const columns = columnsOf(ORDER_EVENT_COLUMNS);

/**
 * Order events in commit order: the order feed's pages (`orders.feed`), so a resumed export never misses an event
 * that committed late. On PostgreSQL an export ends before events that a still-running older transaction may yet
 * precede (the feed's `heldBack`); the next export from its last cursor reads them.
 * @internal
 */
export const orderEventExport: ExportSource = {
  kind: 'orderEvents',
  columns: columns.names,
  keySchema: orderFeedCursorSchema,
  async read(db, capabilities, after, limit) {
    const page = await readOrderFeed(db, capabilities, { ...(after === undefined ? {} : { after }), limit });
    return page.events.map((e) => ({ key: e.cursor, values: columns.values(e) }));
  },
};
