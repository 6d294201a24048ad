import { stripeWebhookHandler } from '@marketkit/adapters/stripe';
import type { CustomerActionEvent, CustomerActionOutcome } from '@marketkit/core';
import { stripeSignatureHeader } from '@marketkit/testing/stripe-server';
import Stripe from 'stripe';
import { describe, expect, it } from 'vitest';

const SECRET = 'whsec_unit';
const stripe = new Stripe('sk_test_unit');

/** A marketplace stand-in that records what the handler tells it. */
function recordingMarket() {
  const told: CustomerActionEvent[] = [];
  const seen = new Set<string>();
  return {
    told,
    payments: {
      async customerActionCompleted(e: CustomerActionEvent): Promise<CustomerActionOutcome> {
        told.push(e);
        const duplicate = e.eventId !== undefined && seen.has(e.eventId);
        if (e.eventId !== undefined) seen.add(e.eventId);
        return { duplicate, order: null };
      },
    },
  };
}

const event = (type: string, object: Record<string, unknown>, id = `evt_${type}`) =>
  JSON.stringify({ id, object: 'event', type, created: 1, livemode: false, api_version: null, data: { object } });
const signed = (body: string) => stripeSignatureHeader(body, SECRET);

describe('stripeWebhookHandler', () => {
  it('passes the four PaymentIntent events on, by the order its metadata names or else by the PaymentIntent', async () => {
    const market = recordingMarket();
    const hooks = stripeWebhookHandler({ market, stripe, endpointSecret: SECRET });
    expect(hooks.provider).toBe('stripe');
    const tagged = { id: 'pi_1', object: 'payment_intent', metadata: { marketkit_reference: 'ord_1' } };
    for (const type of [
      'payment_intent.amount_capturable_updated',
      'payment_intent.succeeded',
      'payment_intent.payment_failed',
      'payment_intent.canceled',
    ]) {
      const body = event(type, tagged);
      expect(await hooks.handleProviderWebhook(body, signed(body))).toEqual({
        eventId: `evt_${type}`,
        type,
        handled: true,
        duplicate: false,
        orderId: null,
        orderState: null,
      });
    }
    const untagged = event('payment_intent.succeeded', { id: 'pi_2', object: 'payment_intent', metadata: {} }, 'evt_x');
    await hooks.handleProviderWebhook(Buffer.from(untagged), signed(untagged));
    expect(market.told.map((e) => e.orderId ?? e.authorizationId)).toEqual([
      'ord_1',
      'ord_1',
      'ord_1',
      'ord_1',
      'pi_2',
    ]);
    expect(market.told[0]).toEqual({
      orderId: 'ord_1',
      eventId: 'evt_payment_intent.amount_capturable_updated',
      type: 'payment_intent.amount_capturable_updated',
    });
    // The same event again: the marketplace says it is a duplicate, and the handler says so.
    expect(await hooks.handleProviderWebhook(untagged, signed(untagged))).toMatchObject({ duplicate: true });
  });

  it('acknowledges and ignores other event types, without telling the marketplace', async () => {
    const market = recordingMarket();
    const hooks = stripeWebhookHandler({ market, stripe, endpointSecret: SECRET });
    for (const type of [
      'payment_intent.requires_action',
      'payment_intent.created',
      'charge.refunded',
      'transfer.created',
    ]) {
      const body = event(type, { id: 'x_1', object: 'whatever' });
      expect(await hooks.handleProviderWebhook(body, signed(body))).toMatchObject({ type, handled: false });
    }
    expect(market.told).toEqual([]);
  });

  it('refuses what Stripe did not sign, and a signed body that is not an event', async () => {
    const market = recordingMarket();
    const hooks = stripeWebhookHandler({ market, stripe, endpointSecret: SECRET, toleranceSec: 60 });
    const body = event('payment_intent.succeeded', { id: 'pi_1', object: 'payment_intent' });
    const old = stripeSignatureHeader(body, SECRET, Math.floor(Date.now() / 1000) - 61);
    for (const header of [undefined, '', 'nonsense', stripeSignatureHeader(body, 'whsec_other'), old]) {
      await expect(hooks.handleProviderWebhook(body, header)).rejects.toMatchObject({
        code: 'WEBHOOK_SIGNATURE_INVALID',
        retryable: false,
        details: { provider: 'stripe' },
      });
    }
    for (const bad of [
      '{not json',
      JSON.stringify({ hello: 1 }),
      event('payment_intent.succeeded', { id: 'ch_1', object: 'charge' }),
    ]) {
      await expect(hooks.handleProviderWebhook(bad, signed(bad))).rejects.toMatchObject({ code: 'VALIDATION_FAILED' });
    }
    expect(market.told).toEqual([]);
  });

  it('checks its options', () => {
    const market = recordingMarket();
    for (const bad of [
      { market, stripe, endpointSecret: '' },
      { market: {}, stripe, endpointSecret: SECRET },
      { market, stripe: {}, endpointSecret: SECRET },
      { market, stripe, endpointSecret: SECRET, toleranceSec: 0 },
    ]) {
      expect(() => stripeWebhookHandler(bad as never)).toThrow(expect.objectContaining({ code: 'VALIDATION_FAILED' }));
    }
  });
});
