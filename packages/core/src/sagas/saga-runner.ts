import type { Clock } from '../clock/clock.js';
import { hasErrorCode, isMarketkitError } from '../errors/marketkit-error.js';
import { parseInput } from '../errors/validation-error.js';
import type { IdFactory } from '../ids/id-factory.js';
import { decodeJson, encodeJson } from '../jobs/json-column.js';
import { LeaseKeeper } from '../jobs/lease-keeper.js';
import { backoffDelay, DEFAULT_RETRY_POLICY, defaultClassify, errorSummary } from '../jobs/retry-policy.js';
import { withTimeout } from '../jobs/with-timeout.js';
import { errorCode, linkTo } from '../observability/tracing.js';
import type { MarketkitTransaction, Storage } from '../storage/storage.js';
import { fencedCommitWrite } from './saga-ctes.js';
import type { SagaDefinition, SagaStep, SagaStepContext } from './saga-definition.js';
import type { SagaRegistry } from './saga-registry.js';
import { insertProgressAndLog, writeProgressAndLog } from './saga-statements.js';
import {
  type ClaimedSaga,
  renewSagaLease,
  type SagaProgress,
  type SagaStart,
  type StepLogInput,
  type StepLogRow,
} from './saga-store.js';
import type { SagaStatus } from './saga-tables.js';
import { isStepNotReady } from './step-not-ready.js';

/** What running a claimed saga ended with (for the worker's counters and tests). */
export type SagaRunOutcome =
  | 'completed'
  | 'compensated'
  | 'failed'
  | 'retrying'
  | 'waiting'
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
   * Set by `sagas.run` when the first step is local: the saga row does not exist yet, and the first transaction
   * inserts it together with that step's writes and progress (one commit to start and run it). If that
   * transaction fails, the run rejects with {@link InlineStartFailed} and nothing was written; if the id exists
   * already, the cause is {@link AlreadyStarted}.
   */
  readonly start?: SagaStart;
  /**
   * Set by a caller that ran the saga's first steps itself and hands the rest over (the checkout's compiled
   * path): the entries of the steps it completed but did not log yet, written with the run's first commit.
   */
  readonly unlogged?: readonly Omit<StepLogInput, 'worker'>[];
  /**
   * Set with {@link unlogged} when the current step's first attempt already failed with this error in the
   * caller: the run records that attempt and decides (retry, compensate) as if it had made it, without repeating it.
   */
  readonly failure?: { readonly error: unknown };
  /**
   * Called each time the run's lease is renewed, with the lease's new end: a caller renews what it holds along with
   * the saga (an idempotency key's lock), so both last exactly as long as the work. Its failures are ignored.
   */
  readonly onRenew?: (until: number) => Promise<unknown>;
}

/** An inline run found its saga id taken: someone else started that saga. @internal */
export class AlreadyStarted extends Error {
  constructor(readonly sagaId: string) {
    super(`saga ${sagaId} exists already`);
  }
}

/** The first transaction of an inline run (saga insert + first local steps) failed; nothing was written. @internal */
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
type LogEntry = Omit<StepLogInput, 'worker'>;

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
   * Completed external steps not yet recorded: they commit with the next local step's transaction (one commit
   * fewer per saga). A crash before that re-runs them with the same idempotency keys, which is safe by design.
   */
  #deferred: LogEntry[];
  /** The saga row to insert with the first commit (inline start), until that commit happened. */
  #start: SagaStart | undefined;

  constructor(env: SagaRunEnv, claimed: ClaimedSaga, control: SagaRunControl) {
    this.#env = env;
    this.#claimed = claimed;
    this.#control = control;
    this.#start = control.start;
    this.#deferred = [...(control.unlogged ?? [])];
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
    const renew = async () => {
      const until = clock.now() + c.leaseMs;
      const held = await renewSagaLease(storage, id, version, c.owner, until);
      if (held) await c.onRenew?.(until).catch(() => {});
      return held;
    };
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
      const failure = this.#control.failure;
      if (failure !== undefined) {
        const step = def.steps[this.#state.stepIndex];
        if (step === undefined) throw new Error(`saga ${def.name}: no step ${this.#state.stepIndex}`);
        const outcome = await this.#fail(def, step, 'run', this.#state.attempts + 1, failure.error);
        if (outcome !== 'next') return outcome;
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
      const outcome =
        phase === 'run' && step.kind === 'local'
          ? await this.#runLocal(def, this.#localGroup(def), input, signal)
          : await this.#attempt(def, step, phase, input, signal);
      if (outcome !== 'next') return outcome;
    }
  }

  /**
   * The local steps that run next in one transaction: the current one and, when the saga batches local steps,
   * those right after it up to the next external step. They have no effect outside the transaction, so
   * committing them together is the same as committing each with no crash in between.
   */
  #localGroup(def: SagaDefinition): Step[] {
    const from = this.#state.stepIndex;
    const group: Step[] = [def.steps[from]!];
    if (!def.batchLocalSteps) return group;
    for (let i = from + 1; i < def.steps.length && def.steps[i]!.kind === 'local'; i++) group.push(def.steps[i]!);
    return group;
  }

  /**
   * Runs `group` (local steps, from the current one) in one transaction that also records their progress. If
   * step k > 0 fails, the steps before it commit on their own and then its failure is handled, exactly as if
   * each step had committed by itself.
   */
  async #runLocal(
    def: SagaDefinition,
    group: readonly Step[],
    input: unknown,
    signal: AbortSignal,
  ): Promise<'next' | 'retrying' | 'waiting'> {
    const s = this.#state;
    const from = s.stepIndex;
    const starting = this.#start !== undefined;
    let failedAt = -1;
    try {
      await this.#env.storage.transaction(async (trx) => {
        failedAt = -1;
        let outputs = s.outputs;
        const entries: LogEntry[] = [];
        for (let k = 0; k < group.length; k++) {
          const step = group[k]!;
          const attempt = k === 0 ? s.attempts + 1 : 1;
          let detail: unknown;
          try {
            detail = this.#output(def, step, await this.#work(def, step, 'run', attempt, input, outputs, signal, trx));
          } catch (error) {
            failedAt = k;
            throw error;
          }
          outputs = { ...outputs, [step.name]: detail };
          entries.push({
            stepIndex: from + k,
            stepName: step.name,
            phase: 'run',
            outcome: 'completed',
            attempt,
            detail,
          });
        }
        const next = from + group.length;
        const last = next >= def.steps.length;
        const status = last ? 'completed' : 'running';
        await this.#write(
          trx,
          { status, stepIndex: next, outputs },
          0,
          null,
          last ? { release: null } : 'keep',
          entries,
        );
      });
    } catch (error) {
      this.#pending = undefined;
      if (this.#fenceLost) throw error;
      if (starting) throw new InlineStartFailed(error);
      if (failedAt > 0) {
        const outcome = await this.#runLocal(def, group.slice(0, failedAt), input, signal);
        if (outcome !== 'next' || s.status !== 'running' || s.stepIndex !== from + failedAt) return outcome;
        return this.#fail(def, group[failedAt]!, 'run', s.attempts + 1, error);
      }
      return this.#fail(def, group[0]!, 'run', s.attempts + 1, error);
    }
    this.#apply();
    return 'next';
  }

  /** One attempt of an external step or of a compensation: on success its effects and the next state commit together. */
  async #attempt(
    def: SagaDefinition,
    step: Step,
    phase: 'run' | 'compensate',
    input: unknown,
    signal: AbortSignal,
  ): Promise<'next' | 'retrying' | 'waiting'> {
    const s = this.#state;
    const attempt = s.attempts + 1;
    try {
      if (step.kind === 'local') {
        await this.#env.storage.transaction(async (trx) => {
          const out = await this.#work(def, step, phase, attempt, input, s.outputs, signal, trx);
          await this.#succeed(trx, def, step, phase, attempt, out);
        });
      } else {
        const out = await this.#work(def, step, phase, attempt, input, s.outputs, signal, undefined);
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
      if (this.#fenceLost) throw error;
      return this.#fail(def, step, phase, attempt, error);
    }
  }

  /** Calls a step's `run` or `compensate` under its timeout; `trx` for a local step. */
  #work(
    def: SagaDefinition,
    step: Step,
    phase: 'run' | 'compensate',
    attempt: number,
    input: unknown,
    outputs: Readonly<Record<string, unknown>>,
    signal: AbortSignal,
    trx: MarketkitTransaction | undefined,
  ): Promise<unknown> {
    const ctx: Omit<SagaStepContext<unknown>, 'signal'> = {
      sagaId: this.#claimed.id,
      sagaName: def.name,
      input,
      outputs,
      phase,
      attempt,
      idempotencyKey: `${this.#claimed.id}:${step.name}:${phase}`,
    };
    const run = () =>
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
        `saga ${def.name} step ${step.name} (${phase})`,
      );
    const obs = this.#env.storage.observability;
    return obs.off ? run() : this.#observed(def, step, phase, attempt, run);
  }

  /**
   * An attempt in a `marketkit.saga.step` span linked to the span that started the saga, counted in
   * `marketkit_saga_steps_total` by outcome (`completed` or the error's code).
   */
  #observed(
    def: SagaDefinition,
    step: Step,
    phase: 'run' | 'compensate',
    attempt: number,
    run: () => Promise<unknown>,
  ): Promise<unknown> {
    const obs = this.#env.storage.observability;
    const attributes = () => ({
      'marketkit.saga_id': this.#claimed.id,
      'marketkit.saga': def.name,
      'marketkit.step': step.name,
      'marketkit.phase': phase,
      'marketkit.attempt': attempt,
    });
    const counted = async () => {
      try {
        const out = await run();
        obs.metrics?.sagaStep(def.name, phase, 'completed');
        return out;
      } catch (error) {
        obs.metrics?.sagaStep(def.name, phase, errorCode(error));
        throw error;
      }
    };
    return obs.observe('saga_step', 'marketkit.saga.step', attributes, counted, () =>
      linkTo(this.#claimed.traceContext),
    );
  }

  /** A step's output, validated by its schema and as it reads back from storage. */
  #output(def: SagaDefinition, step: Step, out: unknown): unknown {
    const value = step.output === undefined ? out : parseInput(step.output, out, `${def.name}.${step.name} output`);
    return roundTrip(value);
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
      detail = this.#output(def, step, out);
      const outputs = { ...s.outputs, [step.name]: detail };
      const last = index + 1 >= def.steps.length;
      next = { status: last ? 'completed' : 'running', stepIndex: index + 1, outputs };
    } else {
      // What a compensation reports (say, what it reversed) is kept in the step log for operators.
      detail = out === undefined ? null : roundTrip(out);
      const prev = previousCompensable(def, index - 1);
      next = { status: prev < 0 ? 'compensated' : 'compensating', stepIndex: prev, outputs: s.outputs };
    }
    const done = next.status === 'completed' || next.status === 'compensated';
    // A compensation keeps the error that made the saga compensate, for operators.
    await this.#write(trx, next, 0, phase === 'run' ? null : undefined, done ? { release: null } : 'keep', [
      { stepIndex: index, stepName: step.name, phase, outcome: 'completed', attempt, detail },
    ]);
  }

  /** Moves past a completed external step in memory; its record commits with the next write. */
  #defer(def: SagaDefinition, step: Step, attempt: number, out: unknown): void {
    const s = this.#state;
    const detail = this.#output(def, step, out);
    this.#deferred.push({
      stepIndex: s.stepIndex,
      stepName: step.name,
      phase: 'run',
      outcome: 'completed',
      attempt,
      detail,
    });
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
  ): Promise<'next' | 'retrying' | 'waiting'> {
    const s = this.#state;
    if (isStepNotReady(error)) {
      // Not a failure: rescheduled with the attempts counted so far, so waiting never spends the retry budget.
      const detail = { waiting: error.reason, retryAt: error.retryAt };
      const entry = {
        stepIndex: s.stepIndex,
        stepName: step.name,
        phase,
        attempt,
        outcome: 'waiting',
        detail,
      } as const;
      await this.#env.storage.transaction((trx) =>
        this.#write(trx, s, s.attempts, null, { release: error.retryAt }, [entry]),
      );
      return 'waiting';
    }
    const policy = step.retry ?? DEFAULT_RETRY_POLICY;
    const kind = (step.classify ?? defaultClassify)(error);
    const summary = errorSummary(error);
    const entry = { stepIndex: s.stepIndex, stepName: step.name, phase, attempt, detail: summary } as const;
    // A call its breaker refused (PROVIDER_UNAVAILABLE) was never made: it waits for the breaker's reset and does
    // not use up an attempt, so a long outage neither burns the retries nor compensates a payment.
    const waitMs = refusedCallWaitMs(error);
    if (kind === 'retryable' && waitMs !== undefined) {
      const retryAt = this.#env.clock.now() + waitMs;
      await this.#env.storage.transaction((trx) =>
        this.#write(trx, s, attempt - 1, summary, { release: retryAt }, [{ ...entry, outcome: 'retrying' }]),
      );
      return 'retrying';
    }
    if (kind === 'retryable' && attempt < policy.attempts) {
      const retryAt = this.#env.clock.now() + backoffDelay(policy, attempt);
      await this.#env.storage.transaction((trx) =>
        this.#write(trx, s, attempt, summary, { release: retryAt }, [{ ...entry, outcome: 'retrying' }]),
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
      this.#write(trx, { ...next, outputs: s.outputs }, 0, summary, lease, [{ ...entry, outcome: 'failed' }]),
    );
    this.#apply();
    return 'next';
  }

  /** A write of the current state without moving it (unknown saga, invalid input, release on stop). */
  async #commit(error: unknown, lease: LeaseChange): Promise<void> {
    await this.#env.storage.transaction((trx) => this.#write(trx, this.#state, this.#state.attempts, error, lease, []));
    this.#apply();
  }

  /**
   * The fenced progress write of a transaction, with its step-log entries: the deferred external step's (if
   * any), then `entries`. One statement on PostgreSQL, two on SQLite. On an inline start it inserts the saga
   * instead, and throws {@link AlreadyStarted} when the id is taken.
   */
  async #write(
    trx: MarketkitTransaction,
    next: Pick<State, 'status' | 'stepIndex' | 'outputs'>,
    attempts: number,
    error: unknown,
    lease: LeaseChange,
    entries: readonly LogEntry[],
  ): Promise<void> {
    const { storage, clock, ids } = this.#env;
    const worker = this.#control.owner;
    const log: StepLogRow[] = [];
    // Ids in this order, so that the log (ordered by id) lists the deferred steps first.
    for (const e of this.#deferred) log.push({ id: ids('sst'), entry: { ...e, worker } });
    for (const e of entries) log.push({ id: ids('sst'), entry: { ...e, worker } });
    const now = clock.now();
    const progress: SagaProgress = {
      status: next.status,
      stepIndex: next.stepIndex,
      outputs: next.outputs,
      attempts,
      lastError: error,
      lease: lease === 'keep' ? 'keep' : { nextRunAt: lease.release },
    };
    const start = this.#start;
    if (start !== undefined) {
      if (!(await insertProgressAndLog(trx, storage, start, progress, log, now))) throw new AlreadyStarted(start.id);
    } else if (storage.queuesCommitWrites && storage.adapter.capabilities.writableCtes) {
      // Nobody reads the write's result: it goes with the COMMIT, and raises (rolling the step back) if the fence
      // no longer holds.
      const { id, version } = this.#claimed;
      const lost = () => {
        this.#fenceLost = true;
      };
      await storage.onCommit(trx, fencedCommitWrite(storage, id, version, progress, log, now, lost));
    } else {
      try {
        await writeProgressAndLog(trx, storage, this.#claimed.id, this.#claimed.version, progress, log, now);
      } catch (e) {
        if (hasErrorCode(e, 'LEASE_LOST')) this.#fenceLost = true;
        throw e;
      }
    }
    this.#pending = { status: next.status, stepIndex: next.stepIndex, outputs: { ...next.outputs }, attempts };
  }

  /** Moves the in-memory state to what the last committed transaction wrote. */
  #apply(): void {
    if (this.#pending !== undefined) Object.assign(this.#state, this.#pending);
    this.#pending = undefined;
    this.#deferred = [];
    this.#start = undefined;
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

/** How long a step refused by an open provider breaker waits (its `retryAfterMs`, at least 1 ms); else `undefined`. */
function refusedCallWaitMs(error: unknown): number | undefined {
  if (!isMarketkitError(error) || error.code !== 'PROVIDER_UNAVAILABLE') return undefined;
  const { retryAfterMs } = error.details as { retryAfterMs?: unknown };
  return typeof retryAfterMs === 'number' ? Math.max(1, retryAfterMs) : undefined;
}
