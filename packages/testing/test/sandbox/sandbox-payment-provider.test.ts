import { describe, expect, it } from 'vitest';
import { httpPaymentProvider, SandboxPaymentProvider, serveSandbox } from '../../src/sandbox/index.js';

const auth = (key: string, amountMinor = 1000n) => ({
  idempotencyKey: key,
  amountMinor,
  currency: 'USD',
  paymentMethod: 'tok_visa',
  reference: 'order-1',
});

describe('sandbox payment provider', () => {
  it('applies each idempotency key once and replays its result', async () => {
    const psp = new SandboxPaymentProvider();
    const a = await psp.authorize(auth('o1:authorize'));
    expect(await psp.authorize(auth('o1:authorize'))).toEqual(a);
    const c = await psp.capture({
      idempotencyKey: 'o1:capture',
      authorizationId: a.authorizationId,
      amountMinor: 1000n,
      currency: 'USD',
    });
    expect(
      await psp.capture({
        idempotencyKey: 'o1:capture',
        authorizationId: a.authorizationId,
        amountMinor: 1000n,
        currency: 'USD',
      }),
    ).toEqual(c);
    await expect(psp.authorize({ ...auth('o1:authorize'), amountMinor: 5n })).rejects.toMatchObject({
      code: 'IDEMPOTENCY_KEY_REUSED',
    });
    expect(psp.effects()).toMatchObject({ counts: { authorize: 1, capture: 1 }, capturedMinor: 1000n });
  });

  it('declines, errors and times out without an effect, and applies before an errorAfterApply', async () => {
    const psp = new SandboxPaymentProvider();
    await expect(psp.authorize({ ...auth('d'), paymentMethod: 'tok_decline' })).rejects.toMatchObject({
      code: 'PAYMENT_DECLINED',
      retryable: false,
    });
    psp.injectFault('authorize', 'timeout');
    await expect(psp.authorize(auth('t'))).rejects.toMatchObject({ code: 'PROVIDER_TIMEOUT', retryable: true });
    expect(psp.effects().counts.authorize).toBe(0);
    psp.injectFault('authorize', 'errorAfterApply');
    await expect(psp.authorize(auth('t'))).rejects.toMatchObject({ code: 'PROVIDER_TIMEOUT' });
    expect(psp.effects().counts.authorize).toBe(1);
    await expect(psp.authorize(auth('t'))).resolves.toHaveProperty('authorizationId');
    expect(psp.effects().counts.authorize).toBe(1);
  });

  it('delivers duplicate callbacks when asked', async () => {
    const psp = new SandboxPaymentProvider();
    const seen: string[] = [];
    psp.onCallback((c) => seen.push(c.id));
    psp.injectFault('payout', 'duplicateCallback');
    await psp.payout({ idempotencyKey: 'p1', destination: 'acct_bob', amountMinor: 500n, currency: 'USD' });
    expect(seen).toHaveLength(2);
    expect(new Set(seen).size).toBe(1);
  });

  it('refuses over-capture and over-refund', async () => {
    const psp = new SandboxPaymentProvider();
    const a = await psp.authorize(auth('a', 100n));
    await expect(
      psp.capture({ idempotencyKey: 'c', authorizationId: a.authorizationId, amountMinor: 101n, currency: 'USD' }),
    ).rejects.toMatchObject({ code: 'PAYMENT_DECLINED' });
    const c = await psp.capture({
      idempotencyKey: 'c2',
      authorizationId: a.authorizationId,
      amountMinor: 100n,
      currency: 'USD',
    });
    await psp.refund({ idempotencyKey: 'r1', captureId: c.captureId, amountMinor: 60n, currency: 'USD' });
    await expect(
      psp.refund({ idempotencyKey: 'r2', captureId: c.captureId, amountMinor: 41n, currency: 'USD' }),
    ).rejects.toMatchObject({ code: 'PAYMENT_DECLINED' });
    expect(psp.effects().refundedMinor).toBe(60n);
  });

  it('serves the same sandbox to other processes over HTTP', async () => {
    const psp = new SandboxPaymentProvider();
    const server = await serveSandbox(psp);
    try {
      const remote = httpPaymentProvider(server.url);
      const a = await remote.authorize(auth('h1', 2n ** 60n));
      expect(await remote.authorize(auth('h1', 2n ** 60n))).toEqual(a);
      await expect(remote.authorize({ ...auth('h2'), paymentMethod: 'tok_decline' })).rejects.toMatchObject({
        code: 'PAYMENT_DECLINED',
      });
      expect(psp.effects()).toMatchObject({ counts: { authorize: 1 }, openAuthorizedMinor: 2n ** 60n });
    } finally {
      await server.close();
    }
  });
});
