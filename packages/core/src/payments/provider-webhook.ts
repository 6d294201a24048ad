/**
 * What a provider's webhook handler answers for one delivery it accepted (its signature verified): the event, and
 * what Marketkit did with it. A handler refuses a delivery that is not the provider's by throwing
 * `WEBHOOK_SIGNATURE_INVALID` (400), and a failure that a redelivery may fix (the database away) by throwing a
 * retryable error (5xx), so the provider delivers the event again.
 */
export interface ProviderWebhookOutcome {
  /** The provider's id of the event (`evt_…`). */
  readonly eventId: string;
  /** The event's type (`payment_intent.succeeded`). */
  readonly type: string;
  /**
   * True when the event concerns Marketkit (a payment's customer action, say) and was passed on; false when it was
   * acknowledged and ignored (a type Marketkit does not follow).
   */
  readonly handled: boolean;
  /** True when Marketkit had handled an event with this id already: nothing ran again. */
  readonly duplicate: boolean;
  /** The order the event woke, when one matched; `null` otherwise. */
  readonly orderId: string | null;
  /** That order's state after the wake (`paid`, `cancelled`, still `awaitingCustomer`); `null` without an order. */
  readonly orderState: string | null;
}

/**
 * A provider's incoming-webhook endpoint, transport-free: the raw body as received (the signature covers its exact
 * bytes, so it must not be parsed and re-serialized first) and the signature header. `@marketkit/express` mounts one
 * at `POST /v1/webhooks/<provider>` (`marketkitRouter(market, { providerWebhooks: { stripe: handler } })`); any other
 * server calls it the same way.
 *
 * Contract: the signature is the authentication (no other credentials); a delivery twice, late or out of order is
 * answered as the first (idempotent per event id); an event type the handler does not follow is acknowledged.
 *
 * @example
 * ```ts
 * app.post('/stripe-webhooks', express.raw({ type: 'application/json' }), async (req, res) => {
 *   const outcome = await handler.handleProviderWebhook(req.body, req.get('stripe-signature'));
 *   res.json({ received: true, ...outcome });
 * });
 * ```
 */
export interface ProviderWebhookHandler {
  /** The provider's name, the path segment it is mounted at (`stripe`). */
  readonly provider: string;
  /**
   * Verifies the delivery's signature, then handles the event. Throws `WEBHOOK_SIGNATURE_INVALID` for a delivery the
   * provider did not sign (or signed too long ago), `VALIDATION_FAILED` for a signed body that is not an event.
   */
  handleProviderWebhook(
    rawBody: string | Uint8Array,
    signatureHeader: string | undefined,
  ): Promise<ProviderWebhookOutcome>;
}
