export {
  listingInputJsonSchema,
  listingInputSchema,
  listingUpdateJsonSchema,
  listingUpdateSchema,
} from './listing-schemas.js';
export type { ListingTables } from './listing-tables.js';
export type {
  CommissionRule,
  KeyOptions,
  Listing,
  ListingInput,
  ListingUpdate,
  ReserveInput,
  StockReservation,
} from './listing-types.js';
export { Listings, type ListingsOptions } from './listings.js';
export type { StockStrategy } from './stock-store.js';
export type { StockVerification } from './stock-verification.js';
