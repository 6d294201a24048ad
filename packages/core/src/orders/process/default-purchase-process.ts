import type { ProcessDefinitionInput } from './process-definition.js';

const HOUR = 3600 * 1000;

/**
 * The purchase-with-escrow process that ships with Marketkit: checkout → paid (captured into escrow) →
 * shipped → delivered → completed (escrow released to the seller, commission to the platform); cancel before
 * shipping (full refund, stock back); unpaid orders cancelled when their reservation expires; auto-complete
 * three days after delivery; a buyer-opened dispute freezes escrow until an operator refunds, releases or
 * splits it. A payment that needs the customer (3-D Secure) waits in `awaitingCustomer` (stock still reserved) and
 * is cancelled, its hold voided and its stock released, when the customer has not completed it within
 * `customerActionMs` (30 minutes by default). Pass your own timings with {@link purchaseProcess}.
 */
export function purchaseProcess(
  options: {
    readonly reservationMs?: number;
    readonly autoCompleteMs?: number;
    /** How long an order waits for the customer's action (3-D Secure) before it is cancelled; default 30 minutes. */
    readonly customerActionMs?: number;
  } = {},
): ProcessDefinitionInput {
  return {
    name: 'purchase',
    version: 1,
    initial: 'checkout',
    states: {
      checkout: { description: 'stock reserved, waiting for the payment to be captured' },
      awaitingCustomer: {
        description: 'authorized at the provider pending the customer’s action (3-D Secure); stock reserved',
      },
      paid: { description: 'captured into escrow' },
      shipped: { description: 'on its way to the buyer; escrow held' },
      delivered: { description: 'the buyer has it; escrow released when the buyer confirms or after a delay' },
      disputed: { description: 'escrow frozen until an operator resolves it' },
      completed: { terminal: true, description: 'escrow released to the seller and the platform' },
      cancelled: { terminal: true, description: 'nothing captured, or refunded in full; stock back' },
      refunded: { terminal: true, description: 'dispute resolved in the buyer’s favour' },
      split: { terminal: true, description: 'dispute resolved by dividing escrow' },
    },
    transitions: [
      {
        name: 'awaitCustomer',
        from: 'checkout',
        to: 'awaitingCustomer',
        actors: ['system'],
        engine: true,
      },
      {
        name: 'confirmPayment',
        from: ['checkout', 'awaitingCustomer'],
        to: 'paid',
        actors: ['system'],
        engine: true,
        effects: ['captureToEscrow', 'markStockSold'],
      },
      {
        name: 'cancelUnpaid',
        from: ['checkout', 'awaitingCustomer'],
        to: 'cancelled',
        actors: ['buyer', 'seller', 'operator', 'system'],
        effects: ['voidAuthorization', 'releaseStock'],
      },
      {
        name: 'expireReservation',
        from: 'checkout',
        to: 'cancelled',
        actors: ['system'],
        afterMs: options.reservationMs ?? 15 * 60 * 1000,
        effects: ['voidAuthorization', 'releaseStock'],
      },
      {
        name: 'expireCustomerAction',
        from: 'awaitingCustomer',
        to: 'cancelled',
        actors: ['system'],
        afterMs: options.customerActionMs ?? 30 * 60 * 1000,
        effects: ['voidAuthorization', 'releaseStock'],
      },
      {
        name: 'cancel',
        from: 'paid',
        to: 'cancelled',
        actors: ['buyer', 'seller', 'operator'],
        effects: ['refundBuyer', 'releaseStock'],
      },
      {
        name: 'refundPartial',
        from: ['paid', 'shipped', 'delivered'],
        to: 'paid',
        actors: ['seller', 'operator'],
        guards: ['refundWithinEscrow'],
        effects: ['refundBuyerPartial'],
      },
      { name: 'ship', from: 'paid', to: 'shipped', actors: ['seller'] },
      { name: 'deliver', from: 'shipped', to: 'delivered', actors: ['seller', 'buyer', 'operator'] },
      { name: 'confirm', from: 'delivered', to: 'completed', actors: ['buyer'], effects: ['releaseToSeller'] },
      {
        name: 'autoComplete',
        from: 'delivered',
        to: 'completed',
        actors: ['system'],
        afterMs: options.autoCompleteMs ?? 72 * HOUR,
        effects: ['releaseToSeller'],
      },
      {
        name: 'openDispute',
        from: ['shipped', 'delivered'],
        to: 'disputed',
        actors: ['buyer'],
        effects: ['freezeEscrow'],
      },
      {
        name: 'resolveRefund',
        from: 'disputed',
        to: 'refunded',
        actors: ['operator'],
        guards: ['escrowFrozen'],
        effects: ['refundBuyer'],
      },
      {
        name: 'resolveRelease',
        from: 'disputed',
        to: 'completed',
        actors: ['operator'],
        guards: ['escrowFrozen'],
        effects: ['releaseToSeller'],
      },
      {
        name: 'resolveSplit',
        from: 'disputed',
        to: 'split',
        actors: ['operator'],
        guards: ['escrowFrozen', 'splitWithinEscrow'],
        effects: ['resolveSplit'],
      },
    ],
  };
}
