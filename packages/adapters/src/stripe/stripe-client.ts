/*
 * The part of the official `stripe` client the provider calls, typed structurally (as kysely types its drivers):
 * a `new Stripe(key)` instance fits, and this package never imports `stripe` itself.
 */

/** Per-request options of the Stripe client; the provider always passes `idempotencyKey`. */
export interface StripeRequestOptions {
  readonly idempotencyKey?: string;
}

/** A page of a Stripe list, which the client also lets one iterate over every page of (auto-pagination). */
export type StripeListing<T> = AsyncIterable<T>;

/** The fields of a Stripe PaymentIntent the provider reads. */
export interface StripePaymentIntentLike {
  readonly id: string;
  readonly amount: number;
  readonly amount_received: number;
  readonly currency: string;
  readonly created: number;
  readonly status: string;
  readonly metadata: Readonly<Record<string, string>>;
  /** The secret the buyer's page confirms the PaymentIntent with (Stripe.js runs 3-D Secure with it). */
  readonly client_secret?: string | null;
  /** What the customer must do while `status` is `requires_action` (`use_stripe_sdk`, `redirect_to_url`, …). */
  readonly next_action?: {
    readonly type: string;
    readonly redirect_to_url?: { readonly url?: string | null } | null;
  } | null;
}

/** The fields of a Stripe Refund the provider reads. */
export interface StripeRefundLike {
  readonly id: string;
  readonly amount: number;
  readonly currency: string;
  readonly created: number;
  readonly status: string | null;
  readonly payment_intent: string | { readonly id: string } | null;
  readonly metadata: Readonly<Record<string, string>> | null;
}

/** The fields of a Stripe Transfer the provider reads. */
export interface StripeTransferLike {
  readonly id: string;
  readonly amount: number;
  readonly currency: string;
  readonly created: number;
  readonly destination: string | { readonly id: string } | null;
  readonly metadata: Readonly<Record<string, string>>;
}

/** A `created` filter of a Stripe list, in seconds since the epoch. */
export interface StripeCreatedRange {
  readonly gte?: number;
  readonly lt?: number;
}

/** The Stripe client methods the provider calls: a `Stripe` instance from the official `stripe` package. */
export interface StripeClientLike {
  readonly paymentIntents: {
    /** Creates a PaymentIntent (`POST /v1/payment_intents`). */
    create(
      params: {
        amount: number;
        currency: string;
        capture_method: 'manual';
        confirm: boolean;
        payment_method: string;
        payment_method_types: string[];
        description?: string;
        metadata: Record<string, string>;
      },
      options?: StripeRequestOptions,
    ): Promise<StripePaymentIntentLike>;
    /** Captures a PaymentIntent (`POST /v1/payment_intents/:id/capture`). */
    capture(
      id: string,
      params: { amount_to_capture: number; metadata: Record<string, string> },
      options?: StripeRequestOptions,
    ): Promise<StripePaymentIntentLike>;
    /** Retrieves a PaymentIntent (`GET /v1/payment_intents/:id`): its status now. */
    retrieve(id: string): Promise<StripePaymentIntentLike>;
    /** Cancels a PaymentIntent (`POST /v1/payment_intents/:id/cancel`). */
    cancel(id: string, params: Record<string, never>, options?: StripeRequestOptions): Promise<StripePaymentIntentLike>;
    /** Lists PaymentIntents, newest first (`GET /v1/payment_intents`), every page when iterated. */
    list(params: { limit: number; created?: StripeCreatedRange }): StripeListing<StripePaymentIntentLike>;
    /** Searches PaymentIntents (`GET /v1/payment_intents/search`, Stripe's search query language), every page when iterated. */
    search(params: { query: string; limit: number }): StripeListing<StripePaymentIntentLike>;
  };
  readonly refunds: {
    /** Refunds (part of) a PaymentIntent (`POST /v1/refunds`). */
    create(
      params: { payment_intent: string; amount: number; metadata: Record<string, string> },
      options?: StripeRequestOptions,
    ): Promise<StripeRefundLike>;
    /** Lists Refunds, newest first (`GET /v1/refunds`), every page when iterated. */
    list(params: {
      limit: number;
      created?: StripeCreatedRange;
      payment_intent?: string;
    }): StripeListing<StripeRefundLike>;
  };
  readonly transfers: {
    /** Sends money to a connected account (`POST /v1/transfers`). */
    create(
      params: {
        amount: number;
        currency: string;
        destination: string;
        transfer_group: string;
        metadata: Record<string, string>;
      },
      options?: StripeRequestOptions,
    ): Promise<StripeTransferLike>;
    /** Lists Transfers, newest first (`GET /v1/transfers`), every page when iterated. */
    list(params: {
      limit: number;
      created?: StripeCreatedRange;
      transfer_group?: string;
    }): StripeListing<StripeTransferLike>;
  };
}
