/**
 * The sandbox passes the payment provider conformance suite, in process and over HTTP (the errors it answers survive
 * the wire with their codes and classification), with its fault injection as the suite's fault hooks. Run through the
 * published subpath, as a provider author would.
 */
import type { PaymentProvider } from '@marketkit/core';
import { httpPaymentProvider, SandboxPaymentProvider, serveSandbox } from '@marketkit/testing';
import { type ProviderFaults, runProviderConformance } from '@marketkit/testing/provider-conformance';
import { afterAll } from 'vitest';

const sandboxFaults: ProviderFaults<SandboxPaymentProvider> = {
  unavailable: (psp, op) => psp.injectFault(op, 'error'),
  timeout: (psp, op) => psp.injectFault(op, 'timeout'),
  appliedThenLost: (psp, op) => psp.injectFault(op, 'errorAfterApply'),
  clear: (psp) => psp.clearFaults(),
};

runProviderConformance({
  name: 'sandbox',
  makeProvider: () => new SandboxPaymentProvider(),
  paymentMethods: { approved: 'tok_visa', declined: 'tok_decline' },
  faults: sandboxFaults,
});

/** One sandbox served over HTTP, shared by every test (each uses keys of its own); faults are armed on the sandbox. */
const shared = new SandboxPaymentProvider();
const server = await serveSandbox(shared);
afterAll(() => server.close());
const remote = httpPaymentProvider(server.url);
const onShared =
  (arm: (psp: SandboxPaymentProvider, op: Parameters<ProviderFaults['unavailable'] & {}>[1]) => void) =>
  (_: PaymentProvider, op: Parameters<typeof arm>[1]) =>
    arm(shared, op);

runProviderConformance({
  name: 'sandbox over HTTP',
  makeProvider: () => remote,
  paymentMethods: { approved: 'tok_visa', declined: 'tok_decline' },
  faults: {
    unavailable: onShared((psp, op) => psp.injectFault(op, 'error')),
    timeout: onShared((psp, op) => psp.injectFault(op, 'timeout')),
    appliedThenLost: onShared((psp, op) => psp.injectFault(op, 'errorAfterApply')),
    clear: () => shared.clearFaults(),
  },
});
