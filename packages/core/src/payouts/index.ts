export type { PayoutTables } from './payout-tables.js';
export { type Payout, type PayoutInput, Payouts, payoutInputJsonSchema, payoutInputSchema } from './payouts.js';
