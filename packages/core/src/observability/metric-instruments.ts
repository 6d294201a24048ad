import { Counter, Gauge, Histogram, type Registry } from 'prom-client';

/** What a marketplace reports when its registry is scraped: the gauges that need a query or a look at process state. */
export interface ScrapeSource {
  /** Live (`running`, `compensating`) and parked (`failed`) sagas by name and status, of this source's tenant. */
  sagas(): Promise<readonly { readonly saga: string; readonly status: string; readonly count: number }[]>;
  /** Undelivered outbox events and the age of the oldest, in seconds (0 when none). */
  outbox(): Promise<{ readonly backlog: number; readonly lagSeconds: number }>;
  /** The provider breaker: 0 closed, 1 half-open, 2 open; `undefined` without a breaker. */
  breakerState(): number | undefined;
  readonly tenant: string;
}

/** Seconds, from a millisecond to a minute: a checkout's statements up to a slow provider call. */
const DURATION_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];

/**
 * Marketkit's prom-client instruments on one registry, shared by every marketplace (tenant) that reports to it, with
 * the scrape sources of those marketplaces: the query gauges ask each source on every scrape.
 * @internal
 */
export class MetricInstruments {
  readonly sources = new Set<ScrapeSource>();
  readonly checkouts: Counter<'tenant' | 'outcome'>;
  readonly duration: Histogram<'tenant' | 'operation' | 'outcome'>;
  readonly sagaSteps: Counter<'tenant' | 'saga' | 'phase' | 'outcome'>;
  readonly webhookDeliveries: Counter<'tenant' | 'outcome'>;
  readonly providerCalls: Counter<'tenant' | 'operation' | 'outcome'>;
  readonly idempotency: Counter<'tenant' | 'outcome'>;
  readonly stockRetries: Counter<'tenant'>;
  readonly dbWait: Histogram<'tenant' | 'kind'>;
  readonly txRetries: Counter<'tenant' | 'reason'>;

  constructor(registry: Registry) {
    const registers = [registry];
    const sources = this.sources;
    this.checkouts = new Counter({
      name: 'marketkit_checkouts_total',
      help: 'Checkouts that ended, by outcome: paid, requires_action, or the error code they failed with.',
      labelNames: ['tenant', 'outcome'],
      registers,
    });
    this.duration = new Histogram({
      name: 'marketkit_operation_duration_seconds',
      help: 'Time taken by an operation, by outcome (ok or error): (checkout, transition, saga_step, provider, ledger_batch, relay_batch, webhook_delivery).',
      labelNames: ['tenant', 'operation', 'outcome'],
      buckets: DURATION_BUCKETS,
      registers,
    });
    this.sagaSteps = new Counter({
      name: 'marketkit_saga_steps_total',
      help: 'Attempts of saga steps and compensations, by saga, phase and outcome (completed or the error code).',
      labelNames: ['tenant', 'saga', 'phase', 'outcome'],
      registers,
    });
    new Gauge({
      name: 'marketkit_sagas',
      help: 'Live (running, compensating) and parked (failed) sagas, by saga and status, counted on scrape.',
      labelNames: ['tenant', 'saga', 'status'],
      registers,
      async collect() {
        this.reset();
        for (const source of sources) {
          for (const r of await source.sagas())
            this.set({ tenant: source.tenant, saga: r.saga, status: r.status }, r.count);
        }
      },
    });
    new Gauge({
      name: 'marketkit_sagas_parked',
      help: 'Sagas parked as failed, waiting for an operator to retry or resolve them, counted on scrape.',
      labelNames: ['tenant'],
      registers,
      async collect() {
        this.reset();
        for (const source of sources) {
          const parked = (await source.sagas()).filter((r) => r.status === 'failed');
          this.set(
            { tenant: source.tenant },
            parked.reduce((sum, r) => sum + r.count, 0),
          );
        }
      },
    });
    new Gauge({
      name: 'marketkit_outbox_backlog',
      help: 'Outbox events not yet delivered to every sink, counted on scrape.',
      labelNames: ['tenant'],
      registers,
      async collect() {
        this.reset();
        for (const source of sources) this.set({ tenant: source.tenant }, (await source.outbox()).backlog);
      },
    });
    new Gauge({
      name: 'marketkit_outbox_lag_seconds',
      help: 'Age of the oldest undelivered outbox event (0 when none), read on scrape.',
      labelNames: ['tenant'],
      registers,
      async collect() {
        this.reset();
        for (const source of sources) this.set({ tenant: source.tenant }, (await source.outbox()).lagSeconds);
      },
    });
    this.webhookDeliveries = new Counter({
      name: 'marketkit_webhook_deliveries_total',
      help: 'Webhook delivery attempts, by outcome: delivered, failed (to be retried), given_up, disabled.',
      labelNames: ['tenant', 'outcome'],
      registers,
    });
    this.providerCalls = new Counter({
      name: 'marketkit_provider_calls_total',
      help: 'Payment provider calls, by operation and outcome (ok, or the error code).',
      labelNames: ['tenant', 'operation', 'outcome'],
      registers,
    });
    new Gauge({
      name: 'marketkit_provider_breaker_state',
      help: 'The provider circuit breaker in this process: 0 closed, 1 half-open, 2 open (absent without a breaker).',
      labelNames: ['tenant'],
      registers,
      collect() {
        this.reset();
        for (const source of sources) {
          const state = source.breakerState();
          if (state !== undefined) this.set({ tenant: source.tenant }, state);
        }
      },
    });
    this.idempotency = new Counter({
      name: 'marketkit_idempotency_total',
      help: 'Idempotency keys seen again: replayed (stored result returned), conflict (still in flight), mismatch (reused with another request).',
      labelNames: ['tenant', 'outcome'],
      registers,
    });
    this.stockRetries = new Counter({
      name: 'marketkit_stock_contention_retries_total',
      help: 'Stock reservations retried because a concurrent writer changed the listing first.',
      labelNames: ['tenant'],
      registers,
    });
    this.dbWait = new Histogram({
      name: 'marketkit_db_wait_seconds',
      help: 'Time waiting for the database: a pooled connection (pool) or the write lock (write_lock, SQLite).',
      labelNames: ['tenant', 'kind'],
      buckets: DURATION_BUCKETS,
      registers,
    });
    this.txRetries = new Counter({
      name: 'marketkit_db_transaction_retries_total',
      help: 'Transactions rerun after a serialization failure, a deadlock or a unique violation.',
      labelNames: ['tenant', 'reason'],
      registers,
    });
  }
}

const byRegistry = new WeakMap<Registry, MetricInstruments>();

/** The instruments on `registry`, made on its first marketplace (prom-client refuses a metric name twice). @internal */
export function instrumentsOn(registry: Registry): MetricInstruments {
  let instruments = byRegistry.get(registry);
  if (instruments === undefined) {
    instruments = new MetricInstruments(registry);
    byRegistry.set(registry, instruments);
  }
  return instruments;
}
