import type { Clock } from '@marketkit/core';

/**
 * A clock that moves only when told: for expiries, timeouts and time-based transitions in tests.
 *
 * @example
 * ```ts
 * const clock = new ManualClock(Date.UTC(2026, 0, 1));
 * const market = createMarketplace({ adapter, clock });
 * clock.advance(60_000); // one minute later
 * ```
 */
export class ManualClock implements Clock {
  #now: number;
  constructor(start = Date.UTC(2026, 0, 1)) {
    this.#now = start;
  }
  now(): number {
    return this.#now;
  }
  /** Moves time forward by `ms` (never backwards). */
  advance(ms: number): void {
    if (!(ms >= 0)) throw new RangeError('ManualClock only moves forward');
    this.#now += ms;
  }
  /** Jumps to `ms`, which must not be in the past. */
  set(ms: number): void {
    if (ms < this.#now) throw new RangeError('ManualClock only moves forward');
    this.#now = ms;
  }
}
