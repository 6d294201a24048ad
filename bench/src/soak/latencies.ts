/**
 * Per-operation latency in constant memory: one native HDR histogram (`perf_hooks.createHistogram`) per operation,
 * in microseconds, so a long run does not keep its samples (which would show as heap growth of the bench itself).
 */
import { createHistogram, type RecordableHistogram } from 'node:perf_hooks';

/** Counts and latency of one operation, errors by code. */
export class OperationStats {
  readonly histogram: RecordableHistogram = createHistogram();
  /** Latency since the last {@link takeWindow}, for the per-sample columns. */
  window: RecordableHistogram = createHistogram();
  readonly errors = new Map<string, number>();

  record(ms: number): void {
    const us = Math.max(1, Math.round(ms * 1000));
    this.histogram.record(us);
    this.window.record(us);
  }

  fail(code: string): void {
    this.errors.set(code, (this.errors.get(code) ?? 0) + 1);
  }

  /** The window's p99 in ms (0 when empty), and a fresh window. */
  takeWindow(): { count: number; p99: number } {
    const w = this.window;
    this.window = createHistogram();
    return { count: w.count, p99: w.count === 0 ? 0 : w.percentile(99) / 1000 };
  }
}

/** {@link OperationStats} by operation name, in the order first seen. */
export class Latencies {
  readonly ops = new Map<string, OperationStats>();

  of(name: string): OperationStats {
    let s = this.ops.get(name);
    if (s === undefined) {
      s = new OperationStats();
      this.ops.set(name, s);
    }
    return s;
  }

  /**
   * Runs `fn` and records its latency under `name`; an error is recorded under its code (`code` of a
   * MarketkitError, else its name) and rethrown.
   */
  async time<T>(name: string, fn: () => Promise<T>): Promise<T> {
    const started = performance.now();
    try {
      const value = await fn();
      this.of(name).record(performance.now() - started);
      return value;
    } catch (error) {
      this.of(name).fail(codeOf(error));
      throw error;
    }
  }
}

/** A MarketkitError's code, else the error's name. */
export function codeOf(error: unknown): string {
  const code = (error as { code?: unknown } | null)?.code;
  if (typeof code === 'string') return code;
  return error instanceof Error ? error.name : String(error);
}
