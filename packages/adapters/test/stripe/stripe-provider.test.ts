import { stripePaymentProvider } from '@marketkit/adapters/stripe';
import type { PaymentEffect, PaymentProvider } from '@marketkit/core';
import { type StripeTestServer, startStripeTestServer } from '@marketkit/testing/stripe-server';
import Stripe from 'stripe';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

let server: StripeTestServer;
let stripe: Stripe;
let provider: PaymentProvider;
let n = 0;
const key = (step: string) => `order-${++n}:${step}`;

beforeAll(async () => {
  server = await startStripeTestServer();
  stripe = new Stripe('sk_test_marketkit', { ...server.clientConfig, timeout: 2000 });
  provider = stripePaymentProvider({ stripe });
});
afterAll(async () => {
  await server?.close();
});

const authorize = (amountMinor = 40_00n, paymentMethod = 'pm_card_visa', currency = 'USD') => {
  const order = `order-${++n}`;
  return provider
    .authorize({ idempotencyKey: `${order}:authorize`, amountMinor, currency, paymentMethod, reference: order })
    .then((a) => ({ ...a, order }));
};

describe('stripePaymentProvider against the local Stripe server', () => {
  it('authorizes with a manual-capture PaymentIntent confirmed at once, keyed and tagged with Marketkit’s key', async () => {
    const { authorizationId, order } = await authorize(12_34n);
    const pi = await stripe.paymentIntents.retrieve(authorizationId);
    expect(pi).toMatchObject({
      status: 'requires_capture',
      capture_method: 'manual',
      amount: 1234,
      amount_capturable: 1234,
      currency: 'usd',
      payment_method: 'pm_card_visa',
      metadata: { marketkit_key: `${order}:authorize`, marketkit_reference: order },
    });
    expect(pi.client_secret).toMatch(new RegExp(`^${authorizationId}_secret_`));
  });

  it('captures part of an authorization, then refunds it in parts; every call replays under its key', async () => {
    const { authorizationId, order } = await authorize(50_00n);
    const captureKey = `${order}:capture`;
    const capture = { idempotencyKey: captureKey, authorizationId, amountMinor: 30_00n, currency: 'USD' };
    const { captureId } = await provider.capture(capture);
    expect(await provider.capture(capture)).toEqual({ captureId });
    const pi = await stripe.paymentIntents.retrieve(authorizationId);
    expect(pi).toMatchObject({ status: 'succeeded', amount_received: 3000, amount_capturable: 0 });
    const first = {
      idempotencyKey: `${order}:4:refund:refundBuyerPartial`,
      captureId,
      amountMinor: 10_00n,
      currency: 'USD',
    };
    const r1 = await provider.refund(first);
    expect(await provider.refund(first)).toEqual(r1);
    const r2 = await provider.refund({
      ...first,
      idempotencyKey: `${order}:5:refund:refundBuyer`,
      amountMinor: 20_00n,
    });
    expect(r2.refundId).not.toBe(r1.refundId);
    const refunds = await stripe.refunds.list({ payment_intent: authorizationId });
    expect(refunds.data.map((r) => r.amount).sort()).toEqual([1000, 2000]);
    await expect(
      provider.refund({ ...first, idempotencyKey: `${order}:6:refund:refundBuyer`, amountMinor: 1n }),
    ).rejects.toMatchObject({ code: 'PAYMENT_DECLINED', retryable: false });
  });

  it('voids an authorization by cancelling its PaymentIntent, once', async () => {
    const { authorizationId, order } = await authorize();
    const before = server.executed('payment_intents.cancel');
    await provider.void({ idempotencyKey: `${order}:void`, authorizationId });
    await provider.void({ idempotencyKey: `${order}:void`, authorizationId });
    expect(server.executed('payment_intents.cancel')).toBe(before + 1);
    expect((await stripe.paymentIntents.retrieve(authorizationId)).status).toBe('canceled');
  });

  it('pays a seller out with a Connect transfer to the account accountFor names, keyed by the payout id', async () => {
    const accounts: Record<string, string> = { 'seller:bob': 'acct_bob' };
    const p = stripePaymentProvider({ stripe, accountFor: (d) => accounts[d] ?? d });
    const request = { idempotencyKey: 'po_01', destination: 'seller:bob', amountMinor: 25_00n, currency: 'EUR' };
    const { payoutId } = await p.payout(request);
    expect(await p.payout(request)).toEqual({ payoutId });
    const transfer = await stripe.transfers.retrieve(payoutId);
    expect(transfer).toMatchObject({
      amount: 2500,
      currency: 'eur',
      destination: 'acct_bob',
      transfer_group: 'po_01',
      metadata: { marketkit_key: 'po_01' },
    });
    expect(server.executed('transfers.create')).toBe(1);
  });

  it('replays a request under its key with Idempotent-Replayed, and refuses the key with other params', async () => {
    const idempotencyKey = key('authorize');
    const params = {
      amount: 500,
      currency: 'usd',
      capture_method: 'manual' as const,
      confirm: true,
      payment_method: 'pm_card_visa',
      payment_method_types: ['card'],
    };
    const a = await stripe.paymentIntents.create(params, { idempotencyKey });
    const b = await stripe.paymentIntents.create(params, { idempotencyKey });
    expect(b.id).toBe(a.id);
    expect(b.lastResponse.headers['idempotent-replayed']).toBe('true');
    expect(a.lastResponse.headers['idempotent-replayed']).toBeUndefined();
    await expect(
      provider.authorize({
        idempotencyKey,
        amountMinor: 6_00n,
        currency: 'USD',
        paymentMethod: 'pm_card_visa',
        reference: 'x',
      }),
    ).rejects.toMatchObject({ code: 'IDEMPOTENCY_KEY_REUSED', retryable: false, details: { key: idempotencyKey } });
  });
});

describe('Stripe errors on the port’s outcomes', () => {
  it('a declined card is PAYMENT_DECLINED, final, and replays as declined', async () => {
    const order = `order-${++n}`;
    const r = {
      idempotencyKey: `${order}:authorize`,
      amountMinor: 10_00n,
      currency: 'USD',
      paymentMethod: 'pm_card_chargeDeclined',
      reference: order,
    };
    await expect(provider.authorize(r)).rejects.toMatchObject({ code: 'PAYMENT_DECLINED', retryable: false });
    await expect(provider.authorize(r)).rejects.toMatchObject({ code: 'PAYMENT_DECLINED' });
    const failed = server.events().filter((e) => e.type === 'payment_intent.payment_failed');
    expect(failed.some((e) => e.request.idempotency_key === r.idempotencyKey)).toBe(true);
  });

  it('3-D Secure required: the authorization carries the client secret, replays the same, and a capture is declined', async () => {
    const r = {
      idempotencyKey: key('authorize'),
      amountMinor: 10_00n,
      currency: 'USD',
      paymentMethod: 'pm_card_threeDSecure2Required',
      reference: `order-${n}`,
    };
    const auth = await provider.authorize(r);
    const pi = await stripe.paymentIntents.retrieve(auth.authorizationId);
    expect(pi).toMatchObject({ status: 'requires_action', next_action: { type: 'use_stripe_sdk' } });
    expect(auth).toEqual({ authorizationId: pi.id, customerAction: { clientSecret: pi.client_secret } });
    expect(await provider.authorize(r)).toEqual(auth);
    expect(await provider.authorizationStatus?.(auth.authorizationId)).toBe('requires_action');
    const capture = { idempotencyKey: key('capture'), authorizationId: pi.id, amountMinor: 10_00n, currency: 'USD' };
    await expect(provider.capture(capture)).rejects.toMatchObject({ code: 'PAYMENT_DECLINED', retryable: false });
    expect(server.events().map((e) => e.type)).toContain('payment_intent.requires_action');
  });

  it('authorizationStatus follows the PaymentIntent: requires_action, authorized (captured too), failed, canceled', async () => {
    const threeDS = () => authorize(10_00n, 'pm_card_threeDSecure2Required');
    const ok = await threeDS();
    expect(server.completeThreeDSecure(ok.authorizationId, 'succeeded').status).toBe('requires_capture');
    expect(await provider.authorizationStatus?.(ok.authorizationId)).toBe('authorized');
    await provider.capture({
      idempotencyKey: `${ok.order}:capture`,
      authorizationId: ok.authorizationId,
      amountMinor: 10_00n,
      currency: 'USD',
    });
    expect(await provider.authorizationStatus?.(ok.authorizationId)).toBe('authorized');

    const failed = await threeDS();
    expect(server.completeThreeDSecure(failed.authorizationId, 'failed')).toMatchObject({
      status: 'requires_payment_method',
      last_payment_error: { code: 'payment_intent_authentication_failure' },
    });
    expect(await provider.authorizationStatus?.(failed.authorizationId)).toBe('failed');
    expect(server.events().at(-1)).toMatchObject({
      type: 'payment_intent.payment_failed',
      data: { object: { id: failed.authorizationId } },
    });

    const voided = await threeDS();
    await provider.void({ idempotencyKey: `${voided.order}:void`, authorizationId: voided.authorizationId });
    expect(await provider.authorizationStatus?.(voided.authorizationId)).toBe('canceled');
    // The customer finishing after the void changes nothing: Stripe keeps it canceled.
    expect(server.completeThreeDSecure(voided.authorizationId, 'succeeded').status).toBe('canceled');
    expect(await provider.authorizationStatus?.(voided.authorizationId)).toBe('canceled');

    const plain = await authorize();
    expect(await provider.authorizationStatus?.(plain.authorizationId)).toBe('authorized');
    await expect(provider.authorizationStatus?.('pi_nobody')).rejects.toMatchObject({
      code: 'PROVIDER_ERROR',
      retryable: false,
    });
  });

  it('a 429 is a retryable PROVIDER_ERROR and uses no key: the retry goes through', async () => {
    server.injectFault('payment_intents.create', 'rateLimit');
    const order = `order-${++n}`;
    const r = {
      idempotencyKey: `${order}:authorize`,
      amountMinor: 10_00n,
      currency: 'USD',
      paymentMethod: 'pm_card_visa',
      reference: order,
    };
    await expect(provider.authorize(r)).rejects.toMatchObject({ code: 'PROVIDER_ERROR', retryable: true });
    expect((await provider.authorize(r)).authorizationId).toMatch(/^pi_/);
  });

  it('a 5xx is PROVIDER_TIMEOUT (outcome unknown), retryable', async () => {
    const { authorizationId, order } = await authorize();
    server.injectFault('payment_intents.capture', 'apiError');
    const r = { idempotencyKey: `${order}:capture`, authorizationId, amountMinor: 40_00n, currency: 'USD' };
    await expect(provider.capture(r)).rejects.toMatchObject({ code: 'PROVIDER_TIMEOUT', retryable: true });
    expect((await provider.capture(r)).captureId).toBe(authorizationId);
  });

  it('a connection dropped once after the capture went through is replayed by the client under the key', async () => {
    const { authorizationId, order } = await authorize();
    server.injectFault('payment_intents.capture', 'dropAfterApply');
    const before = server.executed('payment_intents.capture');
    const r = { idempotencyKey: `${order}:capture`, authorizationId, amountMinor: 40_00n, currency: 'USD' };
    expect(await provider.capture(r)).toEqual({ captureId: authorizationId });
    expect(server.executed('payment_intents.capture')).toBe(before + 1);
  });

  it('a connection dropped after the capture went through is PROVIDER_TIMEOUT; the retry finds it, captured once', async () => {
    const { authorizationId, order } = await authorize();
    server.injectFault('payment_intents.capture', 'dropTwiceAfterApply');
    const before = server.executed('payment_intents.capture');
    const r = { idempotencyKey: `${order}:capture`, authorizationId, amountMinor: 40_00n, currency: 'USD' };
    await expect(provider.capture(r)).rejects.toMatchObject({ code: 'PROVIDER_TIMEOUT', retryable: true });
    expect(server.state.intents.get(authorizationId)?.status).toBe('succeeded');
    expect(await provider.capture(r)).toEqual({ captureId: authorizationId });
    expect(server.executed('payment_intents.capture')).toBe(before + 1);
  });

  it('a client timeout on a stalled refund is PROVIDER_TIMEOUT; the retry replays the refund made', async () => {
    const { authorizationId, order } = await authorize();
    const { captureId } = await provider.capture({
      idempotencyKey: `${order}:capture`,
      authorizationId,
      amountMinor: 40_00n,
      currency: 'USD',
    });
    const quick = stripePaymentProvider({
      stripe: new Stripe('sk_test_marketkit', { ...server.clientConfig, timeout: 300 }),
    });
    server.injectFault('refunds.create', 'stallAfterApply');
    const r = { idempotencyKey: `${order}:checkout:refund`, captureId, amountMinor: 40_00n, currency: 'USD' };
    await expect(quick.refund(r)).rejects.toMatchObject({ code: 'PROVIDER_TIMEOUT' });
    const { refundId } = await quick.refund(r);
    expect(server.state.refunds.get(refundId)?.amount).toBe(4000);
    expect([...server.state.refunds.values()].filter((x) => x.payment_intent === captureId)).toHaveLength(1);
  });

  it('a capture the payment’s state refuses is a final PAYMENT_DECLINED; another invalid request a final PROVIDER_ERROR', async () => {
    const { authorizationId, order } = await authorize();
    await provider.void({ idempotencyKey: `${order}:void`, authorizationId });
    await expect(
      provider.capture({ idempotencyKey: `${order}:capture`, authorizationId, amountMinor: 1_00n, currency: 'USD' }),
    ).rejects.toMatchObject({ code: 'PAYMENT_DECLINED', retryable: false });
    await expect(
      provider.payout({ idempotencyKey: 'po_bad', destination: 'ba_123', amountMinor: 1_00n, currency: 'USD' }),
    ).rejects.toMatchObject({ code: 'PROVIDER_ERROR', retryable: false });
  });

  it('refuses an amount Stripe cannot take before calling it', async () => {
    const before = server.executed('payment_intents.create');
    await expect(authorize(1_005n, 'pm_card_visa', 'KWD')).rejects.toMatchObject({ code: 'VALIDATION_FAILED' });
    expect(server.executed('payment_intents.create')).toBe(before);
  });
});

describe('listEffects from Stripe objects', () => {
  it('lists authorizations, captures, refunds and payouts made with Marketkit keys, by window and by key, a page at a time', async () => {
    const fresh = await startStripeTestServer();
    try {
      const s = new Stripe('sk_test_marketkit', fresh.clientConfig);
      const p = stripePaymentProvider({ stripe: s });
      const from = Date.now() - 1000;
      const a = await p.authorize({
        idempotencyKey: 'o1:authorize',
        amountMinor: 30_00n,
        currency: 'USD',
        paymentMethod: 'pm_card_visa',
        reference: 'o1',
      });
      const c = await p.capture({
        idempotencyKey: 'o1:capture',
        authorizationId: a.authorizationId,
        amountMinor: 25_00n,
        currency: 'USD',
      });
      const r = await p.refund({
        idempotencyKey: 'o1:3:refund:refundBuyer',
        captureId: c.captureId,
        amountMinor: 5_00n,
        currency: 'USD',
      });
      const b = await p.authorize({
        idempotencyKey: 'o2:authorize',
        amountMinor: 1000n,
        currency: 'JPY',
        paymentMethod: 'pm_card_visa',
        reference: 'o2',
      });
      await p.void({ idempotencyKey: 'o2:void', authorizationId: b.authorizationId });
      const po = await p.payout({
        idempotencyKey: 'po_1',
        destination: 'acct_1',
        amountMinor: 20_00n,
        currency: 'USD',
      });
      await s.paymentIntents.create({ amount: 100, currency: 'usd' }); // not Marketkit's: not listed
      const to = Date.now() + 1000;
      const all: PaymentEffect[] = [];
      let cursor: string | undefined;
      let pages = 0;
      do {
        const page = await p.listEffects!({ from, to, limit: 2, ...(cursor === undefined ? {} : { cursor }) });
        expect(page.effects.length).toBeLessThanOrEqual(2);
        all.push(...page.effects);
        cursor = page.nextCursor ?? undefined;
        pages++;
      } while (cursor !== undefined);
      expect(pages).toBe(3);
      const summary = all.map((e) => `${e.type}:${e.idempotencyKey}:${e.amountMinor}:${e.currency}`).sort();
      expect(summary).toEqual([
        'authorization:o1:authorize:3000:USD',
        'authorization:o2:authorize:1000:JPY',
        'capture:o1:capture:2500:USD',
        'payout:po_1:2000:USD',
        'refund:o1:3:refund:refundBuyer:500:USD',
      ]);
      expect(all.find((e) => e.idempotencyKey === 'o2:authorize')).toMatchObject({ status: 'voided', reference: 'o2' });
      expect(all.find((e) => e.idempotencyKey === 'o1:authorize')).toMatchObject({ status: 'captured' });
      expect(all.find((e) => e.type === 'refund')).toMatchObject({ id: r.refundId, captureId: c.captureId });
      expect(all.find((e) => e.type === 'payout')).toMatchObject({ id: po.payoutId, destination: 'acct_1' });
      const byKey = await p.listEffects!({
        keys: ['o1:capture', 'po_1', 'o1:3:refund:refundBuyer', 'o2:authorize'],
        limit: 10,
      });
      expect(byKey.effects.map((e) => `${e.type}:${e.idempotencyKey}`).sort()).toEqual([
        'authorization:o2:authorize',
        'capture:o1:capture',
        'payout:po_1',
        'refund:o1:3:refund:refundBuyer',
      ]);
      expect(byKey.nextCursor).toBeNull();
      const quoted = "o'3\\x";
      await p.authorize({
        idempotencyKey: `${quoted}:authorize`,
        amountMinor: 1_00n,
        currency: 'USD',
        paymentMethod: 'pm_card_visa',
        reference: quoted,
      });
      const found = await p.listEffects!({ keys: [`${quoted}:authorize`, 'o9:authorize'], limit: 10 });
      expect(found.effects).toMatchObject([{ type: 'authorization', reference: quoted }]);
      const later = await p.listEffects!({ from: to + 5000, limit: 10 });
      expect(later.effects).toEqual([]);
    } finally {
      await fresh.close();
    }
  });
});
