import { type Clock, systemClock } from '../clock/clock.js';
import { parseInput } from '../errors/validation-error.js';
import { createIdFactory } from '../ids/id-factory.js';
import { JobRegistry } from '../jobs/job-definition.js';
import type { ClaimedJob } from '../jobs/job-store.js';
import { Jobs } from '../jobs/jobs.js';
import { sagaFields, traceFields } from '../logging/correlation.js';
import { consoleLogger, errorFields, type Logger } from '../logging/logger.js';
import { SagaRegistry } from '../sagas/saga-registry.js';
import type { ClaimedSaga } from '../sagas/saga-store.js';
import { Sagas } from '../sagas/sagas.js';
import { type ExtraPoller, type WorkerOptions, workerOptionsSchema } from './worker-options.js';

/** A running worker: see {@link createWorker}. */
export interface Worker {
  /** Lease owner name written on everything this worker claims. */
  readonly owner: string;
  /** Starts the polling loops (no-op when started). */
  start(): void;
  /**
   * Stops claiming, lets each in-flight saga finish its current step and then releases it (so another worker
   * continues at once), lets in-flight jobs finish, and waits for the extra pollers' current round.
   */
  stop(): Promise<void>;
  /**
   * One round, for tests and cron-style hosts: claims due sagas and jobs (up to `concurrency` each), runs them as
   * far as they go now, then runs every extra poller once. Resolves to the number of items processed.
   */
  runOnce(): Promise<number>;
}

/**
 * Creates a worker that runs sagas, due jobs and extra pollers (the outbox relay) in this process. Start one in
 * every app process: they share the work through leases in the database (`FOR UPDATE SKIP LOCKED` on
 * PostgreSQL, a guarded claim on SQLite), and a crashed worker's claims are taken over when their lease expires.
 *
 * @example
 * ```ts
 * const worker = createWorker({ storage, sagas: new SagaRegistry([checkout]), concurrency: 16 });
 * worker.start();
 * process.on('SIGTERM', () => void worker.stop());
 * ```
 */
export function createWorker(options: WorkerOptions): Worker {
  return new MarketkitWorker(options);
}

interface Claimed {
  readonly sagas: readonly ClaimedSaga[];
  readonly jobs: readonly ClaimedJob[];
}

class MarketkitWorker implements Worker {
  readonly owner: string;
  readonly #sagas: Sagas | undefined;
  readonly #jobs: Jobs | undefined;
  readonly #concurrency: number;
  readonly #pollMs: number;
  readonly #leaseMs: number;
  readonly #pollers: readonly ExtraPoller[];
  readonly #onError: (error: unknown, where: string, fields?: Readonly<Record<string, unknown>>) => void;
  readonly #inFlight = new Set<Promise<void>>();
  #loops: Promise<void>[] = [];
  #stopping = false;
  #started = false;
  #wake: (() => void) | undefined;
  readonly #stopWaiters = new Set<() => void>();

  constructor(options: WorkerOptions) {
    const o = parseInput(workerOptionsSchema, options, 'worker options');
    const clock: Clock = options.clock ?? systemClock;
    const ids = createIdFactory();
    this.owner = o.owner ?? ids(`worker-${process.pid}`);
    this.#sagas =
      options.sagas instanceof SagaRegistry ? new Sagas(options.storage, options.sagas, clock, ids) : options.sagas;
    this.#jobs =
      options.jobs instanceof JobRegistry ? new Jobs(options.storage, options.jobs, clock, ids) : options.jobs;
    this.#concurrency = o.concurrency;
    this.#pollMs = o.pollIntervalMs;
    this.#leaseMs = o.leaseMs;
    this.#pollers = options.extraPollers ?? [];
    this.#onError = options.onError ?? logErrors(options.logger ?? consoleLogger);
  }

  start(): void {
    if (this.#started) return;
    this.#started = true;
    this.#stopping = false;
    this.#loops = [this.#mainLoop(), ...this.#pollers.map((p) => this.#pollerLoop(p))];
  }

  async stop(): Promise<void> {
    this.#stopping = true;
    this.#wake?.();
    for (const w of this.#stopWaiters) w();
    await Promise.all(this.#loops);
    await Promise.all([...this.#inFlight, ...this.#pollers.map((p) => p.drain?.())]);
    this.#loops = [];
    this.#started = false;
  }

  async runOnce(): Promise<number> {
    let n = 0;
    if (this.#sagas !== undefined) {
      const claimed = await this.#sagas.claim(this.owner, this.#concurrency, this.#leaseMs);
      await Promise.all(claimed.map((c) => this.#runSaga(c)));
      n += claimed.length;
    }
    if (this.#jobs !== undefined) {
      const claimed = await this.#jobs.claim(this.owner, this.#concurrency, this.#leaseMs);
      await Promise.all(claimed.map((c) => this.#runJob(c)));
      n += claimed.length;
    }
    for (const p of this.#pollers) {
      n += await p.runOnce();
      await p.drain?.();
    }
    return n;
  }

  async #mainLoop(): Promise<void> {
    while (!this.#stopping) {
      const free = this.#concurrency - this.#inFlight.size;
      if (free <= 0) {
        await this.#sleep(this.#pollMs * 10);
        continue;
      }
      let claimed = 0;
      try {
        claimed = this.#claimAndLaunch(await this.#claim(free));
      } catch (error) {
        this.#onError(error, 'claim');
      }
      if (claimed < free) await this.#sleep(this.#pollMs);
    }
  }

  async #claim(free: number): Promise<Claimed> {
    const sagas =
      this.#sagas === undefined || this.#stopping ? [] : await this.#sagas.claim(this.owner, free, this.#leaseMs);
    const left = free - sagas.length;
    const jobs =
      this.#jobs === undefined || left <= 0 || this.#stopping
        ? []
        : await this.#jobs.claim(this.owner, left, this.#leaseMs);
    return { sagas, jobs };
  }

  #claimAndLaunch(claimed: Claimed): number {
    for (const s of claimed.sagas) this.#launch(() => this.#runSaga(s));
    for (const j of claimed.jobs) this.#launch(() => this.#runJob(j));
    return claimed.sagas.length + claimed.jobs.length;
  }

  #launch(task: () => Promise<void>): void {
    const p: Promise<void> = task()
      .catch((error: unknown) => this.#onError(error, 'run'))
      .finally(() => {
        this.#inFlight.delete(p);
        this.#wake?.();
      });
    this.#inFlight.add(p);
  }

  async #runSaga(claimed: ClaimedSaga): Promise<void> {
    const control = { owner: this.owner, leaseMs: this.#leaseMs, isStopping: () => this.#stopping };
    try {
      await this.#sagas?.execute(claimed, control);
    } catch (error) {
      this.#onError(error, `saga ${claimed.id}`, sagaFields(claimed));
    }
  }

  async #runJob(claimed: ClaimedJob): Promise<void> {
    try {
      await this.#jobs?.execute(claimed, { owner: this.owner, leaseMs: this.#leaseMs });
    } catch (error) {
      this.#onError(error, `job ${claimed.id}`, { jobId: claimed.id, job: claimed.kind, ...traceFields() });
    }
  }

  async #pollerLoop(poller: ExtraPoller): Promise<void> {
    while (!this.#stopping) {
      let n = 0;
      try {
        n = await poller.runOnce();
      } catch (error) {
        this.#onError(error, poller.name);
      }
      if (n === 0) await this.#sleepUntilStop(this.#pollMs);
    }
  }

  /** Sleeps `ms`, or until a task finishes or the worker stops. */
  #sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      const self = this;
      function done() {
        clearTimeout(timer);
        if (self.#wake === done) self.#wake = undefined;
        resolve();
      }
      this.#wake = done;
    });
  }

  #sleepUntilStop(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.#stopWaiters.delete(done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.#stopWaiters.add(done);
    });
  }
}

/** The default `onError`: the error's code (never a foreign error's message) and where it happened, as an error. */
function logErrors(
  logger: Logger,
): (error: unknown, where: string, fields?: Readonly<Record<string, unknown>>) => void {
  return (error, where, fields) => {
    try {
      logger.error({ where, ...(fields ?? traceFields()), ...errorFields(error) }, `worker: ${where} failed`);
    } catch {
      // A throwing logger must not stop the worker's loop.
    }
  };
}
