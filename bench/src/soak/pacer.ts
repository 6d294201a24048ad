/**
 * Starts work at a steady rate (open loop: arrivals do not wait for completions), up to a cap in flight; an
 * arrival that finds the cap reached is skipped and counted, so saturation shows instead of queueing in memory.
 */
export class Pacer {
  inFlight = 0;
  issued = 0;
  skipped = 0;
  #timer: NodeJS.Timeout | undefined;

  constructor(
    readonly name: string,
    private readonly perSecond: number,
    private readonly cap: number,
    private readonly work: (n: number) => Promise<void>,
  ) {}

  start(): void {
    if (this.perSecond <= 0) return;
    const started = performance.now();
    let due = 0;
    this.#timer = setInterval(() => {
      const target = Math.floor(((performance.now() - started) / 1000) * this.perSecond);
      for (; due < target; due++) {
        if (this.inFlight >= this.cap) {
          this.skipped++;
          continue;
        }
        const n = this.issued++;
        this.inFlight++;
        this.work(n)
          .catch(() => {})
          .finally(() => {
            this.inFlight--;
          });
      }
    }, 20);
  }

  /** Stops starting work and waits for what is in flight. */
  async stop(): Promise<void> {
    clearInterval(this.#timer);
    while (this.inFlight > 0) await new Promise((r) => setTimeout(r, 20));
  }
}
