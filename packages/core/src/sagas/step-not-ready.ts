const BRAND = Symbol.for('marketkit.StepNotReady');

/**
 * Thrown by a saga step that cannot complete yet and is not failing (it waits for something outside: a customer's
 * 3-D Secure action, say): the saga is rescheduled at `retryAt`, its lease released, and the step run again then,
 * without counting an attempt against its retry policy (the step log records a `waiting` entry). The step bounds its
 * own waiting: once waiting no longer makes sense it throws a real error.
 *
 * @example
 * ```ts
 * run: async ({ input }) => {
 *   if ((await psp.authorizationStatus!(input.authorizationId)) === 'requires_action')
 *     throw new StepNotReady(Date.now() + 10_000, 'waiting for the customer');
 *   return null;
 * },
 * ```
 */
export class StepNotReady extends Error {
  /** Brands the error so it is recognised across copies of the package (ESM and CJS). */
  readonly [BRAND] = true;

  /**
   * @param retryAt When to run the step again (ms since the epoch, by the marketplace's clock).
   * @param reason What the step waits for, for the step log.
   */
  constructor(
    readonly retryAt: number,
    readonly reason: string,
  ) {
    super(reason);
    this.name = 'StepNotReady';
  }
}

/** Whether `error` is a {@link StepNotReady} (from any copy of the package). */
export function isStepNotReady(error: unknown): error is StepNotReady {
  return typeof error === 'object' && error !== null && (error as Record<symbol, unknown>)[BRAND] === true;
}
