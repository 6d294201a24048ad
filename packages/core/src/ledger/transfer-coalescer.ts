import { isMarketkitError } from '../errors/marketkit-error.js';
import type { ParsedTransfer } from './ledger-schemas.js';
import type { CreateTransferResult } from './transfer-types.js';

/** Commits calls together in one transaction and returns one result list per call (see `applyTransferCalls`). */
export type CommitCalls = (calls: readonly (readonly ParsedTransfer[])[]) => Promise<CreateTransferResult[][]>;

interface Waiting {
  readonly batch: readonly ParsedTransfer[];
  readonly resolve: (results: CreateTransferResult[]) => void;
  readonly reject: (error: unknown) => void;
}

/**
 * Group commit for `createTransfers`: one transaction in flight per coalescer (so per `Ledger` instance, hence per
 * tenant); calls that arrive while it runs wait and go together in the next one, in arrival order, up to `maxBatch`
 * transfers (a call is never split: one larger than what is left starts the next batch). Calls made in the same
 * tick as the first go with it. The outcome equals running the calls one after another in arrival order.
 *
 * Failure isolation: a batch that throws a retryable error (connection lost, serialization retries used up) fails
 * every call in it with that error, nothing committed; any other error is not trusted to be everyone's, so the
 * batch's calls are rerun one at a time, in order, and only the call that causes it gets it.
 */
export class TransferCoalescer {
  readonly #commit: CommitCalls;
  readonly #maxBatch: number;
  readonly #queue: Waiting[] = [];
  #draining = false;

  constructor(commit: CommitCalls, maxBatch: number) {
    this.#commit = commit;
    this.#maxBatch = maxBatch;
  }

  /** Queues a validated call (synchronously: arrival order is call order) and resolves with its results. */
  submit(batch: readonly ParsedTransfer[]): Promise<CreateTransferResult[]> {
    return new Promise((resolve, reject) => {
      this.#queue.push({ batch, resolve, reject });
      if (!this.#draining) {
        this.#draining = true;
        queueMicrotask(() => void this.#drain());
      }
    });
  }

  async #drain(): Promise<void> {
    try {
      while (this.#queue.length > 0) await this.#run(this.#take());
    } finally {
      this.#draining = false;
    }
  }

  /** The longest prefix of the queue within `maxBatch` transfers (at least one call). */
  #take(): Waiting[] {
    let n = 1;
    let size = this.#queue[0]!.batch.length;
    while (n < this.#queue.length && size + this.#queue[n]!.batch.length <= this.#maxBatch) {
      size += this.#queue[n]!.batch.length;
      n++;
    }
    return this.#queue.splice(0, n);
  }

  async #run(group: readonly Waiting[]): Promise<void> {
    let results: CreateTransferResult[][];
    try {
      results = await this.#commit(group.map((w) => w.batch));
    } catch (error) {
      if (group.length === 1 || (isMarketkitError(error) && error.retryable)) {
        for (const w of group) w.reject(error);
        return;
      }
      for (const w of group) await this.#run([w]);
      return;
    }
    group.forEach((w, i) => {
      w.resolve(results[i]!);
    });
  }
}
