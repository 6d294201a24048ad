import type { TracerProvider } from '@opentelemetry/api';
import type { Registry } from 'prom-client';
import { z } from 'zod';
import type { Clock } from './clock/clock.js';
import type { Publisher } from './events/publisher.js';
import type { JobDefinition } from './jobs/job-definition.js';
import { ledgerOptionsSchema } from './ledger/ledger-options.js';
import { commissionSchema, listingsOptionsSchema } from './listings/listing-schemas.js';
import type { Logger } from './logging/logger.js';
import type { PaymentProvider } from './payments/payment-provider.js';
import type { SagaDefinition } from './sagas/saga-definition.js';
import type { StorageAdapter } from './storage/storage-adapter.js';

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null;
const hasMethods = (v: unknown, ...names: string[]): boolean =>
  isObject(v) && names.every((n) => typeof v[n] === 'function');

/** Longest wait a timer can take in Node (2^31-1 ms, about 24.8 days). */
const MAX_TIMER_MS = 2 ** 31 - 1;

/**
 * `createMarketplace` options, checked before anything is built or connected (`VALIDATION_FAILED`, with the path
 * of each bad option). `tablePrefix` and `schema` are checked by `Storage`, `idempotency` by `Idempotency`, the
 * relay tuning by the relay and `process` by `defineProcess`, each first thing in the wiring. Loose, so an option
 * a newer version adds does not fail here.
 * @internal
 */
export const marketplaceOptionsSchema = z.looseObject({
  adapter: z.custom<StorageAdapter>(
    (v) => isObject(v) && 'dialect' in v && 'classifyError' in v,
    'must be a StorageAdapter',
  ),
  clock: z.custom<Clock>((v) => typeof (v as Clock | undefined)?.now === 'function', 'must have now()').optional(),
  commission: commissionSchema.optional(),
  logger: z
    .custom<Logger>(
      (v) => hasMethods(v, 'error', 'warn', 'info', 'debug'),
      'must be a Logger (error, warn, info, debug; a pino logger is one)',
    )
    .optional(),
  pendingOpTimeoutMs: z.number().int().min(1).max(MAX_TIMER_MS).optional(),
  listings: listingsOptionsSchema.optional(),
  payments: z
    .custom<PaymentProvider>(
      (v) => hasMethods(v, 'authorize', 'capture', 'void', 'refund', 'payout'),
      'must be a PaymentProvider (authorize, capture, void, refund, payout)',
    )
    .optional(),
  providerBreaker: z
    .strictObject({
      threshold: z.number().int().min(1).max(10_000).optional(),
      errorPercentage: z.number().min(1).max(100).optional(),
      windowMs: z.number().int().min(100).max(MAX_TIMER_MS).optional(),
      resetTimeoutMs: z.number().int().min(1).max(MAX_TIMER_MS).optional(),
    })
    .optional(),
  sagas: z
    .array(
      z.custom<SagaDefinition>(
        (v) => isObject(v) && typeof v['name'] === 'string' && Array.isArray(v['steps']),
        'must be a saga definition (defineSaga)',
      ),
    )
    .optional(),
  jobs: z
    .array(
      z.custom<JobDefinition>(
        (v) => isObject(v) && typeof v['kind'] === 'string' && typeof v['run'] === 'function',
        'must be a job definition (defineJob)',
      ),
    )
    .optional(),
  events: z
    .looseObject({
      publishers: z
        .array(z.custom<Publisher>((v) => hasMethods(v, 'publish'), 'must be a Publisher ({ publish })'))
        .optional(),
      sinks: z.array(z.unknown()).optional(),
      relay: z.looseObject({}).optional(),
    })
    .optional(),
  idempotency: z.looseObject({}).optional(),
  ledger: ledgerOptionsSchema.optional(),
  process: z.looseObject({}).optional(),
  webhooks: z.looseObject({}).optional(),
  metrics: z
    .strictObject({
      registry: z.custom<Registry>(
        (v) => hasMethods(v, 'registerMetric', 'metrics', 'getSingleMetric'),
        'must be a prom-client Registry',
      ),
    })
    .optional(),
  tracing: z
    .strictObject({
      tracerProvider: z
        .custom<TracerProvider>((v) => hasMethods(v, 'getTracer'), 'must be an OpenTelemetry TracerProvider')
        .optional(),
    })
    .optional(),
});
