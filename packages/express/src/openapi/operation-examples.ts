/** Example answers for the OpenAPI document, in the JSON shape the router sends (bigints as strings). */
const at = 1_767_225_600_000;

export const listingExample = {
  id: 'lst_01J9Z3',
  sellerId: 'bob',
  title: 'Desk lamp',
  price: { amount: '4000', currency: 'USD' },
  quantity: 10,
  sold: 0,
  reserved: 0,
  available: 10,
  commission: null,
  status: 'active',
  version: 0,
  createdAt: at,
  updatedAt: at,
};

export const orderExample = {
  id: 'ord_01J9Z4',
  process: 'standard',
  state: 'paid',
  buyerId: 'alice',
  sellerId: 'bob',
  listingId: 'lst_01J9Z3',
  quantity: 1,
  amount: { amount: '4000', currency: 'USD' },
  commission: { amount: '400', currency: 'USD' },
  refunded: { amount: '0', currency: 'USD' },
  escrowBalance: { amount: '4000', currency: 'USD' },
  frozen: false,
  reservationId: 'res_01J9Z4',
  authorizationId: 'auth_1',
  captureId: 'cap_1',
  stateEnteredAt: at,
  version: 2,
  createdAt: at,
};

export const orderHistoryExample = {
  events: [
    {
      seq: 1,
      transition: 'checkout',
      from: null,
      to: 'paid',
      actor: { role: 'buyer', id: 'alice' },
      reason: null,
      data: null,
      at,
    },
  ],
};

export const payoutExample = {
  id: 'po_01J9Z5',
  sellerId: 'bob',
  currency: 'USD',
  amountMinor: '2500',
  destination: 'ba_test',
  status: 'requested',
  providerPayoutId: null,
  failure: null,
  createdAt: at,
};

export const payoutDestinationExample = { sellerId: 'bob', destination: 'acct_1Bob', updatedAt: at };

export const balanceExample = {
  sellerId: 'bob',
  currency: 'USD',
  posted: '3600',
  pendingDebits: '0',
  available: '3600',
};

export const sagaExample = {
  id: 'payout:po_01J9Z5',
  name: 'payout',
  status: 'failed',
  stepIndex: -1,
  input: { payoutId: 'po_01J9Z5' },
  outputs: {},
  attempts: 5,
  nextRunAt: null,
  leaseOwner: null,
  leaseExpiresAt: 0,
  version: '7',
  lastError: { code: 'PROVIDER_ERROR', message: 'The payment provider failed.' },
  resolution: null,
  createdAt: at,
  updatedAt: at,
};

/** A Stripe event as its webhook delivers it (trimmed PaymentIntent). */
export const stripeEventExample = {
  id: 'evt_3QkzYb2eZvKYlo2C0m8dLJ4u',
  object: 'event',
  api_version: '2025-01-27.acacia',
  created: 1765000000,
  livemode: false,
  type: 'payment_intent.amount_capturable_updated',
  data: {
    object: {
      id: 'pi_3QkzYb2eZvKYlo2C0xq1Tq5w',
      object: 'payment_intent',
      status: 'requires_capture',
      metadata: { marketkit_reference: 'ord_01J9Z4', marketkit_key: 'ord_01J9Z4:authorize' },
    },
  },
};
