import type { Attributes, Link, Span } from '@opentelemetry/api';
import type { MarketkitMetrics, ObservedOperation } from './marketkit-metrics.js';
import { Tracing } from './tracing.js';

/**
 * Metrics and traces of one marketplace, in one place: every module reaches it through `Storage.observability`.
 * Both off by default; {@link observe} then runs the work and nothing else.
 * @internal built by `createMarketplace`.
 */
export class Observability {
  readonly metrics: MarketkitMetrics | undefined;
  readonly tracing: Tracing;

  constructor(metrics?: MarketkitMetrics, tracing: Tracing = new Tracing()) {
    this.metrics = metrics;
    this.tracing = tracing;
  }

  /** Whether both are off: a hot path then calls its work directly, allocating nothing for observation. */
  get off(): boolean {
    return this.metrics === undefined && !this.tracing.on;
  }

  /**
   * Runs `work` as `operation`: in span `name` with `attributes()` (ids only) when tracing is on, timed into
   * `marketkit_operation_duration_seconds` when metrics are on; `work()` alone when both are off.
   */
  observe<T>(
    operation: ObservedOperation,
    name: string,
    attributes: () => Attributes,
    work: (span?: Span) => Promise<T>,
    links?: () => Link[],
  ): Promise<T> {
    const traced = this.tracing.on;
    if (!traced && this.metrics === undefined) return work();
    const timed = this.metrics === undefined ? work : (span?: Span) => this.#timed(operation, () => work(span));
    return traced ? this.tracing.span(name, attributes(), timed, links?.()) : timed();
  }

  async #timed<T>(operation: ObservedOperation, work: () => Promise<T>): Promise<T> {
    const started = performance.now();
    let outcome = 'ok';
    try {
      return await work();
    } catch (error) {
      outcome = 'error';
      throw error;
    } finally {
      this.metrics?.duration(operation, outcome, (performance.now() - started) / 1000);
    }
  }
}

/** Observability with everything off: what a `Storage` built outside `createMarketplace` has. @internal */
export const NO_OBSERVABILITY = new Observability();
