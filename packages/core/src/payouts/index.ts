export {
  type PayoutDestination,
  type PayoutDestinationInput,
  payoutDestinationInputSchema,
  payoutDestinationSchema,
} from './payout-destinations.js';
export type { PayoutTables } from './payout-tables.js';
export { type Payout, type PayoutInput, Payouts, payoutInputJsonSchema, payoutInputSchema } from './payouts.js';
