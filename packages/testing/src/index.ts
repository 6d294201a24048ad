/**
 * `@marketkit/testing`: what host apps and Marketkit's own tests share — backends for shared test bodies,
 * a throwaway PostgreSQL, a controllable clock and invariant checkers.
 * @packageDocumentation
 * @module @marketkit/testing
 */
export { type TestBackend, type TestDatabase, testBackends } from './backends/test-backend.js';
export { ManualClock } from './clock/manual-clock.js';
export * from './fakes/index.js';
export {
  type FaultTiming,
  InjectedStatementFault,
  type StatementFaults,
  withStatementFaults,
} from './faults/statement-faults.js';
export { checkLedgerInvariants } from './invariants/ledger-invariants.js';
export { checkMarketInvariants, type MarketInvariantsOptions } from './invariants/market-invariants.js';
export { checkStockInvariants } from './invariants/stock-invariants.js';
export * from './postgres/index.js';
export { type PropertyRunsOptions, propertyRuns } from './property-runs.js';
export * from './sandbox/index.js';
