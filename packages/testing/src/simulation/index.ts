/**
 * `@marketkit/testing/simulation`: a deterministic simulator of many workers, the sandbox provider and the clock
 * over one database, with crashes, faults and lease expiries, checking every invariant after each run.
 * @packageDocumentation
 * @module @marketkit/testing/simulation
 */
// The modules here import the main entry point by its package name (`@marketkit/testing`), never by path: the build
// keeps it external, so this entry shares the sandbox and the checkers (code and types) instead of copying them.

export { runSimulation, simulate } from './run-simulation.js';
export type { SimulationClock } from './simulation-clock.js';
export type {
  SimulationAction,
  SimulationContext,
  SimulationFailed,
  SimulationInvariant,
  SimulationOptions,
  SimulationPassed,
  SimulationResult,
} from './simulation-types.js';
