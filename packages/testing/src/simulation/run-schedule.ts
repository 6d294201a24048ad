import { isMarketkitError } from '@marketkit/core';
import { checkMarketInvariants } from '@marketkit/testing';
import type { SimulationAction, SimulationInvariant } from './simulation-types.js';
import type { SimulationWorld } from './simulation-world.js';

/**
 * How far the settling phase moves the clock when a round found nothing to do: past every lease, retry backoff,
 * reservation and timed transition of the default process (the longest, auto-completion, is 72 h). It settles
 * once a round after such a jump finds nothing to do either.
 */
const SETTLE_JUMP_MS = 10 * 86_400_000;
const MAX_SETTLE_ROUNDS = 200;

/** Runs one schedule step by step, lets it settle, and checks every invariant. Throws what failed. @internal */
export async function runSchedule(
  world: SimulationWorld,
  actions: readonly SimulationAction[],
  invariants: readonly SimulationInvariant[],
  trace: string[] | undefined,
): Promise<void> {
  for (const [i, action] of actions.entries()) {
    const outcome = await runStep(world, action);
    trace?.push(`${String(i + 1).padStart(3)}. ${action.label}${outcome === undefined ? '' : ` → ${outcome}`}`);
  }
  const rounds = await settle(world);
  trace?.push(`     settled: faults cleared, ${rounds} worker rounds`);
  await checkSettled(world);
  await checkMarketInvariants(world.auditor, { provider: world.provider });
  for (const check of invariants) await check(world);
}

async function runStep(world: SimulationWorld, action: SimulationAction): Promise<string | undefined> {
  const w = action.worker;
  const wasDead = w !== undefined && world.isDead(w);
  try {
    const outcome = await action.run(world);
    return wasDead ? `(w${w} restarted) ${outcome ?? 'ok'}` : outcome;
  } catch (error) {
    if (w !== undefined && world.isDead(w) && !wasDead) return `w${w} CRASHED`;
    if (isMarketkitError(error)) return `${wasDead ? `(w${w} restarted) ` : ''}${error.code}`;
    throw error;
  }
}

/** Faults stop, crashes stop, and a healthy worker runs (moving the clock on when idle) until nothing is left. */
async function settle(world: SimulationWorld): Promise<number> {
  world.provider.clearFaults();
  const worker = world.engine.settler;
  let jumped = false;
  for (let round = 1; round <= MAX_SETTLE_ROUNDS; round++) {
    if ((await worker.runOnce()) > 0) {
      jumped = false;
      continue;
    }
    if (jumped) return round;
    world.clock.advance(SETTLE_JUMP_MS);
    jumped = true;
  }
  throw new Error(`not settled after ${MAX_SETTLE_ROUNDS} worker rounds: work keeps coming`);
}

/** Simulation-level checks: every saga ended, no order is left paying, no hold is left open at the provider. */
async function checkSettled(world: SimulationWorld): Promise<void> {
  const problems: string[] = [];
  for (const s of world.engine.sagasNotEnded())
    problems.push(`saga ${s.id} (${s.name}) is ${s.status} after settling: ${s.lastError ?? ''}`);
  for (const o of world.engine.ordersIn(['checkout', 'awaitingCustomer']))
    problems.push(`order ${o} still in checkout after settling`);
  const open = world.provider.effects().openAuthorizedMinor;
  if (open !== 0n) problems.push(`${open} minor units still authorized at the provider after settling`);
  if (problems.length > 0) throw new Error(`Simulation invariants broken:\n${problems.join('\n')}`);
}
