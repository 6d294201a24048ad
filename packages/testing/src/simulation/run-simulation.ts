import fc from 'fast-check';
import { builtinActions } from './builtin-actions.js';
import { runSchedule } from './run-schedule.js';
import type { SimulationAction, SimulationFailed, SimulationOptions, SimulationResult } from './simulation-types.js';
import { SimulationEngine, type SimulationWorld } from './simulation-world.js';

/**
 * Runs a deterministic simulation: for each of `runs` seeded schedules, several virtual workers (each its own
 * `Marketplace` over one in-memory SQLite database copied from a migrated template), the sandbox provider and a
 * manual clock take turns one awaited step at a time — checkouts, transitions, refunds, disputes, payouts, worker
 * rounds, clock jumps past leases and reservations, provider faults, and worker crashes at any statement or
 * provider call (the dead worker's leases stay behind; a fresh process takes its place). Then faults stop, the
 * clock runs on until every saga settles, and every invariant is checked: ledger, stock, escrow, checkouts,
 * reconciliation with the provider, no saga unfinished, no hold left open, and yours. A failing schedule is
 * shrunk by fast-check, and the result carries the seed, the replay path and the shrunk schedule's trace.
 *
 * @example
 * ```ts
 * import { runSimulation } from '@marketkit/testing/simulation';
 * const result = await runSimulation({ seed: 42, runs: 1000 });
 * if (!result.ok) console.error(result.report); // replay: runSimulation({ seed: result.seed, path: result.path })
 * ```
 */
export async function runSimulation(options: SimulationOptions = {}): Promise<SimulationResult> {
  const workers = options.workers ?? 3;
  if (!Number.isInteger(workers) || workers < 1 || workers > 8)
    throw new RangeError(`runSimulation: workers must be an integer from 1 to 8, got ${workers}`);
  const engine = await SimulationEngine.create(options);
  const arbitraries = [
    ...(options.onlyUserActions === true
      ? []
      : builtinActions(workers, (ctx, w, points) => (ctx as SimulationWorld).crash(w, points))),
    ...(options.actions ?? []).map((arbitrary) => ({ arbitrary, weight: 3 })),
  ];
  if (arbitraries.length === 0) throw new RangeError('runSimulation: no actions (onlyUserActions without actions)');
  const schedule = fc.array(fc.oneof(...arbitraries), { minLength: 1, maxLength: options.maxActions ?? 20 });
  const execute = async (actions: readonly SimulationAction[], trace?: string[]) => {
    // A run never waits for I/O (SQLite answers synchronously): let timers and I/O in between runs.
    await new Promise((resolve) => setImmediate(resolve));
    const world = engine.run(workers);
    try {
      await runSchedule(world, actions, options.invariants ?? [], trace);
    } finally {
      await world.finish();
    }
  };
  let originalLength: number | undefined;
  const property = fc.asyncProperty(schedule, async (actions) => {
    try {
      await execute(actions);
    } catch (error) {
      originalLength ??= actions.length;
      throw error;
    }
  });
  const seed = options.seed ?? Math.floor(Math.random() * 0x7fff_ffff);
  const started = performance.now();
  try {
    const details = await fc.check(property, {
      seed,
      numRuns: options.runs ?? 100,
      ...(options.path === undefined ? {} : { path: options.path }),
    });
    const seconds = (performance.now() - started) / 1000;
    if (!details.failed) return { ok: true, seed, runs: details.numRuns, runsPerSecond: details.numRuns / seconds };
    const shrunk = await withoutNeedlessSteps(details.counterexample?.[0] ?? [], execute);
    const trace: string[] = [];
    let error = errorText(details.errorInstance);
    try {
      await execute(shrunk, trace);
      trace.push('     (passed when replayed: the failure depends on something outside the schedule)');
    } catch (replayed) {
      error = errorText(replayed);
    }
    return failure({
      seed,
      path: details.counterexamplePath ?? '',
      runs: details.numRuns + details.numShrinks,
      originalLength: originalLength ?? shrunk.length,
      shrunkLength: shrunk.length,
      trace,
      error,
    });
  } finally {
    engine.close();
  }
}

/**
 * {@link runSimulation} for a test: resolves when every run passed, and otherwise throws an `Error` whose message
 * is the failure's report (seed, replay path, the shrunk trace and what broke).
 *
 * @example
 * ```ts
 * import { simulate } from '@marketkit/testing/simulation';
 * it('survives crashes, faults and races', async () => {
 *   await simulate({ runs: 500, invariants: [async (ctx) => { ... }] });
 * });
 * ```
 */
export async function simulate(options: SimulationOptions = {}): Promise<void> {
  const result = await runSimulation(options);
  if (!result.ok) throw new Error(result.report);
}

/**
 * Drops, one at a time, every step whose removal still fails the run: fast-check shrinks a schedule's length by
 * cutting runs of steps and then shrinks the steps themselves, and can leave a step that does nothing behind.
 * Deterministic, so a replay drops the same steps.
 */
async function withoutNeedlessSteps(
  actions: readonly SimulationAction[],
  execute: (actions: readonly SimulationAction[]) => Promise<void>,
): Promise<readonly SimulationAction[]> {
  let kept = actions;
  for (let i = kept.length - 1; i >= 0; i--) {
    const candidate = [...kept.slice(0, i), ...kept.slice(i + 1)];
    if (candidate.length === 0) continue;
    const fails = await execute(candidate).then(
      () => false,
      () => true,
    );
    if (fails) kept = candidate;
  }
  return kept;
}

function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

function failure(f: Omit<SimulationFailed, 'ok' | 'report'>): SimulationFailed {
  const report = [
    `Simulation failed (seed ${f.seed}, path "${f.path}"; ${f.runs} runs; shrunk from ${f.originalLength} to ${f.shrunkLength} steps).`,
    `Replay: runSimulation({ seed: ${f.seed}, path: '${f.path}' }) with the same options.`,
    'Trace:',
    ...f.trace,
    'Error:',
    f.error,
  ].join('\n');
  return { ok: false, ...f, report };
}
