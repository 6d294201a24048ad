/**
 * Renews the lease on a claimed saga or job every third of its length while a worker runs it, and aborts
 * `signal` once the lease is found lost, so long work can give up early. Safety does not rest on this: the
 * fenced write that records the work fails anyway once the lease was taken over.
 * @internal
 */
export class LeaseKeeper {
  readonly #controller = new AbortController();
  readonly #timer: ReturnType<typeof setInterval>;
  #renewing = false;

  /** `renew` extends the lease and resolves to false when it is gone. */
  constructor(renew: () => Promise<boolean>, leaseMs: number, what: string) {
    this.#timer = setInterval(
      () => {
        if (this.#renewing) return;
        this.#renewing = true;
        renew()
          .then((held) => {
            if (!held) this.#controller.abort(new Error(`lease of ${what} lost`));
          })
          .catch(() => {}) // retried on the next tick; the fence still protects the commit
          .finally(() => {
            this.#renewing = false;
          });
      },
      Math.max(20, Math.floor(leaseMs / 3)),
    );
    this.#timer.unref?.();
  }

  /** Aborted when the lease was found lost. */
  get signal(): AbortSignal {
    return this.#controller.signal;
  }

  stop(): void {
    clearInterval(this.#timer);
  }
}
