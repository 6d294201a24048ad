/**
 * `@marketkit/testing/provider-conformance`: the payment provider conformance suite: run `runProviderConformance`
 * against a new `PaymentProvider`; the sandbox passes it.
 * @packageDocumentation
 * @module @marketkit/testing/provider-conformance
 */
export {
  type ProviderConformanceOptions,
  type ProviderFaults,
  runProviderConformance,
} from './provider-conformance.js';
