import type { Selectable } from 'kysely';
import { z } from 'zod';
import type { OrdersTable } from '../orders/order-tables.js';
import { toBigInt, toNumber } from '../storage/int64.js';
import { isoTime } from './export-row.js';
import { columnsOf, type ExportColumn, type ExportSource } from './export-source.js';

type OrderRow = Omit<
  Selectable<OrdersTable>,
  'customer_action' | 'pending_op' | 'pending_op_expires_at' | 'payment_method'
>;

const money = (v: bigint | number | string) => toBigInt(v).toString();

/** The columns of an orders export, in order (the payment method token and in-flight operations are left out). */
const ORDER_COLUMNS: readonly ExportColumn<OrderRow>[] = [
  ['id', (r) => r.id],
  ['process', (r) => r.process],
  ['state', (r) => r.state],
  ['buyer_id', (r) => r.buyer_id],
  ['seller_id', (r) => r.seller_id],
  ['listing_id', (r) => r.listing_id],
  ['quantity', (r) => toNumber(r.quantity)],
  ['currency', (r) => r.currency],
  ['amount_minor', (r) => money(r.amount_minor)],
  ['commission_minor', (r) => money(r.commission_minor)],
  ['refunded_minor', (r) => money(r.refunded_minor)],
  ['frozen', (r) => toNumber(r.frozen) !== 0],
  ['reservation_id', (r) => r.reservation_id],
  ['authorization_id', (r) => r.authorization_id],
  ['capture_id', (r) => r.capture_id],
  ['version', (r) => toNumber(r.version)],
  ['state_entered_at', (r) => isoTime(r.state_entered_at)],
  ['created_at', (r) => isoTime(r.created_at)],
  ['updated_at', (r) => isoTime(r.updated_at)],
];

const columns = columnsOf(ORDER_COLUMNS);

/** Orders as they are when read, in id order (the primary key). @internal */
export const orderExport: ExportSource = {
  kind: 'orders',
  columns: columns.names,
  keySchema: z.string().min(1),
  async read(db, _capabilities, after, limit) {
    let q = db
      .selectFrom('orders')
      .select([
        'id',
        'process',
        'state',
        'buyer_id',
        'seller_id',
        'listing_id',
        'quantity',
        'amount_minor',
        'commission_minor',
        'refunded_minor',
        'currency',
        'frozen',
        'reservation_id',
        'authorization_id',
        'capture_id',
        'state_entered_at',
        'version',
        'created_at',
        'updated_at',
      ]);
    if (after !== undefined) q = q.where('id', '>', after);
    const rows = await q.orderBy('id').limit(limit).execute();
    return rows.map((r) => ({ key: r.id, values: columns.values(r) }));
  },
};
