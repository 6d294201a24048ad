import type { Clock } from '@marketkit/core';

/** The simulation's clock: moved only by the schedule, set back to the start for every run. */
export interface SimulationClock extends Clock {
  /** Moves time forward by `ms` (never backwards). */
  advance(ms: number): void;
}

/** The start of every run's time. @internal */
export const SIMULATION_START = Date.UTC(2026, 0, 1);

/** A {@link SimulationClock} the engine rewinds between runs (the marketplaces that read it outlive a run). @internal */
export class ResettableClock implements SimulationClock {
  #now = SIMULATION_START;
  now(): number {
    return this.#now;
  }
  advance(ms: number): void {
    if (!(ms >= 0)) throw new RangeError('the simulation clock only moves forward');
    this.#now += ms;
  }
  reset(): void {
    this.#now = SIMULATION_START;
  }
}
