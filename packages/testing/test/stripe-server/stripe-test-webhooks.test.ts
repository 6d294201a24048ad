import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { type StripeTestServer, startStripeTestServer } from '@marketkit/testing/stripe-server';
import Stripe from 'stripe';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';

const SECRET = 'whsec_test_server';

/** A webhook endpoint that records what it receives and answers 200 (or `status`). */
interface Received {
  readonly body: string;
  readonly headers: IncomingHttpHeaders;
}
let received: Received[] = [];
let status = 200;
let endpoint: Server;
let url = '';
let server: StripeTestServer;
const stripe = new Stripe('sk_test_x');

beforeAll(async () => {
  endpoint = createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (c: string) => {
      body += c;
    });
    req.on('end', () => {
      received.push({ body, headers: req.headers });
      res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify({ received: true }));
    });
  });
  await new Promise<void>((resolve) => endpoint.listen(0, '127.0.0.1', resolve));
  url = `http://127.0.0.1:${(endpoint.address() as AddressInfo).port}/hooks`;
  server = await startStripeTestServer({ webhookEndpoint: { url, secret: SECRET } });
});
afterAll(async () => {
  await server?.close();
  await new Promise<void>((resolve) => (endpoint ? endpoint.close(() => resolve()) : resolve()));
});
beforeEach(() => {
  received = [];
  status = 200;
  server.setWebhookEndpoint({ url, secret: SECRET });
});

const client = () => new Stripe('sk_test_x', server.clientConfig);
const threeDS = () =>
  client().paymentIntents.create({
    amount: 1500,
    currency: 'eur',
    capture_method: 'manual',
    confirm: true,
    payment_method: 'pm_card_threeDSecure2Required',
  });
const types = () => received.map((r) => (JSON.parse(r.body) as { type: string }).type);

describe('the Stripe test server’s webhooks', () => {
  it('POSTs each event, signed so that stripe.webhooks.constructEvent accepts it, in Stripe’s event shape', async () => {
    const pi = await threeDS();
    await server.webhooksSettled();
    expect(types().sort()).toEqual(['payment_intent.created', 'payment_intent.requires_action']);
    for (const r of received) {
      expect(r.headers['content-type']).toBe('application/json; charset=utf-8');
      const event = stripe.webhooks.constructEvent(r.body, String(r.headers['stripe-signature']), SECRET);
      expect(event).toMatchObject({
        id: expect.stringMatching(/^evt_/),
        object: 'event',
        livemode: false,
        api_version: expect.any(String),
        created: expect.any(Number),
        data: { object: { id: pi.id, object: 'payment_intent' } },
      });
      expect(() =>
        stripe.webhooks.constructEvent(r.body, String(r.headers['stripe-signature']), 'whsec_other'),
      ).toThrow(/signature/);
    }
    expect(
      server
        .webhookDeliveries()
        .slice(-2)
        .map((d) => d.status),
    ).toEqual([200, 200]);
  });

  it('completeThreeDSecure plays the customer: capturable or failed, with the event Stripe sends', async () => {
    const ok = await threeDS();
    expect(server.completeThreeDSecure(ok.id, 'succeeded')).toMatchObject({
      status: 'requires_capture',
      amount_capturable: 1500,
      next_action: null,
    });
    const failed = await threeDS();
    expect(server.completeThreeDSecure(failed.id, 'failed')).toMatchObject({
      status: 'requires_payment_method',
      next_action: null,
      last_payment_error: { code: 'payment_intent_authentication_failure' },
    });
    await server.webhooksSettled();
    expect(types()).toEqual(
      expect.arrayContaining(['payment_intent.amount_capturable_updated', 'payment_intent.payment_failed']),
    );
    // Not awaiting the action any more: nothing changes and nothing is sent.
    const before = received.length;
    expect(server.completeThreeDSecure(ok.id, 'failed').status).toBe('requires_capture');
    await server.webhooksSettled();
    expect(received.length).toBe(before);
    expect(() => server.completeThreeDSecure('pi_nobody', 'succeeded')).toThrow(/no PaymentIntent/);
  });

  it('sends only the enabled event types, and nothing without an endpoint', async () => {
    server.setWebhookEndpoint({ url, secret: SECRET, enabledEvents: ['payment_intent.requires_action'] });
    await threeDS();
    server.setWebhookEndpoint(undefined);
    await threeDS();
    await server.webhooksSettled();
    expect(types()).toEqual(['payment_intent.requires_action']);
  });

  it('faults: dropped, twice, held and released newest first, delayed, and redelivered', async () => {
    server.setWebhookEndpoint({ url, secret: SECRET, enabledEvents: ['payment_intent.amount_capturable_updated'] });
    const capturable = async () => {
      const pi = await threeDS();
      server.completeThreeDSecure(pi.id, 'succeeded');
      return pi.id;
    };
    const ids = () => received.map((r) => (JSON.parse(r.body) as { data: { object: { id: string } } }).data.object.id);

    server.injectWebhookFault('drop');
    const dropped = await capturable();
    await server.webhooksSettled();
    expect(received).toEqual([]);
    expect(server.webhookDeliveries().at(-1)).toMatchObject({ status: null, response: 'dropped (injected)' });

    server.injectWebhookFault('twice');
    const twice = await capturable();
    await server.webhooksSettled();
    expect(ids()).toEqual([twice, twice]);
    expect(received[0]?.body).toBe(received[1]?.body);

    received = [];
    server.injectWebhookFault('hold', { times: 2 });
    const first = await capturable();
    const second = await capturable();
    const third = await capturable();
    await server.webhooksSettled();
    expect(ids()).toEqual([third]);
    expect((await server.releaseHeldWebhooks('reversed')).map((d) => d.status)).toEqual([200, 200]);
    expect(ids()).toEqual([third, second, first]);

    received = [];
    server.injectWebhookFault({ delayMs: 200 });
    const late = await capturable();
    const prompt = await capturable();
    await new Promise((r) => setTimeout(r, 50));
    expect(ids()).toEqual([prompt]);
    await server.webhooksSettled();
    expect(ids()).toEqual([prompt, late]);

    received = [];
    const event = server
      .events()
      .find(
        (e) =>
          e.type === 'payment_intent.amount_capturable_updated' && (e.data.object as { id: string }).id === dropped,
      );
    expect(await server.redeliverWebhook(event?.id ?? '')).toMatchObject({ eventId: event?.id, status: 200 });
    expect(ids()).toEqual([dropped]);
    await expect(server.redeliverWebhook('evt_nobody')).rejects.toThrow(/no event/);
  });

  it('records the endpoint’s answer, and a failed request, per delivery', async () => {
    status = 500;
    await threeDS();
    await server.webhooksSettled();
    expect(
      server
        .webhookDeliveries()
        .slice(-2)
        .map((d) => d.status),
    ).toEqual([500, 500]);
    server.setWebhookEndpoint({ url: 'http://127.0.0.1:1/nothing-here', secret: SECRET });
    await threeDS();
    await server.webhooksSettled();
    expect(server.webhookDeliveries().at(-1)).toMatchObject({
      status: null,
      response: expect.stringMatching(/fetch failed|ECONNREFUSED/),
    });
  });
});
