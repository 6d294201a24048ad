import type { ColumnType } from 'kysely';
import type { Int64Column, Int64DefaultColumn } from '../ledger/ledger-tables.js';

/** Row shape of `listings`: what is sold, with its stock counters. */
export interface ListingsTable {
  id: string;
  seller_id: string;
  title: string;
  price_minor: Int64Column;
  currency: string;
  /** Units put up for sale in all. `sold + reserved + available = quantity`. */
  quantity: Int64Column;
  sold: Int64DefaultColumn;
  reserved: Int64DefaultColumn;
  /** Commission override as JSON, or null for the marketplace default. */
  commission: string | null;
  status: ColumnType<'active' | 'closed', 'active' | 'closed' | undefined, 'active' | 'closed'>;
  version: Int64DefaultColumn;
  created_at: Int64Column;
  updated_at: Int64Column;
}

/** Row shape of `stock_reservations`: units held for one order until they are sold, released or expire. */
export interface StockReservationsTable {
  id: string;
  listing_id: string;
  order_id: string | null;
  quantity: Int64Column;
  status: 'active' | 'sold' | 'released' | 'expired';
  expires_at: Int64Column;
  created_at: Int64Column;
  updated_at: Int64Column;
}

/** Tables of the listings module, by logical name. */
export interface ListingTables {
  listings: ListingsTable;
  stock_reservations: StockReservationsTable;
}

/** Logical names of the listings module's tables. */
export const LISTING_TABLE_NAMES: readonly string[] = ['listings', 'stock_reservations'];
