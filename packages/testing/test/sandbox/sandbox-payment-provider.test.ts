import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/clock/manual-clock.js';
import {
  httpPaymentProvider,
  SANDBOX_3DS_PAYMENT_METHOD,
  SandboxPaymentProvider,
  serveSandbox,
} from '../../src/sandbox/index.js';

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

  it('lists each effect once, stamped by its clock, with the current status of each authorization', async () => {
    const clock = new ManualClock(1_000);
    const psp = new SandboxPaymentProvider({ clock });
    const a = await psp.authorize(auth('o1:authorize'));
    clock.advance(10);
    const b = await psp.authorize({ ...auth('o2:authorize'), reference: 'order-2' });
    await psp.authorize(auth('o1:authorize')); // a replay adds nothing
    psp.injectFault('capture', 'error');
    await expect(
      psp.capture({
        idempotencyKey: 'o1:capture',
        authorizationId: a.authorizationId,
        amountMinor: 1000n,
        currency: 'USD',
      }),
    ).rejects.toMatchObject({ code: 'PROVIDER_ERROR' }); // failed: nothing to list
    const c = await psp.capture({
      idempotencyKey: 'o1:capture',
      authorizationId: a.authorizationId,
      amountMinor: 1000n,
      currency: 'USD',
    });
    await psp.void({ idempotencyKey: 'o2:void', authorizationId: b.authorizationId });
    clock.advance(10);
    await psp.refund({ idempotencyKey: 'o1:3:refund:x', captureId: c.captureId, amountMinor: 400n, currency: 'USD' });
    await psp.payout({ idempotencyKey: 'po-1', destination: 'ba_1', amountMinor: 300n, currency: 'USD' });
    const all = await psp.listEffects({ limit: 100 });
    expect(all).toEqual({
      nextCursor: null,
      effects: [
        {
          type: 'authorization',
          id: a.authorizationId,
          idempotencyKey: 'o1:authorize',
          amountMinor: 1000n,
          currency: 'USD',
          createdAt: 1_000,
          status: 'captured',
          reference: 'order-1',
        },
        {
          type: 'authorization',
          id: b.authorizationId,
          idempotencyKey: 'o2:authorize',
          amountMinor: 1000n,
          currency: 'USD',
          createdAt: 1_010,
          status: 'voided',
          reference: 'order-2',
        },
        {
          type: 'capture',
          id: c.captureId,
          idempotencyKey: 'o1:capture',
          amountMinor: 1000n,
          currency: 'USD',
          createdAt: 1_010,
          authorizationId: a.authorizationId,
        },
        {
          type: 'refund',
          id: expect.any(String),
          idempotencyKey: 'o1:3:refund:x',
          amountMinor: 400n,
          currency: 'USD',
          createdAt: 1_020,
          captureId: c.captureId,
        },
        {
          type: 'payout',
          id: expect.any(String),
          idempotencyKey: 'po-1',
          amountMinor: 300n,
          currency: 'USD',
          createdAt: 1_020,
          destination: 'ba_1',
        },
      ],
    });
    const windowed = await psp.listEffects({ from: 1_010, to: 1_020, limit: 100 });
    expect(windowed.effects.map((e) => e.idempotencyKey)).toEqual(['o2:authorize', 'o1:capture']);
    const keyed = await psp.listEffects({ from: 1_010, keys: ['o1:authorize', 'po-1'], limit: 100 });
    expect(keyed.effects.map((e) => e.idempotencyKey)).toEqual(['po-1']);
    const server = await serveSandbox(psp);
    try {
      const remote = httpPaymentProvider(server.url);
      const first = await remote.listEffects!({ limit: 2 });
      expect(first.effects).toEqual(all.effects.slice(0, 2));
      expect(await remote.listEffects!({ limit: 3, cursor: first.nextCursor! })).toEqual({
        effects: all.effects.slice(2),
        nextCursor: null,
      });
      await expect(remote.listEffects!({ limit: 0 })).rejects.toMatchObject({ code: 'VALIDATION_FAILED' });
    } finally {
      await server.close();
    }
  });

  it('needs the customer for pm_sandbox_3ds: not capturable until the action succeeds, over HTTP too', async () => {
    const psp = new SandboxPaymentProvider();
    const callbacks: string[] = [];
    psp.onCallback((c) => {
      if (c.type === 'payment.customerAction') callbacks.push(`${c.type}:${c.objectId}`);
    });
    const server = await serveSandbox(psp);
    try {
      const remote = httpPaymentProvider(server.url);
      const a = await remote.authorize({ ...auth('3ds-1', 500n), paymentMethod: SANDBOX_3DS_PAYMENT_METHOD });
      expect(a.customerAction?.clientSecret).toEqual(expect.any(String));
      expect(await remote.authorize({ ...auth('3ds-1', 500n), paymentMethod: SANDBOX_3DS_PAYMENT_METHOD })).toEqual(a);
      expect(await remote.authorizationStatus!(a.authorizationId)).toBe('requires_action');
      const capture = {
        idempotencyKey: 'c-3ds',
        authorizationId: a.authorizationId,
        amountMinor: 500n,
        currency: 'USD',
      };
      await expect(psp.capture(capture)).rejects.toMatchObject({ code: 'PAYMENT_DECLINED' });
      expect(psp.completeCustomerAction(a.authorizationId, 'succeeded')).toBe('authorized');
      expect(psp.completeCustomerAction(a.authorizationId, 'failed')).toBe('authorized'); // final: no change
      expect(callbacks).toEqual([`payment.customerAction:${a.authorizationId}`]);
      expect(await remote.authorizationStatus!(a.authorizationId)).toBe('authorized');
      await psp.capture({ ...capture, idempotencyKey: 'c-3ds-2' });
      expect(await psp.authorizationStatus(a.authorizationId)).toBe('authorized');
      // Failed, and voided: final states; a voided one stays canceled whatever the customer does.
      const f = await psp.authorize({ ...auth('3ds-2', 7n), paymentMethod: SANDBOX_3DS_PAYMENT_METHOD });
      expect(psp.completeCustomerAction(f.authorizationId, 'failed')).toBe('failed');
      const v = await psp.authorize({ ...auth('3ds-3', 9n), paymentMethod: SANDBOX_3DS_PAYMENT_METHOD });
      expect(psp.effects().openAuthorizedMinor).toBe(9n);
      await psp.void({ idempotencyKey: 'v-3ds', authorizationId: v.authorizationId });
      expect(psp.completeCustomerAction(v.authorizationId, 'succeeded')).toBe('canceled');
      expect(await psp.authorizationStatus(v.authorizationId)).toBe('canceled');
      expect(psp.effects().openAuthorizedMinor).toBe(0n);
      await expect(remote.authorizationStatus!('auth_nope')).rejects.toMatchObject({ code: 'PROVIDER_ERROR' });
    } finally {
      await server.close();
    }
  });
});
