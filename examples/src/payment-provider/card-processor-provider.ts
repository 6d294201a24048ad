import {
  type Authorization,
  type AuthorizeRequest,
  type Capture,
  type CaptureRequest,
  MarketkitError,
  type PaymentEffect,
  type PaymentEffectsPage,
  type PaymentEffectsQuery,
  type PaymentOperation,
  type PaymentProvider,
  type PayoutRequest,
  type ProviderPayout,
  type Refund,
  type RefundRequest,
  type VoidRequest,
} from '@marketkit/core';

/** One request to the processor's REST API. Amounts travel as decimal strings of minor units (JSON has no bigint). */
export interface ProcessorRequest {
  readonly method: 'GET' | 'POST';
  readonly path: string;
  readonly body?: Readonly<Record<string, string>>;
  /** Sent as the `Idempotency-Key` header: the processor answers a repeated key with its first answer. */
  readonly idempotencyKey?: string;
  /** Aborted when the provider stops waiting. */
  readonly signal: AbortSignal;
}

/** The processor's answer: an HTTP status and a JSON body. */
export interface ProcessorResponse {
  readonly status: number;
  readonly body: Readonly<Record<string, unknown>>;
}

/** How requests reach the processor: `fetch` in an app, an in-memory processor in tests. */
export type ProcessorTransport = (request: ProcessorRequest) => Promise<ProcessorResponse>;

/**
 * A `PaymentProvider` over a card processor's REST API, the way one is written for Stripe or Adyen: each method is
 * one request carrying Marketkit's idempotency key, and each failure becomes the error code that tells Marketkit
 * what to do next.
 */
export class CardProcessorProvider implements PaymentProvider {
  readonly name = 'card-processor';
  readonly #send: ProcessorTransport;
  readonly #timeoutMs: number;

  constructor(options: { readonly transport: ProcessorTransport; readonly timeoutMs?: number }) {
    this.#send = options.transport;
    this.#timeoutMs = options.timeoutMs ?? 10_000;
  }

  async authorize(r: AuthorizeRequest): Promise<Authorization> {
    const amount = checkAmount(r.amountMinor, 'zeroAllowed');
    const body = { amount, currency: r.currency, method: r.paymentMethod, ref: r.reference };
    const created = await this.#post('authorize', '/authorizations', body, r.idempotencyKey);
    return { authorizationId: String(created['id']) };
  }

  async capture(r: CaptureRequest): Promise<Capture> {
    const path = `/authorizations/${r.authorizationId}/capture`;
    // The currency goes too: the processor refuses one other than the authorization's (it would be another sum).
    const body = { amount: checkAmount(r.amountMinor, 'zeroAllowed'), currency: r.currency };
    const created = await this.#post('capture', path, body, r.idempotencyKey);
    return { captureId: String(created['id']) };
  }

  async void(r: VoidRequest): Promise<void> {
    await this.#post('void', `/authorizations/${r.authorizationId}/void`, {}, r.idempotencyKey);
  }

  async refund(r: RefundRequest): Promise<Refund> {
    const body = { capture: r.captureId, amount: checkAmount(r.amountMinor), currency: r.currency };
    const created = await this.#post('refund', '/refunds', body, r.idempotencyKey);
    return { refundId: String(created['id']) };
  }

  async payout(r: PayoutRequest): Promise<ProviderPayout> {
    const body = { amount: checkAmount(r.amountMinor), currency: r.currency, destination: r.destination };
    const created = await this.#post('payout', '/payouts', body, r.idempotencyKey);
    return { payoutId: String(created['id']) };
  }

  /** Optional: lets `market.payments.reconcile()` compare the processor's records with the ledger. */
  async listEffects(q: PaymentEffectsQuery): Promise<PaymentEffectsPage> {
    const query = new URLSearchParams({ limit: String(q.limit) });
    if (q.from !== undefined) query.set('created_gte', String(q.from));
    if (q.to !== undefined) query.set('created_lt', String(q.to));
    if (q.cursor !== undefined) query.set('starting_after', q.cursor);
    for (const key of q.keys ?? []) query.append('key', key);
    const page = await this.#call('listEffects', { method: 'GET', path: `/effects?${query}` });
    const data = page['data'] as readonly Readonly<Record<string, string>>[];
    return { effects: data.map(toEffect), nextCursor: (page['next_cursor'] as string | null) ?? null };
  }

  #post(operation: PaymentOperation, path: string, body: Record<string, string>, idempotencyKey: string) {
    return this.#call(operation, { method: 'POST', path, body, idempotencyKey });
  }

  /** One request; every way it can fail becomes the code that tells Marketkit whether and how to retry. */
  async #call(
    operation: PaymentOperation | 'listEffects',
    request: Omit<ProcessorRequest, 'signal'>,
  ): Promise<Readonly<Record<string, unknown>>> {
    const abort = new AbortController();
    const timer = setTimeout(() => abort.abort(), this.#timeoutMs);
    let response: ProcessorResponse;
    try {
      response = await this.#send({ ...request, signal: abort.signal });
    } catch (cause) {
      // No answer: the processor may or may not have applied it. Marketkit retries with the same key.
      if (abort.signal.aborted)
        throw new MarketkitError('PROVIDER_TIMEOUT', { cause, details: { operation, timeoutMs: this.#timeoutMs } });
      throw new MarketkitError('PROVIDER_ERROR', { cause, details: { operation } });
    } finally {
      clearTimeout(timer);
    }
    const { status, body } = response;
    if (status < 300) return body;
    const message = `${this.name} ${operation}: ${String(body['message'] ?? status)}`;
    // A definitive refusal (card declined, a capture above the authorization or after a void, a refund above what is
    // left of the capture): not retried, the checkout compensates.
    if (status === 402) throw new MarketkitError('PAYMENT_DECLINED', { message, details: { operation } });
    // The key was used before with other parameters (another amount): a bug in the caller, never retried.
    if (body['code'] === 'idempotency_key_reused') {
      const key = request.idempotencyKey ?? '';
      throw new MarketkitError('IDEMPOTENCY_KEY_REUSED', { message, details: { key, operation } });
    }
    // The request is invalid (a currency other than the authorization's): final, with the field at fault.
    if (status === 422) {
      const issues = [{ path: [String(body['param'] ?? '')], message: String(body['message'] ?? 'invalid') }];
      throw new MarketkitError('VALIDATION_FAILED', { message, details: { issues } });
    }
    // Overloaded, rate limited, or the same key still in flight: retryable, with the same key.
    if (status === 409 || status === 429 || status >= 500)
      throw new MarketkitError('PROVIDER_ERROR', { message, details: { operation } });
    // Any other 4xx is a request the processor will never accept: retrying cannot help.
    throw new MarketkitError('PROVIDER_ERROR', { message, retryable: false, details: { operation } });
  }
}

/**
 * An amount as the processor takes it (a decimal string of minor units), refused before any request when negative,
 * or zero for a refund or a payout (zero authorizations and captures are allowed: a free listing's checkout).
 */
function checkAmount(amountMinor: bigint, zero: 'zeroAllowed' | 'positive' = 'positive'): string {
  if (amountMinor < 0n || (amountMinor === 0n && zero === 'positive')) {
    const message = zero === 'positive' ? 'must be more than 0' : 'must be 0 or more';
    throw new MarketkitError('VALIDATION_FAILED', {
      message: `amountMinor ${amountMinor} ${message}.`,
      details: { issues: [{ path: ['amountMinor'], message }] },
    });
  }
  return String(amountMinor);
}

/** The processor's effect record, in the shape `listEffects` returns. */
function toEffect(e: Readonly<Record<string, string>>): PaymentEffect {
  const base = {
    id: e['id']!,
    idempotencyKey: e['key']!,
    amountMinor: BigInt(e['amount']!),
    currency: e['currency']!,
    createdAt: Number(e['created']),
  };
  switch (e['type']) {
    case 'authorization': {
      const status = e['status'] as 'open' | 'captured' | 'voided';
      return { ...base, type: 'authorization', status, reference: e['ref'] ?? null };
    }
    case 'capture':
      return { ...base, type: 'capture', authorizationId: e['authorization']! };
    case 'refund':
      return { ...base, type: 'refund', captureId: e['capture']! };
    default:
      return { ...base, type: 'payout', destination: e['destination']! };
  }
}
