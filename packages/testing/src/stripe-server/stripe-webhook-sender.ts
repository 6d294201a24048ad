import { createHmac } from 'node:crypto';
import type { StripeEventObject } from './stripe-objects.js';

/** Where the test server sends its events, as a Stripe webhook endpoint. */
export interface StripeWebhookEndpoint {
  /** The URL deliveries are POSTed to (`http://127.0.0.1:3000/api/v1/webhooks/stripe`). */
  readonly url: string;
  /** The endpoint's signing secret (`whsec_…`): deliveries carry `Stripe-Signature: t=…,v1=HMAC-SHA256(t.body)`. */
  readonly secret: string;
  /** The event types sent; default every type (`['*']`). */
  readonly enabledEvents?: readonly string[];
}

/**
 * A fault injected into the next delivery (of a type, or of any):
 * - `drop`: never delivered (recorded with status `null`); {@link StripeWebhookSender.redeliver} sends it later;
 * - `twice`: delivered twice, the second right after the first answered;
 * - `hold`: kept back until {@link StripeWebhookSender.releaseHeld}, which can send held events newest first (out
 *   of order), after later events went out;
 * - `{ delayMs }`: delivered that long after it was raised (late, after events raised later).
 */
export type StripeWebhookFault = 'drop' | 'twice' | 'hold' | { readonly delayMs: number };

/** One delivery attempt: the endpoint's status (`null` when dropped or the request failed). */
export interface StripeWebhookDelivery {
  readonly eventId: string;
  readonly type: string;
  readonly status: number | null;
  /** The endpoint's answer (its body), or why there was none. */
  readonly response: string;
}

interface Armed {
  readonly fault: StripeWebhookFault;
  readonly type: string | undefined;
}

/**
 * Sends the test server's events to a webhook endpoint, signed as Stripe signs them, each on its own as it is raised
 * (Stripe does not order deliveries), with injectable faults. Internal to the test server.
 */
export class StripeWebhookSender {
  #endpoint: StripeWebhookEndpoint | undefined;
  readonly #faults: Armed[] = [];
  readonly #held: StripeEventObject[] = [];
  readonly #deliveries: StripeWebhookDelivery[] = [];
  readonly #pending = new Set<Promise<unknown>>();
  readonly #timers = new Set<NodeJS.Timeout>();

  constructor(endpoint: StripeWebhookEndpoint | undefined) {
    this.#endpoint = endpoint;
  }

  setEndpoint(endpoint: StripeWebhookEndpoint | undefined): void {
    this.#endpoint = endpoint;
  }

  injectFault(fault: StripeWebhookFault, times: number, type: string | undefined): void {
    for (let i = 0; i < times; i++) this.#faults.push({ fault, type });
  }

  /** Called with each event raised: sends it, or applies the first fault armed for its type. */
  raised(event: StripeEventObject): void {
    const endpoint = this.#endpoint;
    if (endpoint === undefined || !wanted(endpoint, event.type)) return;
    const at = this.#faults.findIndex((f) => f.type === undefined || f.type === event.type);
    const fault = at < 0 ? undefined : this.#faults.splice(at, 1)[0]?.fault;
    if (fault === 'drop') {
      this.#deliveries.push({ eventId: event.id, type: event.type, status: null, response: 'dropped (injected)' });
      return;
    }
    if (fault === 'hold') {
      this.#held.push(event);
      return;
    }
    if (typeof fault === 'object') {
      this.#track(
        new Promise<unknown>((resolve) => {
          const timer = setTimeout(() => {
            this.#timers.delete(timer);
            this.#send(event).then(resolve, resolve);
          }, fault.delayMs);
          this.#timers.add(timer);
        }),
      );
      return;
    }
    this.#track(fault === 'twice' ? this.#send(event).then(() => this.#send(event)) : this.#send(event));
  }

  /** Sends the held events, in the order they were raised or newest first, one after the other. */
  async releaseHeld(order: 'raised' | 'reversed'): Promise<StripeWebhookDelivery[]> {
    const events = this.#held.splice(0);
    if (order === 'reversed') events.reverse();
    const out: StripeWebhookDelivery[] = [];
    for (const event of events) out.push(await this.#send(event));
    return out;
  }

  /** Sends `event` again (as Stripe retries a failed delivery, or a Dashboard "resend"), now. */
  redeliver(event: StripeEventObject): Promise<StripeWebhookDelivery> {
    return this.#send(event);
  }

  deliveries(): readonly StripeWebhookDelivery[] {
    return [...this.#deliveries];
  }

  /** Resolves once every delivery started or delayed so far has been answered (held ones excepted). */
  async settled(): Promise<void> {
    while (this.#pending.size > 0) await Promise.allSettled([...this.#pending]);
  }

  /** Cancels delayed deliveries (at server close). */
  stop(): void {
    for (const t of this.#timers) clearTimeout(t);
    this.#timers.clear();
  }

  #track(p: Promise<unknown>): void {
    this.#pending.add(p);
    void p.finally(() => this.#pending.delete(p));
  }

  async #send(event: StripeEventObject): Promise<StripeWebhookDelivery> {
    const endpoint = this.#endpoint;
    let delivery: StripeWebhookDelivery;
    if (endpoint === undefined) {
      delivery = { eventId: event.id, type: event.type, status: null, response: 'no endpoint' };
    } else {
      const body = JSON.stringify(event, null, 2);
      try {
        const res = await fetch(endpoint.url, {
          method: 'POST',
          headers: {
            'content-type': 'application/json; charset=utf-8',
            'user-agent': 'Stripe/1.0 (+https://stripe.com/docs/webhooks)',
            'stripe-signature': stripeSignatureHeader(body, endpoint.secret),
          },
          body,
        });
        delivery = { eventId: event.id, type: event.type, status: res.status, response: await res.text() };
      } catch (error) {
        delivery = { eventId: event.id, type: event.type, status: null, response: String(error) };
      }
    }
    this.#deliveries.push(delivery);
    return delivery;
  }
}

/**
 * Stripe's `Stripe-Signature` header for `payload`: `t=<unix seconds>,v1=<hex HMAC-SHA256 of "t.payload" keyed by the
 * endpoint secret>`, what `stripe.webhooks.constructEvent` verifies. `timestampSec` defaults to now (wall clock: the
 * receiver checks the signature's age against its own clock).
 */
export function stripeSignatureHeader(payload: string, secret: string, timestampSec?: number): string {
  const t = timestampSec ?? Math.floor(Date.now() / 1000);
  const v1 = createHmac('sha256', secret).update(`${t}.${payload}`, 'utf8').digest('hex');
  return `t=${t},v1=${v1}`;
}

function wanted(endpoint: StripeWebhookEndpoint, type: string): boolean {
  const enabled = endpoint.enabledEvents ?? ['*'];
  return enabled.includes('*') || enabled.includes(type);
}
