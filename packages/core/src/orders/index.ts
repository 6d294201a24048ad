export type { CheckoutVerification } from './checkout-verification.js';
export { commissionOn } from './commission.js';
export { ESCROW_ACCOUNT_CODES, ESCROW_CODES, escrowAccounts } from './escrow-accounts.js';
export type { EscrowVerification } from './escrow-verification.js';
export {
  compareOrderFeedCursors,
  MAX_ORDER_FEED_LIMIT,
  ORDER_EVENTS_CHANNEL,
  ORDER_FEED_START,
  type OrderFeedEvent,
  type OrderFeedOptions,
  type OrderFeedPage,
} from './order-feed.js';
export { mayRead, type ReadOptions, type ReadParties } from './order-read-access.js';
export { checkoutInputSchema, transitionInputJsonSchema, transitionInputSchema } from './order-schemas.js';
export type { OrderTables } from './order-tables.js';
export type { Actor, CheckoutInput, Order, OrderEvent, TransitionInput } from './order-types.js';
export { Orders } from './orders.js';
export * from './process/index.js';
export type { StuckCheckout } from './stuck-checkouts.js';
