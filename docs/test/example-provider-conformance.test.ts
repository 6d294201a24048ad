import type { PaymentOperation } from '@marketkit/core';
import { type ProviderFaults, runProviderConformance } from '@marketkit/testing/provider-conformance';
import { CardProcessorProvider } from '../../examples/src/payment-provider/card-processor-provider.js';
import { InMemoryProcessor } from './fixtures/in-memory-processor.js';

// The example provider of docs/payments.md ("Writing a PaymentProvider") passes the payment provider conformance
// suite, against the in-memory processor of its docs test: what the doc tells users to copy keeps the port's contract.
// The suite's fault hooks are the processor's faults on the next request of the operation's path.

/** The path prefix of each operation's request. */
const PATH: Readonly<Record<PaymentOperation, string>> = {
  authorize: '/authorizations',
  capture: '/authorizations/',
  void: '/authorizations/',
  refund: '/refunds',
  payout: '/payouts',
};

const processor = new InMemoryProcessor(() => Date.now());
const provider = new CardProcessorProvider({ transport: processor.transport, timeoutMs: 50 });
const faults: ProviderFaults = {
  unavailable: (_, op) => processor.fail(PATH[op], 'unavailable'),
  timeout: (_, op) => processor.fail(PATH[op], 'stall'),
  appliedThenLost: (_, op) => processor.fail(PATH[op], 'lostAnswer'),
  clear: () => processor.clearFaults(),
};

runProviderConformance({
  name: 'the example provider of docs/payments.md',
  makeProvider: () => provider,
  paymentMethods: { approved: 'tok_visa', declined: 'tok_declined' },
  faults,
});
