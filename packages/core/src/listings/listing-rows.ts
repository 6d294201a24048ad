import type { Selectable } from 'kysely';
import { Money } from '../money/money.js';
import { toBigInt, toNumber } from '../storage/int64.js';
import type { ListingsTable, StockReservationsTable } from './listing-tables.js';
import type { CommissionRule, Listing, StockReservation } from './listing-types.js';

export function listingFromRow(r: Selectable<ListingsTable>): Listing {
  const quantity = toNumber(r.quantity);
  const sold = toNumber(r.sold);
  const reserved = toNumber(r.reserved);
  return {
    id: r.id,
    sellerId: r.seller_id,
    title: r.title,
    price: Money.fromMinor(toBigInt(r.price_minor), r.currency),
    quantity,
    sold,
    reserved,
    available: quantity - sold - reserved,
    commission: r.commission === null ? null : decodeCommission(r.commission),
    status: r.status,
    version: toNumber(r.version),
    createdAt: toNumber(r.created_at),
    updatedAt: toNumber(r.updated_at),
  };
}

export function reservationFromRow(r: Selectable<StockReservationsTable>): StockReservation {
  return {
    id: r.id,
    listingId: r.listing_id,
    orderId: r.order_id,
    quantity: toNumber(r.quantity),
    status: r.status,
    expiresAt: toNumber(r.expires_at),
  };
}

export function encodeCommission(rule: CommissionRule): string {
  return JSON.stringify(rule, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v));
}

export function decodeCommission(text: string): CommissionRule {
  const raw = JSON.parse(text) as Record<string, unknown>;
  if (raw['kind'] === 'fixed') return { kind: 'fixed', amountMinor: BigInt(raw['amountMinor'] as string) };
  return {
    kind: 'percentage',
    percent: String(raw['percent']),
    minimumMinor: raw['minimumMinor'] === undefined ? undefined : BigInt(raw['minimumMinor'] as string),
    rounding: raw['rounding'] as 'halfEven' | undefined,
  };
}
