import type { ColumnType } from 'kysely';
import type { Int64Column, Int64DefaultColumn } from '../ledger/ledger-tables.js';

/** Row shape of `orders`: one purchase moving through a transaction process. */
export interface OrdersTable {
  id: string;
  process: string;
  state: string;
  buyer_id: string;
  seller_id: string;
  listing_id: string;
  quantity: Int64Column;
  amount_minor: Int64Column;
  commission_minor: Int64Column;
  currency: string;
  reservation_id: string;
  payment_method: string;
  authorization_id: string | null;
  capture_id: string | null;
  /** JSON of the `CustomerAction` the payment waits for (3-D Secure), once the provider asked for one. */
  customer_action: ColumnType<string | null, string | null | undefined, string | null>;
  refunded_minor: Int64DefaultColumn;
  frozen: Int64DefaultColumn;
  /** JSON of a transition whose provider call is in flight; blocks other transitions until it completes. */
  pending_op: string | null;
  pending_op_expires_at: Int64Column | null;
  state_entered_at: Int64Column;
  version: Int64DefaultColumn;
  created_at: Int64Column;
  updated_at: Int64Column;
}

/** Row shape of the append-only `order_events`: every transition, who fired it, when and why. */
export interface OrderEventsTable {
  id: string;
  order_id: string;
  seq: Int64Column;
  transition: string;
  from_state: string | null;
  to_state: string;
  actor_role: string;
  actor_id: string;
  reason: string | null;
  data: string | null;
  at: Int64Column;
}

/** Tables of the orders module. */
export interface OrderTables {
  orders: OrdersTable;
  order_events: OrderEventsTable;
}

/** Logical names of the orders module's tables. */
export const ORDER_TABLE_NAMES: readonly string[] = ['orders', 'order_events'];
