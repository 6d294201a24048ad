import type { Marketplace, MarketplaceOptions, Worker } from '@marketkit/core';
import type { SandboxPaymentProvider } from '@marketkit/testing';
import type fc from 'fast-check';
import type { SimulationClock } from './simulation-clock.js';

/**
 * What an action and an invariant see of one simulated run: the virtual workers (each its own `Marketplace`
 * over the run's one database), the shared clock and sandbox provider, and what the run made so far.
 */
export interface SimulationContext {
  /** The run's clock: only actions move it. */
  readonly clock: SimulationClock;
  /** The run's sandbox provider (faults are injected here). */
  readonly provider: SandboxPaymentProvider;
  /** How many virtual workers the run has. */
  readonly workers: number;
  /**
   * Virtual worker `index`'s marketplace (modulo the worker count). A worker that crashed is replaced by a fresh
   * process first (a new `Marketplace` on the same database; the crashed one's leases stay behind).
   */
  market(index: number): Marketplace;
  /**
   * Virtual worker `index`'s worker (restarted like {@link SimulationContext.market}): each `runOnce()` claims one due
   * saga and one due job, then runs the pollers (timed transitions, the outbox, webhooks, expiries).
   */
  worker(index: number): Worker;
  /** A marketplace that never crashes, for reads and invariant checks. */
  readonly auditor: Marketplace;
  /** The listing `setup` made first: seller `seller-1`, price 25.00 USD. */
  readonly listingId: string;
  /** Order ids checked out in this run so far (by any worker), oldest first. */
  readonly orders: string[];
  /** Free-form state a user's actions share within one run (cleared for every run). */
  readonly scratch: Map<string, unknown>;
}

/**
 * One step of a simulated schedule. `run` is awaited before the next step starts, so a schedule replays exactly.
 * It returns a short outcome for the trace (an error code, a state); throwing anything but a `MarketkitError`
 * (or a crash of the worker it used) fails the run.
 *
 * @example
 * ```ts
 * const ping: SimulationAction = { label: 'ping', run: async (ctx) => String(await ctx.market(0).orders.feedHead()) };
 * ```
 */
export interface SimulationAction {
  /** What the trace prints for the step, e.g. `w1 checkout(alice, 2)`. */
  readonly label: string;
  /** The virtual worker the step runs on, if any: a crash while it runs is reported as such. */
  readonly worker?: number;
  /** Makes the step, and resolves to its outcome for the trace (or `undefined`). */
  run(ctx: SimulationContext): Promise<string | undefined>;
}

/** A check made after every run, once the run settled: throw to fail the run. */
export type SimulationInvariant = (ctx: SimulationContext) => Promise<void>;

/** Options of {@link simulate} and {@link runSimulation}. */
export interface SimulationOptions {
  /** fast-check seed. Default: a random one (printed with any failure). */
  readonly seed?: number;
  /** fast-check replay path, printed with a failure: with `seed`, replays the shrunk schedule only. */
  readonly path?: string;
  /** How many runs (schedules). Default 100. */
  readonly runs?: number;
  /** Virtual workers per run, 1 to 8. Default 3. */
  readonly workers?: number;
  /** Longest schedule, in steps. Default 20. */
  readonly maxActions?: number;
  /** Your own steps, mixed in with the built-in ones (checkout, transitions, payouts, worker rounds, faults, crashes, clock). */
  readonly actions?: readonly fc.Arbitrary<SimulationAction>[];
  /** Leave the built-in steps out (only `actions` run). Default false. */
  readonly onlyUserActions?: boolean;
  /** Your checks, after the built-in ones (ledger, stock, escrow, checkouts, provider reconciliation, sagas settled). */
  readonly invariants?: readonly SimulationInvariant[];
  /** Marketplace options every worker gets (your sagas, jobs, process, commission). */
  readonly marketplace?: Omit<MarketplaceOptions, 'adapter' | 'clock' | 'payments' | 'logger'>;
  /** Runs once on the migrated template database, after the built-in listing was made: create your own rows here. */
  readonly setup?: (market: Marketplace) => Promise<void>;
}

/** What {@link runSimulation} found. */
export type SimulationResult = SimulationPassed | SimulationFailed;

/** Every run passed. */
export interface SimulationPassed {
  readonly ok: true;
  readonly seed: number;
  readonly runs: number;
  readonly runsPerSecond: number;
}

/** A run failed: its shrunk schedule, how to replay it, and the trace of the shrunk schedule. */
export interface SimulationFailed {
  readonly ok: false;
  readonly seed: number;
  /** fast-check's replay path of the shrunk schedule: pass it with `seed` to replay just that schedule. */
  readonly path: string;
  /** Runs made before and while shrinking. */
  readonly runs: number;
  /** Steps of the first failing schedule found. */
  readonly originalLength: number;
  /** Steps of the shrunk schedule. */
  readonly shrunkLength: number;
  /** The shrunk schedule's steps, each with its outcome, then how it settled. */
  readonly trace: readonly string[];
  /** What failed in the shrunk schedule. */
  readonly error: string;
  /** All of the above, printable. */
  readonly report: string;
}
