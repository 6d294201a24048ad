import type {
  Authorization,
  AuthorizationState,
  AuthorizeRequest,
  Capture,
  CaptureRequest,
  CustomerAction,
  PaymentEffectsPage,
  PaymentEffectsQuery,
  PaymentOperation,
  PaymentProvider,
  PayoutRequest,
  ProviderPayout,
  Refund,
  RefundRequest,
  VoidRequest,
} from '@marketkit/core';
import { MarketkitError, parseInput } from '@marketkit/core';
import { z } from 'zod';
import type { StripeClientLike, StripePaymentIntentLike } from './stripe-client.js';
import { toStripeAmount } from './stripe-currencies.js';
import { listStripeEffects, STRIPE_METADATA } from './stripe-effects.js';
import { stripeErrorToMarketkit } from './stripe-errors.js';

/** Options of {@link stripePaymentProvider}. */
export interface StripePaymentProviderOptions {
  /** A client from the official `stripe` package: `new Stripe(secretKey, { maxNetworkRetries: 0 })`. */
  readonly stripe: StripeClientLike;
  /** The provider's name in logs and errors; default `'stripe'`. */
  readonly name?: string;
  /**
   * The connected account (`acct_…`) a payout goes to, from the payout's destination (the one it was requested
   * with, `market.payouts.request({ destination })`, else the seller's stored with `market.payouts.setDestination`).
   * Default: the destination is the connected account id itself.
   */
  readonly accountFor?: (destination: string) => string | Promise<string>;
  /** `payment_method_types` of the PaymentIntents; default `['card']` (no redirect-based methods). */
  readonly paymentMethodTypes?: readonly string[];
}

/** Stripe's PaymentIntent statuses as the port's authorization states. */
const STATUS: Readonly<Record<string, AuthorizationState | undefined>> = {
  requires_capture: 'authorized',
  succeeded: 'authorized',
  requires_action: 'requires_action',
  requires_confirmation: 'requires_action',
  processing: 'requires_action',
  requires_payment_method: 'failed',
  canceled: 'canceled',
};

/** What the customer must do for a `requires_action` PaymentIntent: its client secret, and a redirect if any. */
function customerAction(intent: StripePaymentIntentLike): CustomerAction {
  if (typeof intent.client_secret !== 'string' || intent.client_secret === '') {
    throw new MarketkitError('PROVIDER_ERROR', {
      message: `Stripe authorize: PaymentIntent ${intent.id} needs the customer's action and carries no client_secret.`,
      details: { operation: 'authorize' },
      retryable: false,
    });
  }
  const url = intent.next_action?.redirect_to_url?.url;
  return { clientSecret: intent.client_secret, ...(typeof url === 'string' ? { redirectUrl: url } : {}) };
}

const optionsSchema = z.object({
  stripe: z.custom<StripeClientLike>(
    (v) =>
      typeof v === 'object' &&
      v !== null &&
      ['paymentIntents', 'refunds', 'transfers'].every((k) => typeof (v as Record<string, unknown>)[k] === 'object'),
    'must be a Stripe client (new Stripe(key))',
  ),
  name: z.string().min(1).max(100).optional(),
  accountFor: z.custom<(destination: string) => string | Promise<string>>((v) => typeof v === 'function').optional(),
  paymentMethodTypes: z.array(z.string().min(1)).min(1).readonly().optional(),
});

/**
 * A `PaymentProvider` on Stripe, through the official `stripe` client:
 * - `authorize`: a PaymentIntent with `capture_method: 'manual'`, confirmed with the buyer's payment method at once
 *   (`confirm: true`); its id is the authorization id. A card that needs 3-D Secure (`requires_action`) answers with
 *   `customerAction: { clientSecret }` (the PaymentIntent's `client_secret`, plus `redirectUrl` for a redirect flow):
 *   the host's page runs the action with Stripe.js, and the checkout waits for it (see docs/payments.md).
 * - `authorizationStatus`: retrieves the PaymentIntent and maps its status (see the method).
 * - `capture`: captures the PaymentIntent (`amount_to_capture`, full or partial); the capture id is the PaymentIntent id.
 *   Stripe refuses a capture above the authorization, a second capture and a capture after a void: `PAYMENT_DECLINED`.
 * - `void`: cancels the PaymentIntent; refused after a capture (`PAYMENT_DECLINED`).
 * - `refund`: a Refund of the PaymentIntent, full or partial; Stripe refuses one above what is left (`PAYMENT_DECLINED`).
 * - A capture or refund in another currency than the PaymentIntent's is refused (`VALIDATION_FAILED`) before it is
 *   sent: Stripe's capture and refund take no currency. So is an amount of zero or less (no refund or payout of 0).
 * - `payout`: a Connect Transfer to the seller's connected account (`accountFor(destination)`).
 * - `listEffects`: PaymentIntents, Refunds and Transfers made with Marketkit's keys, read back from their metadata.
 *
 * Every call passes Marketkit's idempotency key as Stripe's `idempotencyKey`, so a retried call is replayed by Stripe,
 * never repeated. Amounts go through {@link toStripeAmount} (zero-decimal and three-decimal currencies, ISK). Stripe's
 * errors map onto the port's codes by {@link stripeErrorToMarketkit}. Create the client with `maxNetworkRetries: 0`:
 * Marketkit's sagas retry, with the same key.
 *
 * @example
 * ```ts
 * import Stripe from 'stripe';
 * import { stripePaymentProvider } from '@marketkit/adapters/stripe';
 * const payments = stripePaymentProvider({ stripe: new Stripe(process.env.STRIPE_KEY!, { maxNetworkRetries: 0 }) });
 * const market = createMarketplace({ adapter, payments });
 * ```
 */
export function stripePaymentProvider(options: StripePaymentProviderOptions): PaymentProvider {
  parseInput(optionsSchema, options, 'stripePaymentProvider options');
  return new StripePaymentProvider(options);
}

class StripePaymentProvider implements PaymentProvider {
  readonly name: string;
  readonly #stripe: StripeClientLike;
  readonly #accountFor: (destination: string) => string | Promise<string>;
  readonly #methodTypes: string[];

  constructor(o: StripePaymentProviderOptions) {
    this.name = o.name ?? 'stripe';
    this.#stripe = o.stripe;
    this.#accountFor = o.accountFor ?? ((d) => d);
    this.#methodTypes = [...(o.paymentMethodTypes ?? ['card'])];
  }

  async authorize(r: AuthorizeRequest): Promise<Authorization> {
    const amount = toStripeAmount(r.amountMinor, r.currency);
    const intent = await this.#call('authorize', r.idempotencyKey, (idempotencyKey) =>
      this.#stripe.paymentIntents.create(
        {
          amount,
          currency: r.currency.toLowerCase(),
          capture_method: 'manual',
          confirm: true,
          payment_method: r.paymentMethod,
          payment_method_types: this.#methodTypes,
          metadata: { [STRIPE_METADATA.key]: r.idempotencyKey, [STRIPE_METADATA.reference]: r.reference },
        },
        { idempotencyKey },
      ),
    );
    if (intent.status === 'requires_capture') return { authorizationId: intent.id };
    if (intent.status === 'requires_action')
      return { authorizationId: intent.id, customerAction: customerAction(intent) };
    throw new MarketkitError('PAYMENT_DECLINED', {
      message: `Stripe authorize: the PaymentIntent is ${intent.status}, not authorized (${intent.id}).`,
      details: { operation: 'authorize' },
    });
  }

  /**
   * Retrieves the PaymentIntent and maps its status: `requires_capture` (and `succeeded`, once captured) →
   * `authorized`; `requires_action`, `requires_confirmation`, `processing` → `requires_action` (the customer, or
   * Stripe, has not finished); `requires_payment_method` (the action failed, or the card was declined) → `failed`;
   * `canceled` → `canceled`.
   */
  async authorizationStatus(authorizationId: string): Promise<AuthorizationState> {
    const intent = await this.#call('authorizationStatus', authorizationId, () =>
      this.#stripe.paymentIntents.retrieve(authorizationId),
    );
    const state = STATUS[intent.status];
    if (state !== undefined) return state;
    throw new MarketkitError('PROVIDER_ERROR', {
      message: `Stripe authorizationStatus: PaymentIntent ${intent.id} has an unknown status ${intent.status}.`,
      details: { operation: 'authorizationStatus' },
      retryable: false,
    });
  }

  async capture(r: CaptureRequest): Promise<Capture> {
    const amount = toStripeAmount(r.amountMinor, r.currency);
    await this.#sameCurrency('capture', r.idempotencyKey, r.authorizationId, r.currency);
    const intent = await this.#call('capture', r.idempotencyKey, (idempotencyKey) =>
      this.#stripe.paymentIntents.capture(
        r.authorizationId,
        { amount_to_capture: amount, metadata: { [STRIPE_METADATA.captureKey]: r.idempotencyKey } },
        { idempotencyKey },
      ),
    );
    return { captureId: intent.id };
  }

  async void(r: VoidRequest): Promise<void> {
    await this.#call('void', r.idempotencyKey, (idempotencyKey) =>
      this.#stripe.paymentIntents.cancel(r.authorizationId, {}, { idempotencyKey }),
    );
  }

  async refund(r: RefundRequest): Promise<Refund> {
    const amount = toStripeAmount(r.amountMinor, r.currency);
    await this.#sameCurrency('refund', r.idempotencyKey, r.captureId, r.currency);
    const refund = await this.#call('refund', r.idempotencyKey, (idempotencyKey) =>
      this.#stripe.refunds.create(
        { payment_intent: r.captureId, amount, metadata: { [STRIPE_METADATA.key]: r.idempotencyKey } },
        { idempotencyKey },
      ),
    );
    return { refundId: refund.id };
  }

  async payout(r: PayoutRequest): Promise<ProviderPayout> {
    const amount = toStripeAmount(r.amountMinor, r.currency);
    const destination = await this.#accountFor(r.destination);
    const transfer = await this.#call('payout', r.idempotencyKey, (idempotencyKey) =>
      this.#stripe.transfers.create(
        {
          amount,
          currency: r.currency.toLowerCase(),
          destination,
          transfer_group: r.idempotencyKey,
          metadata: { [STRIPE_METADATA.key]: r.idempotencyKey },
        },
        { idempotencyKey },
      ),
    );
    return { payoutId: transfer.id };
  }

  /**
   * Lists the PaymentIntents, Refunds and Transfers made with Marketkit's keys (read from their metadata) as
   * effects, oldest first. Stripe dates objects to the second and keeps no capture time, so a capture is dated by
   * its PaymentIntent. A query by `keys` alone searches the PaymentIntents of the orders the keys name (Stripe's search
   * sees a change within about a minute), their refunds, and the transfers grouped under the other keys (payout ids); a key of another
   * shape is looked for as a transfer group and as `<reference>:<suffix>` (its prefixes searched as references).
   */
  listEffects(query: PaymentEffectsQuery): Promise<PaymentEffectsPage> {
    return listStripeEffects(this.#stripe, query).catch((e: unknown) => {
      throw stripeErrorToMarketkit(e, 'listEffects', '');
    });
  }

  /**
   * Refuses (`VALIDATION_FAILED`) a capture or refund in another currency than its PaymentIntent's. Stripe's capture
   * and refund take no currency: they would move `amount` in the PaymentIntent's currency, another sum of money.
   */
  async #sameCurrency(op: PaymentOperation, key: string, intentId: string, currency: string): Promise<void> {
    const intent = await this.#call(op, key, () => this.#stripe.paymentIntents.retrieve(intentId));
    if (intent.currency.toUpperCase() === currency.toUpperCase()) return;
    throw new MarketkitError('VALIDATION_FAILED', {
      message: `Stripe ${op}: the request is in ${currency.toUpperCase()}, the PaymentIntent ${intentId} in ${intent.currency.toUpperCase()}.`,
      details: {
        issues: [
          { path: ['currency'], message: `must be the PaymentIntent's currency, ${intent.currency.toUpperCase()}` },
        ],
      },
    });
  }

  async #call<T>(
    op: PaymentOperation | 'authorizationStatus',
    key: string,
    run: (key: string) => Promise<T>,
  ): Promise<T> {
    try {
      return await run(key);
    } catch (error) {
      throw stripeErrorToMarketkit(error, op, key);
    }
  }
}
