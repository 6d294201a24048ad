/**
 * The Stripe provider passes the payment provider conformance suite against the local Stripe-compatible server, as a
 * provider author would run it: through the official `stripe` client, with the suite's fault hooks mapped onto the
 * server's fault injection (an outage is a 500 or a 429 with nothing done, a timeout a request never answered, done
 * or not, an applied call whose answer is lost a dropped connection).
 */
import { stripePaymentProvider } from '@marketkit/adapters/stripe';
import type { PaymentOperation, PaymentProvider } from '@marketkit/core';
import { type ProviderFaults, runProviderConformance } from '@marketkit/testing/provider-conformance';
import { type StripeTestEndpoint, type StripeTestFault, startStripeTestServer } from '@marketkit/testing/stripe-server';
import Stripe from 'stripe';
import { afterAll } from 'vitest';

/** The Stripe endpoint each port operation calls. */
const ENDPOINT: Readonly<Record<PaymentOperation, StripeTestEndpoint>> = {
  authorize: 'payment_intents.create',
  capture: 'payment_intents.capture',
  void: 'payment_intents.cancel',
  refund: 'refunds.create',
  payout: 'transfers.create',
};

// Stripe dates objects to the second and lists effects by that time; the suite checks effects come oldest first, so
// the server's clock moves a second each time it is read, as calls made at a human pace would see it.
let clock = Date.now();
const server = await startStripeTestServer({ now: () => (clock += 1000) });
afterAll(() => server.close());
// A short client timeout: a stalled request (the `timeout` fault) fails in a second, every other answer is local.
const stripe = new Stripe('sk_test_conformance', { ...server.clientConfig, timeout: 1000 });
const provider = stripePaymentProvider({ stripe });

let outages = 0;
let timeouts = 0;
const arm =
  (fault: (op: PaymentOperation) => StripeTestFault) =>
  (_: PaymentProvider, op: PaymentOperation): void =>
    server.injectFault(ENDPOINT[op], fault(op));

const faults: ProviderFaults = {
  // Stripe's outages: a 500 (`api_error`) and a 429 (`rate_limit`) in turn, neither applied.
  unavailable: arm(() => (outages++ % 2 === 0 ? 'apiError' : 'rateLimit')),
  // Never answered (the client's timeout fires), in turn not applied (lost on its way) and applied.
  timeout: arm(() => (timeouts++ % 2 === 0 ? 'stall' : 'stallAfterApply')),
  // Applied, then the connection drops (twice: the `stripe` client retries a dropped connection once on its own).
  appliedThenLost: arm(() => 'dropTwiceAfterApply'),
  clear: () => server.clearFaults(),
};

runProviderConformance({
  name: 'stripe (local Stripe server)',
  makeProvider: () => provider,
  paymentMethods: { approved: 'pm_card_visa', declined: 'pm_card_chargeDeclined' },
  payoutDestination: 'acct_conformance',
  faults,
});
