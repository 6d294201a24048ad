import type { Clock } from '../clock/clock.js';
import type { OutboxEventInput } from '../events/event-types.js';
import type { Idempotency } from '../idempotency/idempotency.js';
import type { IdFactory } from '../ids/id-factory.js';
import type { CommissionRule } from '../listings/listing-types.js';
import type { StockStrategy } from '../listings/stock-store.js';
import type { PaymentProvider } from '../payments/payment-provider.js';
import type { ProviderBreaker } from '../payments/provider-breaker.js';
import type { Sagas } from '../sagas/sagas.js';
import type { MarketkitTransaction, Storage } from '../storage/storage.js';
import type { Escrow } from './escrow.js';
import type { ProcessDefinition } from './process/process-definition.js';

/** What the orders engine is built from. */
export interface OrdersDeps {
  readonly storage: Storage;
  readonly clock: Clock;
  readonly ids: IdFactory;
  readonly escrow: Escrow;
  /** The payment provider; throws `VALIDATION_FAILED` when the marketplace was created without one. */
  readonly payments: () => PaymentProvider;
  /** The circuit breaker around `payments`, when the marketplace has one: checkout fails fast while it is open. */
  readonly breaker?: ProviderBreaker;
  readonly process: ProcessDefinition;
  readonly commission: CommissionRule;
  readonly stockStrategy: StockStrategy;
  /** How long a transition's provider call may stay in flight before a worker resumes it. */
  readonly pendingOpTimeoutMs: number;
  /** Stripe-style idempotency keys for checkout and transitions. */
  readonly idempotency: Idempotency;
  /** Writes outbox events in the given transaction. */
  readonly emit: (trx: MarketkitTransaction, events: readonly OutboxEventInput[]) => Promise<void>;
  /** The marketplace's sagas (provider-calling transitions run as `marketkit.order-transition`). */
  readonly sagas: () => Sagas;
}
