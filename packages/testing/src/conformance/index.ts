/**
 * `@marketkit/testing/conformance`: The storage adapter conformance suite: run `runAdapterConformance` against a new adapter; the built-in ones pass it.
 * @packageDocumentation
 * @module @marketkit/testing/conformance
 */
export {
  type AdapterConformanceOptions,
  type ConformanceDatabase,
  type ConnectionKiller,
  runAdapterConformance,
} from './adapter-conformance.js';
