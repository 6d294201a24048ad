import type { Registry } from 'prom-client';
import { instrumentsOn, type MetricInstruments, type ScrapeSource } from './metric-instruments.js';

/** What {@link MarketkitMetrics.duration} times; also the span family it goes with. */
export type ObservedOperation =
  | 'checkout'
  | 'transition'
  | 'saga_step'
  | 'provider'
  | 'ledger_batch'
  | 'relay_batch'
  | 'webhook_delivery';

/**
 * One marketplace's side of the instruments on a registry: every sample carries its tenant (`''` for a
 * single-marketplace database). Absent (`undefined`) when the host passed no registry, so call sites do
 * `metrics?.checkout(…)` and cost one check.
 * @internal built by `createMarketplace`; modules reach it through `Storage.observability`.
 */
export class MarketkitMetrics {
  readonly #m: MetricInstruments;
  readonly #tenant: string;

  constructor(registry: Registry, tenant: string) {
    this.#m = instrumentsOn(registry);
    this.#tenant = tenant;
  }

  /** Adds the scrape gauges of one marketplace; the returned function takes them away (on `close`). */
  addSource(source: ScrapeSource): () => void {
    this.#m.sources.add(source);
    return () => this.#m.sources.delete(source);
  }

  checkout(outcome: string): void {
    this.#m.checkouts.inc({ tenant: this.#tenant, outcome });
  }

  duration(operation: ObservedOperation, outcome: string, seconds: number): void {
    this.#m.duration.observe({ tenant: this.#tenant, operation, outcome }, seconds);
  }

  sagaStep(saga: string, phase: string, outcome: string): void {
    this.#m.sagaSteps.inc({ tenant: this.#tenant, saga, phase, outcome });
  }

  webhookDelivery(outcome: 'delivered' | 'failed' | 'given_up' | 'disabled'): void {
    this.#m.webhookDeliveries.inc({ tenant: this.#tenant, outcome });
  }

  providerCall(operation: string, outcome: string): void {
    this.#m.providerCalls.inc({ tenant: this.#tenant, operation, outcome });
  }

  idempotency(outcome: 'replayed' | 'conflict' | 'mismatch'): void {
    this.#m.idempotency.inc({ tenant: this.#tenant, outcome });
  }

  stockRetry(): void {
    this.#m.stockRetries.inc({ tenant: this.#tenant });
  }

  dbWait(kind: 'pool' | 'write_lock', seconds: number): void {
    this.#m.dbWait.observe({ tenant: this.#tenant, kind }, seconds);
  }

  transactionRetry(reason: string): void {
    this.#m.txRetries.inc({ tenant: this.#tenant, reason });
  }
}
