import type { Int64Column } from '../ledger/ledger-tables.js';

/** Row shape of `payouts`: money sent from a seller's balance through the payment provider. */
export interface PayoutsTable {
  id: string;
  seller_id: string;
  currency: string;
  amount_minor: Int64Column;
  destination: string;
  status: 'requested' | 'paid' | 'failed';
  provider_payout_id: string | null;
  failure: string | null;
  created_at: Int64Column;
  updated_at: Int64Column;
}

/** Row shape of `payout_destinations`: the destination a seller's payouts go to when they name none. */
export interface PayoutDestinationsTable {
  seller_id: string;
  destination: string;
  updated_at: Int64Column;
}

/** Tables of the payouts module. */
export interface PayoutTables {
  payouts: PayoutsTable;
  payout_destinations: PayoutDestinationsTable;
}

/** Logical names of the payouts module's tables. */
export const PAYOUT_TABLE_NAMES: readonly string[] = ['payouts', 'payout_destinations'];
