import type { TracerProvider } from '@opentelemetry/api';
import type { Registry } from 'prom-client';
import { Analytics } from './analytics/analytics.js';
import { type Clock, systemClock } from './clock/clock.js';

import { parseInput, ValidationError } from './errors/validation-error.js';
import type { OutboxEventInput } from './events/event-types.js';
import { type EventsOptions, MarketEvents } from './events/index.js';
import { Exports } from './exports/exports.js';
import { Idempotency } from './idempotency/idempotency.js';
import type { IdempotencyOptions } from './idempotency/idempotency-types.js';
import { createIdFactory } from './ids/id-factory.js';
import { type JobDefinition, JobRegistry } from './jobs/job-definition.js';
import { Jobs } from './jobs/jobs.js';
import { ledgerExpiryJob } from './jobs/ledger-expiry-job.js';
import { Ledger } from './ledger/ledger.js';
import type { LedgerOptions } from './ledger/ledger-options.js';
import { transferCreatedEvent } from './ledger/transfer-events.js';
import type { CommissionRule } from './listings/listing-types.js';
import { Listings, type ListingsOptions } from './listings/listings.js';
import { Leases } from './locking/leases.js';
import { traceFields } from './logging/correlation.js';
import { consoleLogger, errorFields, type Logger } from './logging/logger.js';
import { marketplaceOptionsSchema } from './marketplace-options-schema.js';
import { MarketkitMetrics } from './observability/marketkit-metrics.js';
import { Observability } from './observability/observability.js';
import { scrapeSource } from './observability/scrape-source.js';
import { Tracing } from './observability/tracing.js';
import { Escrow } from './orders/escrow.js';
import { Orders } from './orders/orders.js';
import { purchaseProcess } from './orders/process/default-purchase-process.js';
import type { ProcessDefinitionInput } from './orders/process/process-definition.js';
import { defineProcess } from './orders/process/process-validation.js';
import { observedProvider } from './payments/observed-provider.js';
import type { PaymentProvider } from './payments/payment-provider.js';
import { Payments } from './payments/payments.js';
import { ProviderBreaker, type ProviderBreakerOptions } from './payments/provider-breaker.js';
import { payoutSaga } from './payouts/payout-saga.js';
import { Payouts } from './payouts/payouts.js';
import type { SagaDefinition } from './sagas/saga-definition.js';
import { SagaRegistry } from './sagas/saga-registry.js';
import { Sagas } from './sagas/sagas.js';
import { type MigrateResult, type MigrationStatus, migrate, migrationStatus } from './schema/migrate.js';
import { backupDatabase } from './storage/backup.js';
import { type MarketkitTransaction, Storage } from './storage/storage.js';
import type { BackupResult, StorageAdapter } from './storage/storage-adapter.js';
import { WebhookFanout } from './webhooks/webhook-fanout.js';
import { resolveWebhooksOptions, type WebhooksOptions, webhooksOptionsSchema } from './webhooks/webhook-options.js';
import { Webhooks } from './webhooks/webhooks.js';
import { createWorker, type Worker } from './worker/worker.js';
import type { WorkerOptions } from './worker/worker-options.js';

/**
 * Options of {@link createMarketplace}, each checked before anything is built or connected: a bad one throws
 * `VALIDATION_FAILED` with its path (e.g. `commission.percent`).
 */
export interface MarketplaceOptions {
  /** The database backend, e.g. `sqliteAdapter({ filename })` or `postgresAdapter({ connectionString })`. */
  readonly adapter: StorageAdapter;
  /**
   * Prefix of every table Marketkit creates: lowercase letters, digits and `_`, not starting with a digit, 1–40
   * characters. Default `mk_`. Never empty (unprefixed `accounts`, `orders`, `jobs` could be the host's own).
   */
  readonly tablePrefix?: string;
  /** PostgreSQL schema for Marketkit's tables. */
  readonly schema?: string;
  /**
   * The marketplace this instance serves, where one database serves many (`acme`, `shop-42`): every row it writes
   * carries it, every statement it sends filters by it, and no statement reads or changes another tenant's rows.
   * Letters, digits and `_ . : -`, 1–63 characters. Default: the empty tenant of a database that serves one
   * marketplace. See docs/operations.md, "Many marketplaces in one database".
   */
  readonly tenant?: string;
  /** Where time comes from. Default: the system clock. */
  readonly clock?: Clock;
  /** Ledger options, e.g. `{ coalesce: true }` (group commit of concurrent `createTransfers` calls). */
  readonly ledger?: LedgerOptions;
  /** Brokers to publish events to, and relay tuning. */
  readonly events?: EventsOptions;
  /** Idempotency keys: window (`ttlMs`, default 24 h) and default `begin` lock (`lockMs`, default 60 s). */
  readonly idempotency?: IdempotencyOptions;
  /** Saga definitions the workers of this marketplace run. */
  readonly sagas?: readonly SagaDefinition[];
  /** Job (durable timer) handlers the workers of this marketplace run. */
  readonly jobs?: readonly JobDefinition[];
  /** Listings options, e.g. the stock strategy. */
  readonly listings?: ListingsOptions;
  /** The payment provider (required for checkout, refunds and payouts). Never receives card data. */
  readonly payments?: PaymentProvider;
  /**
   * A circuit breaker around `payments` (opossum), per process; off when absent. Once the provider's calls keep
   * failing retryably, new checkouts fail fast with `PROVIDER_UNAVAILABLE` (nothing written) and saga steps that
   * call the provider wait for the breaker's reset instead of using up their attempts. See docs/payments.md.
   */
  readonly providerBreaker?: ProviderBreakerOptions;
  /** The transaction process orders follow. Default: `purchaseProcess()`. Validated when loaded. */
  readonly process?: ProcessDefinitionInput;
  /**
   * The marketplace's default commission (a percentage from 0 to 100, or a fixed amount); a listing may override
   * it. Default 10 %, half-even.
   */
  readonly commission?: CommissionRule;
  /**
   * How long a provider call of a transition may stay in flight before a worker resumes it, in whole ms from 1 to
   * 2^31-1. Default 60 s.
   */
  readonly pendingOpTimeoutMs?: number;
  /**
   * Where errors nobody awaits go: the worker's (its loop, the sagas, jobs and timers it runs) and the outbox
   * relay's. pino-compatible (`error(obj, msg)`, `warn`, `info`, `debug`); Marketkit logs ids and error codes, never
   * personal data. Default {@link consoleLogger} (errors and warnings to the console); {@link silentLogger} drops
   * them. A worker's own `onError`, or the relay's, replaces it there.
   */
  readonly logger?: Logger;
  /**
   * Outgoing webhooks: whether private targets are allowed (tests, local development), the attempt timeout, the
   * retry schedule and when a failing endpoint is disabled. See docs/webhooks.md.
   */
  readonly webhooks?: WebhooksOptions;
  /**
   * Prometheus metrics: the prom-client `Registry` Marketkit registers its `marketkit_*` metrics on (several
   * marketplaces may share one; every sample carries its `tenant`). Off, at no cost, when absent. Serve it with the
   * host's `/metrics` route or `marketkitRouter(market, { metrics: { registry } })`. See docs/observability.md.
   */
  readonly metrics?: MetricsOptions;
  /**
   * OpenTelemetry traces: the `TracerProvider` to record Marketkit's spans with. Default: the global one the host's
   * SDK registered (`@opentelemetry/api`); no spans, at no cost, while there is none. See docs/observability.md.
   */
  readonly tracing?: TracingOptions;
}

/**
 * Where Marketkit's metrics go (`createMarketplace({ metrics })`).
 *
 * @example
 * ```ts
 * import { Registry } from 'prom-client';
 * const registry = new Registry();
 * const market = createMarketplace({ adapter, metrics: { registry } });
 * // later, on GET /metrics: res.type(registry.contentType).send(await registry.metrics());
 * ```
 */
export interface MetricsOptions {
  /** The prom-client registry to register the `marketkit_*` metrics on. */
  readonly registry: Registry;
}

/**
 * How Marketkit's spans are recorded (`createMarketplace({ tracing })`).
 *
 * @example
 * ```ts
 * import { BasicTracerProvider } from '@opentelemetry/sdk-trace-base';
 * const market = createMarketplace({ adapter, tracing: { tracerProvider: new BasicTracerProvider() } });
 * ```
 */
export interface TracingOptions {
  /** The provider to take Marketkit's tracer from. Default: the global provider of `@opentelemetry/api`. */
  readonly tracerProvider?: TracerProvider;
}

/** One embedded Marketkit instance. Create as many as you like; none shares state with another. */
export interface Marketplace {
  readonly ledger: Ledger;
  /** Domain events: `on(type, handler)` after commit; the outbox relay (`runOnce`, `start`, `stop`). */
  readonly events: MarketEvents;
  /** Stripe-style idempotency keys (execute / begin / complete / fail / sweepExpired). */
  readonly idempotency: Idempotency;
  readonly listings: Listings;
  /** Leases with fencing tokens for singleton work. */
  readonly leases: Leases;
  /** Orders moving through the transaction process, with escrow. */
  readonly orders: Orders;
  /** Seller payouts through the payment provider. */
  readonly payouts: Payouts;
  /** Money figures by day and currency: GMV, take rate, refunds, disputes, escrow, pending payouts. */
  readonly analytics: Analytics;
  /** Reconciliation of Marketkit's records against the payment provider's (`reconcile({ from, to })`). */
  readonly payments: Payments;
  /**
   * Exports for a warehouse: orders, transfers and order events as NDJSON or CSV streams in constant memory, each row
   * with the cursor to resume after it (`exports.orders({ format: 'csv' })`). See docs/operations.md.
   */
  readonly exports: Exports;
  /** Creates or upgrades Marketkit's tables. Safe to call from several processes at once. */
  migrate(): Promise<MigrateResult>;
  /**
   * Which migrations have run and which are pending, read without running any (for a readiness probe).
   *
   * @example
   * ```ts
   * const { pending } = await market.migrationStatus();
   * if (pending.length > 0) console.warn('schema behind the code:', pending);
   * ```
   */
  migrationStatus(): Promise<MigrationStatus>;
  /** Durable sagas: start, inspect, and operator retry/resolve of failed ones. */
  readonly sagas: Sagas;
  /** Durable timers: run this job at time T, exactly once, on any worker. */
  readonly jobs: Jobs;
  /** Outgoing webhooks: endpoints, signed deliveries from the outbox, retries, redelivery, secret rotation. */
  readonly webhooks: Webhooks;
  /**
   * A worker for this process: claims due sagas and jobs, drains the outbox, sends webhook deliveries, fires timed
   * order transitions, resumes interrupted provider calls and payouts, expires stock holds. Run one in as many processes as you like.
   */
  worker(options?: Omit<WorkerOptions, 'storage' | 'clock' | 'sagas' | 'jobs'>): Worker;
  /**
   * Copies the whole database online to the file `path`, consistent as of one commit, while the marketplace keeps
   * running (writes made during the copy wait for nothing; SQLite's online backup restarts or takes them along).
   * Open the copy with a new marketplace to restore: sagas that were in flight are resumed by its worker, and
   * `payments.reconcile` over the time since the backup finds what the provider did that the copy lacks.
   * SQLite only: on PostgreSQL it throws `BACKUP_UNSUPPORTED` (use `pg_dump -Fc` or PITR, docs/operations.md).
   * `VALIDATION_FAILED` for a path that is empty, `:memory:`, a `file:` URI, or the live database's own file.
   *
   * @example
   * ```ts
   * const market = createMarketplace({ adapter: sqliteAdapter({ filename: 'market.db' }) });
   * await market.migrate();
   * const { totalPages } = await market.backup(`backups/market-${Date.now()}.db`);
   * // restore: createMarketplace({ adapter: sqliteAdapter({ filename: 'backups/market-….db' }) }), then
   * // migrate(), start a worker, and reconcile payments from the backup's time on.
   * ```
   */
  backup(path: string): Promise<BackupResult>;
  /** Closes the database connections. */
  close(): Promise<void>;
}

/**
 * The one entry point: wires storage, the ledger and (in later versions) the other modules.
 *
 * @example
 * ```ts
 * import { createMarketplace } from '@marketkit/core';
 * import { sqliteAdapter } from '@marketkit/adapters/sqlite';
 *
 * const market = createMarketplace({ adapter: sqliteAdapter({ filename: 'market.db' }) });
 * await market.migrate();
 * await market.ledger.createAccounts([{ id: 'platform', currency: 'USD', code: 1 }]);
 * await market.close();
 * ```
 */
export function createMarketplace(options: MarketplaceOptions): Marketplace {
  const checked = parseInput(marketplaceOptionsSchema, options, 'marketplace options');
  const tenant = options.tenant ?? '';
  const metrics = options.metrics === undefined ? undefined : new MarketkitMetrics(options.metrics.registry, tenant);
  const observability = new Observability(metrics, new Tracing(options.tracing?.tracerProvider));
  const storage = new Storage(
    options.adapter,
    {
      ...(options.tablePrefix === undefined ? {} : { tablePrefix: options.tablePrefix }),
      ...(options.schema === undefined ? {} : { schema: options.schema }),
      ...(options.tenant === undefined ? {} : { tenant: options.tenant }),
    },
    observability,
  );
  const clock = options.clock ?? systemClock;
  const ids = createIdFactory();
  const logger = options.logger ?? consoleLogger;
  options.adapter.useLogger?.(logger);
  const webhookOptions = resolveWebhooksOptions(parseInput(webhooksOptionsSchema, options.webhooks ?? {}, 'webhooks'));
  const events = new MarketEvents(storage, clock, options.events, logger, [new WebhookFanout(storage, clock, ids)]);
  const idempotency = new Idempotency(storage, clock, options.idempotency);
  const ledger = new Ledger(
    storage,
    clock,
    (trx, created) => events.appendOnCommit(trx, created.map(transferCreatedEvent)),
    transferCreatedEvent,
    options.ledger,
  );
  const breaker =
    options.payments === undefined || options.providerBreaker === undefined
      ? undefined
      : new ProviderBreaker(options.payments, options.providerBreaker, logger);
  const given = breaker?.provider ?? options.payments;
  const provider = given === undefined ? undefined : observedProvider(given, observability);
  const unscraped = metrics?.addSource(scrapeSource(storage, clock, breaker));
  const payments = (): PaymentProvider => {
    if (provider === undefined) {
      const message = 'createMarketplace({ payments }) is required for checkout, refunds and payouts.';
      throw new ValidationError([{ path: ['payments'], message }], message);
    }
    return provider;
  };
  // Core's own events: nobody reads their sequence numbers, so they are written with the commit (one round trip).
  const emit = (trx: MarketkitTransaction, e: readonly OutboxEventInput[]) => events.appendOnCommit(trx, e);
  const webhooks = new Webhooks({
    storage,
    clock,
    ids,
    options: webhookOptions,
    emit,
    onError: (error) =>
      logger.error(
        { where: 'webhooks', ...traceFields(), ...errorFields(error) },
        'webhooks: recording a delivery failed',
      ),
  });
  const orders: Orders = new Orders({
    storage,
    clock,
    ids,
    escrow: new Escrow(ledger),
    payments,
    ...(breaker === undefined ? {} : { breaker }),
    process: defineProcess(options.process ?? purchaseProcess()),
    commission: checked.commission ?? { kind: 'percentage', percent: '10' },
    stockStrategy: options.listings?.stockStrategy ?? 'guardedUpdate',
    pendingOpTimeoutMs: options.pendingOpTimeoutMs ?? 60_000,
    emit,
    idempotency,
    sagas: (): Sagas => sagas,
  });
  const builtIn: SagaDefinition[] = [payoutSaga({ ledger, clock, payments, emit }), ...orders.sagaDefinitions];
  const sagas: Sagas = new Sagas(storage, new SagaRegistry([...builtIn, ...(options.sagas ?? [])]), clock, ids);
  const jobs = new Jobs(storage, new JobRegistry([ledgerExpiryJob(ledger), ...(options.jobs ?? [])]), clock, ids);
  const listings = new Listings(storage, clock, ids, idempotency, options.listings);
  const payouts = new Payouts(storage, ids, sagas, clock);
  const reconciliation = new Payments({
    storage,
    clock,
    provider: payments,
    process: orders.process,
    ...(breaker === undefined ? {} : { breaker }),
    wakeCheckout: (ref) => orders.wakeCheckout(ref),
  });
  const maintenance = [
    { name: 'outbox', runOnce: () => events.relay.runOnce() },
    webhooks.poller,
    { name: 'order-timers', runOnce: () => orders.fireDueTransitions() },
    { name: 'stock-expiry', runOnce: () => listings.expireReservations() },
    { name: 'ledger-expiry', runOnce: () => ledger.expirePendingTransfers() },
  ];
  return Object.freeze({
    ledger,
    events,
    sagas,
    jobs,
    webhooks,
    worker: (o: Omit<WorkerOptions, 'storage' | 'clock' | 'sagas' | 'jobs'> = {}): Worker =>
      createWorker({
        logger,
        ...o,
        storage,
        clock,
        sagas,
        jobs,
        extraPollers: [...maintenance, ...(o.extraPollers ?? [])],
      }),
    idempotency,
    orders,
    payouts,
    analytics: new Analytics(storage, orders.process),
    payments: reconciliation,
    listings,
    exports: new Exports(storage),
    leases: new Leases(storage, clock),
    migrate: () => migrate(storage),
    migrationStatus: () => migrationStatus(storage),
    backup: (path: string) => backupDatabase(storage, options.adapter, path),
    close: async () => {
      unscraped?.();
      breaker?.shutdown();
      await events.stop();
      await webhooks.close();
      await storage.destroy();
    },
  });
}
