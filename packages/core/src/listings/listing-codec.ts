import type { ResultCodec } from '../idempotency/idempotency-types.js';
import { Money, type MoneyJSON } from '../money/money.js';
import { decodeCommission, encodeCommission } from './listing-rows.js';
import type { Listing } from './listing-types.js';

/** Stores a `Listing` as plain JSON (price as `{ amount, currency }`, commission as text) for idempotent replays. */
export const LISTING_CODEC: ResultCodec<Listing> = {
  encode: (listing) => ({
    ...listing,
    price: listing.price.toJSON(),
    commission: listing.commission === null ? null : encodeCommission(listing.commission),
  }),
  decode: (stored) => {
    const raw = stored as Record<string, unknown>;
    return {
      ...raw,
      price: Money.fromJSON(raw['price'] as MoneyJSON),
      commission: raw['commission'] === null ? null : decodeCommission(raw['commission'] as string),
    } as unknown as Listing;
  },
};
