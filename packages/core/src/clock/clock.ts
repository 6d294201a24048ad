/**
 * Where Marketkit reads the time. Inject one to control time in tests (`@marketkit/testing` has a
 * `ManualClock`); nothing in Marketkit depends on clocks of different processes agreeing.
 */
export interface Clock {
  /** Milliseconds since the epoch. */
  now(): number;
}

/** The wall clock. */
export const systemClock: Clock = Object.freeze({ now: () => Date.now() });
