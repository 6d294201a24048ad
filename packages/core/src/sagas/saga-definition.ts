import { z } from 'zod';
import { parseInput } from '../errors/validation-error.js';
import { type ErrorClass, type RetryPolicy, retryPolicySchema } from '../jobs/retry-policy.js';
import type { MarketkitTransaction } from '../storage/storage.js';

/** What every step (and compensation) receives. */
export interface SagaStepContext<I> {
  readonly sagaId: string;
  readonly sagaName: string;
  /** The saga's validated input. */
  readonly input: I;
  /** Outputs of the steps completed so far, by step name, as read back from storage (bigints as strings). */
  readonly outputs: Readonly<Record<string, unknown>>;
  readonly phase: 'run' | 'compensate';
  /** 1 on the first attempt of this step (or compensation) in this phase. */
  readonly attempt: number;
  /**
   * `<sagaId>:<step>:<phase>`: the same on every attempt and every worker, so an external service that honours
   * idempotency keys applies the effect at most once however often the step is re-run.
   */
  readonly idempotencyKey: string;
  /** Aborted when the step's `timeoutMs` passes or the worker lost its lease. */
  readonly signal: AbortSignal;
}

/** What a local step receives: also the open transaction in which the saga's progress will commit. */
export interface LocalStepContext<I> extends SagaStepContext<I> {
  /** Write through this: the step's writes and the saga's progress commit together, or neither does. */
  readonly trx: MarketkitTransaction;
}

/** What every step declares besides its work. */
interface SagaStepBase {
  /** Unique within the saga; part of the idempotency key, so never rename a step of a deployed saga. */
  readonly name: string;
  /** Retries of `run` and of `compensate`. Default {@link DEFAULT_RETRY_POLICY}. */
  readonly retry?: RetryPolicy;
  /** Fails an attempt that takes longer (as retryable `PROVIDER_TIMEOUT`) and aborts `ctx.signal`. */
  readonly timeoutMs?: number;
  /** Which errors are worth retrying. Default: a Marketkit error's `retryable` flag; any other error retries. */
  classify?(error: unknown): ErrorClass;
  /** Validates (and shapes) what `run` returns before it is stored. */
  readonly output?: z.ZodType;
}

/**
 * A step whose work is database writes: `run` gets `ctx.trx`, and its writes commit in the same transaction as
 * the saga's progress, so the step takes effect exactly once. `run` must have no effect outside `ctx.trx`: the
 * transaction may be re-run on a serialization failure. Its compensation runs in a transaction the same way.
 */
export interface LocalSagaStep<I> extends SagaStepBase {
  readonly kind: 'local';
  /** The step's work; what it returns is recorded as the step's result. */
  run(ctx: LocalStepContext<I>): Promise<unknown>;
  /** Undoes the step when a later step fails permanently; runs in reverse order of the steps. */
  compensate?(ctx: LocalStepContext<I>): Promise<unknown>;
}

/**
 * A step that calls another system (a payment provider). Its result is recorded after it returns, so a crash in
 * between re-runs it: pass `ctx.idempotencyKey` to the service so the effect is applied once. If it fails
 * permanently, its own `compensate` runs too (the outcome of the failed call is unknown), so a compensation must
 * accept that there may be nothing to undo.
 */
export interface ExternalSagaStep<I> extends SagaStepBase {
  readonly kind: 'external';
  /** The step's work; what it returns is recorded as the step's result. */
  run(ctx: SagaStepContext<I>): Promise<unknown>;
  /** Undoes the step when a later step fails permanently; runs in reverse order of the steps. */
  compensate?(ctx: SagaStepContext<I>): Promise<unknown>;
}

/** One step of a saga. */
export type SagaStep<I> = LocalSagaStep<I> | ExternalSagaStep<I>;

/** A validated saga definition, made by {@link defineSaga}. */
export interface SagaDefinition<S extends z.ZodType = z.ZodType> {
  readonly name: string;
  readonly input: S;
  readonly steps: readonly SagaStep<z.output<S>>[];
  /**
   * Whether consecutive local steps commit in one transaction (with one progress record for them all) rather
   * than one transaction each. Default true: local steps have no effect outside their transaction, so the
   * saga's outcome is the same either way, with fewer commits. A failure of a later step in the batch is
   * handled as if the earlier ones had committed on their own.
   */
  readonly batchLocalSteps: boolean;
}

const nameSchema = z
  .string()
  .min(1)
  .max(100)
  .regex(/^[A-Za-z0-9_.:-]+$/, 'letters, digits and _ . : -');
const specSchema = z.object({
  name: nameSchema,
  steps: z
    .array(
      z.looseObject({
        name: nameSchema,
        kind: z.enum(['local', 'external']),
        run: z.custom<() => unknown>((v) => typeof v === 'function', 'must be a function'),
        compensate: z.custom<() => unknown>((v) => typeof v === 'function', 'must be a function').optional(),
        retry: retryPolicySchema.optional(),
        timeoutMs: z.number().int().positive().max(86_400_000).optional(),
      }),
    )
    .min(1)
    .max(100)
    .refine((steps) => new Set(steps.map((s) => s.name)).size === steps.length, 'step names must be unique'),
  batchLocalSteps: z.boolean().optional(),
});

/**
 * Declares a durable saga: steps run in order, each retried with backoff, each recorded in the database as it
 * completes; a permanent failure runs the compensations of the completed steps in reverse order.
 *
 * @example
 * ```ts
 * const payout = defineSaga('payout', {
 *   input: z.object({ sellerId: z.string(), amount: z.coerce.bigint() }),
 *   steps: [
 *     { name: 'hold', kind: 'local', run: async ({ trx, input }) => holdFunds(trx, input),
 *       compensate: async ({ trx, input }) => releaseFunds(trx, input) },
 *     { name: 'send', kind: 'external', retry: { attempts: 5, minTimeoutMs: 200 },
 *       run: async ({ idempotencyKey, input }) => psp.payout({ idempotencyKey, ...input }) },
 *   ],
 * });
 * ```
 */
export function defineSaga<S extends z.ZodType>(
  name: string,
  spec: {
    readonly input: S;
    readonly steps: readonly SagaStep<z.output<S>>[];
    /** See {@link SagaDefinition.batchLocalSteps}; default true. */
    readonly batchLocalSteps?: boolean;
  },
): SagaDefinition<S> {
  parseInput(specSchema, { name, steps: spec.steps, batchLocalSteps: spec.batchLocalSteps }, `saga ${name}`);
  return Object.freeze({
    name,
    input: spec.input,
    steps: Object.freeze([...spec.steps]),
    batchLocalSteps: spec.batchLocalSteps ?? true,
  });
}
