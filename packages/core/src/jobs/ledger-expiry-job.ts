import { z } from 'zod';
import type { Clock } from '../clock/clock.js';
import type { Ledger } from '../ledger/ledger.js';
import { defineJob, type JobDefinition } from './job-definition.js';
import type { Jobs } from './jobs.js';

/** The kind of the built-in job that expires timed-out pending transfers. */
export const LEDGER_EXPIRY_JOB = 'marketkit.ledger.expire-pending';

const payloadSchema = z.object({ everyMs: z.number().int().positive() });

/**
 * A built-in periodic job: releases pending transfers whose timeout passed (`ledger.expirePendingTransfers()`),
 * then schedules its next run `everyMs` later, in the same transaction as its completion. One run per period
 * across all workers: each run's dedupe key is its time slot.
 *
 * @example
 * ```ts
 * const registry = new JobRegistry([ledgerExpiryJob(market.ledger)]);
 * await scheduleLedgerExpiry(jobs, clock, 60_000); // from any number of processes: one chain of runs
 * ```
 */
export function ledgerExpiryJob(ledger: Ledger): JobDefinition<typeof payloadSchema> {
  return defineJob(LEDGER_EXPIRY_JOB, {
    payload: payloadSchema,
    retry: { attempts: 5, minTimeoutMs: 1000, maxTimeoutMs: 30_000, factor: 2 },
    run: async ({ payload, runAt }) => {
      while ((await ledger.expirePendingTransfers()) > 0) {
        // drain in batches
      }
      const next = slotOf(runAt, payload.everyMs) + payload.everyMs;
      return {
        followUps: [{ kind: LEDGER_EXPIRY_JOB, runAt: next, payload, dedupeKey: `${LEDGER_EXPIRY_JOB}:${next}` }],
      };
    },
  });
}

/** Starts the chain of {@link ledgerExpiryJob} runs (idempotent: safe to call at every process start). */
export async function scheduleLedgerExpiry(jobs: Jobs, clock: Clock, everyMs = 60_000): Promise<void> {
  const slot = slotOf(clock.now(), everyMs);
  await jobs.scheduleJob(undefined, {
    kind: LEDGER_EXPIRY_JOB,
    runAt: slot,
    payload: { everyMs },
    dedupeKey: `${LEDGER_EXPIRY_JOB}:${slot}`,
  });
}

function slotOf(t: number, everyMs: number): number {
  return Math.floor(t / everyMs) * everyMs;
}
