import type { Clock } from '../clock/clock.js';
import { hasErrorCode } from '../errors/marketkit-error.js';
import { parseInput } from '../errors/validation-error.js';
import type { IdFactory } from '../ids/id-factory.js';
import { decodeJson, encodeJson } from '../jobs/json-column.js';
import { LeaseKeeper } from '../jobs/lease-keeper.js';
import { backoffDelay, DEFAULT_RETRY_POLICY, defaultClassify, errorSummary } from '../jobs/retry-policy.js';
import { withTimeout } from '../jobs/with-timeout.js';
import type { MarketkitTransaction, Storage } from '../storage/storage.js';
import type { SagaDefinition, SagaStep, SagaStepContext } from './saga-definition.js';
import type { SagaRegistry } from './saga-registry.js';
import {
  type ClaimedSaga,
  renewSagaLease,
  type StepLogInput,
  type StepLogRow,
  writeProgressAndLog,
} from './saga-store.js';
import type { SagaStatus } from './saga-tables.js';

/** What running a claimed saga ended with (for the worker's counters and tests). */
export type SagaRunOutcome =
  | 'completed'
  | 'compensated'
  | 'failed'
  | 'retrying'
  | 'released'
  | 'lease-lost'
  | 'unknown-saga';

/** How the worker steers a saga it runs. @internal */
export interface SagaRunControl {
  readonly owner: string;
  readonly leaseMs: number;
  /** True once the worker is stopping: the saga is released after the step in progress. */
  isStopping(): boolean;
  /**
   * Runs first inside the transaction of the first step, when that step is local: `sagas.run` inserts the saga
   * row there, so starting and the first step share one commit. If that transaction fails, the run rejects with
   * {@link InlineStartFailed} and nothing was written.
   */
  readonly prelude?: (trx: MarketkitTransaction) => Promise<void>;
}

/** The first transaction of an inline run (saga insert + first local step) failed; nothing was written. @internal */
export class InlineStartFailed extends Error {
  constructor(override readonly cause: unknown) {
    super('inline start failed', { cause });
  }
}

/** @internal */
export interface SagaRunEnv {
  readonly storage: Storage;
  readonly clock: Clock;
  readonly ids: IdFactory;
  readonly registry: SagaRegistry;
}

interface State {
  status: SagaStatus;
  stepIndex: number;
  outputs: Record<string, unknown>;
  attempts: number;
}

/** `keep` leaves the lease as it is; a number or `null` releases it with that next run time. */
type LeaseChange = 'keep' | { readonly release: number | null };

type Step = SagaStep<unknown>;

/**
 * Runs a claimed saga until it ends, waits for a retry, is released on stop, or its lease is lost. Every step
 * (or compensation) commits its effects and the saga's progress in one fenced transaction.
 * @internal
 */
export async function runClaimedSaga(env: SagaRunEnv, claimed: ClaimedSaga, control: SagaRunControl) {
  return new SagaRun(env, claimed, control).run();
}

class SagaRun {
  readonly #env: SagaRunEnv;
  readonly #claimed: ClaimedSaga;
  readonly #control: SagaRunControl;
  readonly #state: State;
  #fenceLost = false;
  /** The state the transaction in progress writes; applied to `#state` only once it committed. */
  #pending: State | undefined;
  /**
   * A completed external step not yet recorded: it commits with the next local step's transaction (one commit
   * fewer per saga). A crash before that re-runs it with the same idempotency key, which is safe by design.
   */
  #deferred: Omit<StepLogInput, 'worker'> | undefined;
  #prelude: ((trx: MarketkitTransaction) => Promise<void>) | undefined;

  constructor(env: SagaRunEnv, claimed: ClaimedSaga, control: SagaRunControl) {
    this.#env = env;
    this.#claimed = claimed;
    this.#control = control;
    this.#prelude = control.prelude;
    this.#state = {
      status: claimed.status,
      stepIndex: claimed.stepIndex,
      outputs: { ...claimed.outputs },
      attempts: claimed.attempts,
    };
  }

  async run(): Promise<SagaRunOutcome> {
    const { storage, clock } = this.#env;
    const def = this.#env.registry.get(this.#claimed.name);
    if (def === undefined) {
      const error = { code: 'NOT_FOUND', message: `No saga named ${this.#claimed.name} is registered here.` };
      await this.#commit(error, { release: clock.now() + this.#control.leaseMs });
      return 'unknown-saga';
    }
    const c = this.#control;
    const { id, version } = this.#claimed;
    const renew = () => renewSagaLease(storage, id, version, c.owner, clock.now() + c.leaseMs);
    const keeper = new LeaseKeeper(renew, c.leaseMs, `saga ${id}`);
    try {
      let input: unknown;
      try {
        input = parseInput(def.input, this.#claimed.input, `saga ${def.name} input`);
      } catch (error) {
        this.#state.status = 'failed';
        await this.#commit(errorSummary(error), { release: null });
        return 'failed';
      }
      return await this.#loop(def, input, keeper.signal);
    } catch (error) {
      if (this.#fenceLost) return 'lease-lost';
      throw error;
    } finally {
      keeper.stop();
    }
  }

  async #loop(def: SagaDefinition, input: unknown, signal: AbortSignal): Promise<SagaRunOutcome> {
    const s = this.#state;
    for (;;) {
      if (s.status !== 'running' && s.status !== 'compensating') return s.status as SagaRunOutcome;
      if (this.#control.isStopping()) {
        await this.#commit(null, { release: this.#env.clock.now() });
        return 'released';
      }
      const phase = s.status === 'running' ? 'run' : 'compensate';
      const step = def.steps[s.stepIndex];
      if (step === undefined) throw new Error(`saga ${def.name}: no step ${s.stepIndex}`);
      const outcome = await this.#attempt(def, step, phase, input, signal);
      if (outcome === 'retrying') return 'retrying';
    }
  }

  /** One attempt of `step` in `phase`: on success its effects and the next state commit together. */
  async #attempt(
    def: SagaDefinition,
    step: Step,
    phase: 'run' | 'compensate',
    input: unknown,
    signal: AbortSignal,
  ): Promise<'next' | 'retrying'> {
    const s = this.#state;
    const attempt = s.attempts + 1;
    const ctx: Omit<SagaStepContext<unknown>, 'signal'> = {
      sagaId: this.#claimed.id,
      sagaName: def.name,
      input,
      outputs: s.outputs,
      phase,
      attempt,
      idempotencyKey: `${this.#claimed.id}:${step.name}:${phase}`,
    };
    const what = `saga ${def.name} step ${step.name} (${phase})`;
    const work = (trx: MarketkitTransaction | undefined) =>
      withTimeout(
        async (sig) => {
          if (phase === 'run')
            return step.kind === 'local'
              ? step.run({ ...ctx, signal: sig, trx: trx! })
              : step.run({ ...ctx, signal: sig });
          if (step.kind === 'local') return step.compensate?.({ ...ctx, signal: sig, trx: trx! });
          return step.compensate?.({ ...ctx, signal: sig });
        },
        step.timeoutMs,
        signal,
        what,
      );
    const prelude = this.#prelude;
    this.#prelude = undefined;
    try {
      if (step.kind === 'local') {
        try {
          await this.#env.storage.transaction(async (trx) => {
            if (prelude !== undefined) await prelude(trx);
            const out = await work(trx);
            await this.#succeed(trx, def, step, phase, attempt, out);
          });
        } catch (error) {
          if (prelude !== undefined) throw new InlineStartFailed(error);
          throw error;
        }
      } else {
        const out = await work(undefined);
        if (phase === 'run' && def.steps[s.stepIndex + 1]?.kind === 'local') {
          this.#defer(def, step, attempt, out);
          return 'next';
        }
        await this.#env.storage.transaction((trx) => this.#succeed(trx, def, step, phase, attempt, out));
      }
      this.#apply();
      return 'next';
    } catch (error) {
      this.#pending = undefined;
      if (this.#fenceLost || error instanceof InlineStartFailed) throw error;
      return this.#fail(def, step, phase, attempt, error);
    }
  }

  /** Records a successful attempt and moves the saga on, in the step's transaction. */
  async #succeed(
    trx: MarketkitTransaction,
    def: SagaDefinition,
    step: Step,
    phase: 'run' | 'compensate',
    attempt: number,
    out: unknown,
  ): Promise<void> {
    const s = this.#state;
    const index = s.stepIndex;
    let detail: unknown = null;
    let next: { status: SagaStatus; stepIndex: number; outputs: Record<string, unknown> };
    if (phase === 'run') {
      const value = step.output === undefined ? out : parseInput(step.output, out, `${def.name}.${step.name} output`);
      detail = roundTrip(value);
      const outputs = { ...s.outputs, [step.name]: detail };
      const last = index + 1 >= def.steps.length;
      next = { status: last ? 'completed' : 'running', stepIndex: index + 1, outputs };
    } else {
      const prev = previousCompensable(def, index - 1);
      next = { status: prev < 0 ? 'compensated' : 'compensating', stepIndex: prev, outputs: s.outputs };
    }
    const done = next.status === 'completed' || next.status === 'compensated';
    // A compensation keeps the error that made the saga compensate, for operators.
    await this.#write(trx, next, 0, phase === 'run' ? null : undefined, done ? { release: null } : 'keep', {
      stepIndex: index,
      stepName: step.name,
      phase,
      outcome: 'completed',
      attempt,
      detail,
    });
  }

  /** Moves past a completed external step in memory; its record commits with the next write. */
  #defer(def: SagaDefinition, step: Step, attempt: number, out: unknown): void {
    const s = this.#state;
    const value = step.output === undefined ? out : parseInput(step.output, out, `${def.name}.${step.name} output`);
    const detail = roundTrip(value);
    this.#deferred = {
      stepIndex: s.stepIndex,
      stepName: step.name,
      phase: 'run',
      outcome: 'completed',
      attempt,
      detail,
    };
    s.outputs = { ...s.outputs, [step.name]: detail };
    s.stepIndex += 1;
    s.attempts = 0;
  }

  /** Decides, after a failed attempt, between a durable retry, compensating and parking. */
  async #fail(
    def: SagaDefinition,
    step: Step,
    phase: 'run' | 'compensate',
    attempt: number,
    error: unknown,
  ): Promise<'next' | 'retrying'> {
    const s = this.#state;
    const policy = step.retry ?? DEFAULT_RETRY_POLICY;
    const kind = (step.classify ?? defaultClassify)(error);
    const summary = errorSummary(error);
    const entry = { stepIndex: s.stepIndex, stepName: step.name, phase, attempt, detail: summary } as const;
    if (kind === 'retryable' && attempt < policy.attempts) {
      const retryAt = this.#env.clock.now() + backoffDelay(policy, attempt);
      await this.#env.storage.transaction((trx) =>
        this.#write(trx, s, attempt, summary, { release: retryAt }, { ...entry, outcome: 'retrying' }),
      );
      return 'retrying';
    }
    let next: Pick<State, 'status' | 'stepIndex'>;
    if (phase === 'run') {
      // A local step's writes rolled back with it; an external step's outcome is unknown, so it is compensated too.
      const prev = previousCompensable(def, step.kind === 'external' ? s.stepIndex : s.stepIndex - 1);
      next = { status: prev < 0 ? 'compensated' : 'compensating', stepIndex: prev };
    } else {
      next = { status: 'failed', stepIndex: s.stepIndex };
    }
    const lease: LeaseChange = next.status === 'compensating' ? 'keep' : { release: null };
    await this.#env.storage.transaction((trx) =>
      this.#write(trx, { ...next, outputs: s.outputs }, 0, summary, lease, { ...entry, outcome: 'failed' }),
    );
    this.#apply();
    return 'next';
  }

  /** A write of the current state without moving it (unknown saga, invalid input, release on stop). */
  async #commit(error: unknown, lease: LeaseChange): Promise<void> {
    await this.#env.storage.transaction((trx) => this.#write(trx, this.#state, this.#state.attempts, error, lease));
    this.#apply();
  }

  /**
   * The fenced progress write of a transaction, with its step-log entries: the deferred external step's (if
   * any), then `entry`. One statement on PostgreSQL, two on SQLite.
   */
  async #write(
    trx: MarketkitTransaction,
    next: Pick<State, 'status' | 'stepIndex' | 'outputs'>,
    attempts: number,
    error: unknown,
    lease: LeaseChange,
    entry?: Omit<StepLogInput, 'worker'>,
  ): Promise<void> {
    const { storage, clock, ids } = this.#env;
    const worker = this.#control.owner;
    const log: StepLogRow[] = [];
    // Ids in this order, so that the log (ordered by id) lists the deferred step first.
    if (this.#deferred !== undefined) log.push({ id: ids('sst'), entry: { ...this.#deferred, worker } });
    if (entry !== undefined) log.push({ id: ids('sst'), entry: { ...entry, worker } });
    const now = clock.now();
    try {
      await writeProgressAndLog(
        trx,
        storage.adapter,
        this.#claimed.id,
        this.#claimed.version,
        {
          status: next.status,
          stepIndex: next.stepIndex,
          outputs: next.outputs,
          attempts,
          lastError: error,
          lease: lease === 'keep' ? 'keep' : { nextRunAt: lease.release },
        },
        log,
        now,
      );
    } catch (e) {
      if (hasErrorCode(e, 'LEASE_LOST')) this.#fenceLost = true;
      throw e;
    }
    this.#pending = { status: next.status, stepIndex: next.stepIndex, outputs: { ...next.outputs }, attempts };
  }

  /** Moves the in-memory state to what the last committed transaction wrote. */
  #apply(): void {
    if (this.#pending !== undefined) Object.assign(this.#state, this.#pending);
    this.#pending = undefined;
    this.#deferred = undefined;
  }
}

/** The highest index ≤ `from` of a step with a compensation, or -1. */
function previousCompensable(def: SagaDefinition, from: number): number {
  for (let i = Math.min(from, def.steps.length - 1); i >= 0; i--) if (def.steps[i]?.compensate !== undefined) return i;
  return -1;
}

/** What a value reads back as from storage (bigints as strings), so every attempt sees the same outputs. */
function roundTrip(value: unknown): unknown {
  return decodeJson(encodeJson(value));
}
