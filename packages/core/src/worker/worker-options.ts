import { z } from 'zod';
import type { Clock } from '../clock/clock.js';
import { storableText } from '../errors/storable-text.js';
import type { JobRegistry } from '../jobs/job-definition.js';
import type { Jobs } from '../jobs/jobs.js';
import type { Logger } from '../logging/logger.js';
import type { SagaRegistry } from '../sagas/saga-registry.js';
import type { Sagas } from '../sagas/sagas.js';
import type { Storage } from '../storage/storage.js';

/** Other periodic work the worker drives, e.g. the outbox relay: `runOnce()` returns how much it did. */
export interface ExtraPoller {
  readonly name: string;
  /** One round of work; returns how much it did (0 lets the worker sleep). */
  runOnce(): Promise<number>;
  /**
   * Waits for work a round launched and did not await (deliveries in flight): the worker's `stop()` calls it after
   * the loop ended, and `runOnce()` after the round, so a round's work is done when either resolves.
   */
  drain?(): Promise<void>;
}

/** Options of {@link createWorker}. */
export interface WorkerOptions {
  readonly storage: Storage;
  /** Default: the system clock. Lease expiry and due times are read from it. */
  readonly clock?: Clock;
  /** The sagas to run (an engine, or a registry the worker builds an engine on). */
  readonly sagas?: Sagas | SagaRegistry;
  /** The job kinds to run (an engine, or a registry). */
  readonly jobs?: Jobs | JobRegistry;
  /** Most sagas and jobs run at once by this worker. Default 8. */
  readonly concurrency?: number;
  /** How long to wait when nothing is due. Default 500 ms. */
  readonly pollIntervalMs?: number;
  /** How long a claim lasts without renewal; renewed every third of it while work runs. Default 30 s. */
  readonly leaseMs?: number;
  readonly extraPollers?: readonly ExtraPoller[];
  /** Lease owner name. Default `worker-<pid>-<ulid>`. */
  readonly owner?: string;
  /**
   * Called with errors of the loop (a failed claim, a lost database connection) and of the sagas, jobs and pollers it
   * runs, with where it happened (`'claim'`, `'saga <id>'`, `'job <id>'`, a poller's name); the loop goes on. Default:
   * `logger.error` with the error's code (see {@link Logger}). Given, it replaces the logging.
   */
  readonly onError?: (error: unknown, where: string) => void;
  /** Where errors go when there is no `onError`. Default `consoleLogger`; `createMarketplace({ logger })` sets it. */
  readonly logger?: Logger;
}

/** @internal */
export const workerOptionsSchema = z.looseObject({
  concurrency: z.number().int().min(1).max(1000).default(8),
  pollIntervalMs: z.number().int().min(1).max(3_600_000).default(500),
  leaseMs: z.number().int().min(100).max(3_600_000).default(30_000),
  owner: storableText().min(1).max(200).optional(),
  extraPollers: z
    .array(
      z.custom<ExtraPoller>(
        (v) => typeof (v as ExtraPoller | null)?.runOnce === 'function' && typeof (v as ExtraPoller).name === 'string',
        'must be an ExtraPoller ({ name, runOnce })',
      ),
    )
    .optional(),
  onError: z
    .custom<(error: unknown, where: string) => void>((v) => typeof v === 'function', 'must be a function')
    .optional(),
});
