import { parseStripeForm, type StripeTestServer, startStripeTestServer } from '@marketkit/testing/stripe-server';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

let server: StripeTestServer;
beforeAll(async () => {
  server = await startStripeTestServer();
});
afterAll(async () => {
  await server?.close();
});

const post = async (path: string, form: Record<string, string>, key?: string) => {
  const res = await fetch(`${server.url}${path}`, {
    method: 'POST',
    headers: {
      authorization: 'Bearer sk_test_x',
      'content-type': 'application/x-www-form-urlencoded',
      ...(key === undefined ? {} : { 'idempotency-key': key }),
    },
    body: new URLSearchParams(form).toString(),
  });
  return { status: res.status, headers: res.headers, body: (await res.json()) as Record<string, unknown> };
};
const get = async (path: string) => {
  const res = await fetch(`${server.url}${path}`, { headers: { authorization: 'Bearer sk_test_x' } });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
};
const intent = {
  amount: '1500',
  currency: 'eur',
  capture_method: 'manual',
  confirm: 'true',
  payment_method: 'pm_card_visa',
};

describe('the Stripe test server', () => {
  it('decodes form bodies with nested metadata and lists like Stripe', () => {
    expect(
      parseStripeForm('amount=100&metadata[order]=o%3A1&metadata[k]=v&expand[]=a&expand[]=b&created[gte]=5'),
    ).toEqual({
      amount: '100',
      metadata: { order: 'o:1', k: 'v' },
      expand: ['a', 'b'],
      created: { gte: '5' },
    });
  });

  it('refuses a request without a test secret key', async () => {
    const res = await fetch(`${server.url}/v1/payment_intents`, { method: 'POST', body: '' });
    expect(res.status).toBe(401);
  });

  it('replays the first answer under an Idempotency-Key, and refuses the key with other params or another endpoint', async () => {
    const first = await post('/v1/payment_intents', { ...intent, 'metadata[order]': 'o1' }, 'k-1');
    expect(first.status).toBe(200);
    expect(first.body).toMatchObject({
      object: 'payment_intent',
      status: 'requires_capture',
      metadata: { order: 'o1' },
    });
    expect(first.headers.get('idempotent-replayed')).toBeNull();
    const again = await post('/v1/payment_intents', { 'metadata[order]': 'o1', ...intent }, 'k-1');
    expect(again).toMatchObject({ status: 200, body: { id: first.body['id'] } });
    expect(again.headers.get('idempotent-replayed')).toBe('true');
    const other = await post('/v1/payment_intents', { ...intent, amount: '1600' }, 'k-1');
    expect(other).toMatchObject({ status: 400, body: { error: { type: 'idempotency_error' } } });
    const elsewhere = await post(`/v1/payment_intents/${first.body['id']}/capture`, {}, 'k-1');
    expect(elsewhere).toMatchObject({ status: 400, body: { error: { type: 'idempotency_error' } } });
    expect(server.executed('payment_intents.create')).toBe(1);
  });

  it('keeps a decline under its key, but not a refused request', async () => {
    const declined = await post(
      '/v1/payment_intents',
      { ...intent, payment_method: 'pm_card_chargeDeclinedInsufficientFunds' },
      'k-2',
    );
    expect(declined).toMatchObject({
      status: 402,
      body: { error: { type: 'card_error', code: 'card_declined', decline_code: 'insufficient_funds' } },
    });
    expect(
      (
        await post(
          '/v1/payment_intents',
          { ...intent, payment_method: 'pm_card_chargeDeclinedInsufficientFunds' },
          'k-2',
        )
      ).headers.get('idempotent-replayed'),
    ).toBe('true');
    const bad = await post('/v1/payment_intents', { ...intent, currency: 'kwd', amount: '1005' }, 'k-3');
    expect(bad).toMatchObject({ status: 400, body: { error: { type: 'invalid_request_error', param: 'amount' } } });
    const fixed = await post('/v1/payment_intents', { ...intent, currency: 'kwd', amount: '1000' }, 'k-3');
    expect(fixed.status).toBe(200);
  });

  it('pages lists newest first with limit and starting_after, filtered by created and by field', async () => {
    const fresh = await startStripeTestServer({ now: () => 1_700_000_000_000 });
    try {
      const call = (path: string, form: Record<string, string>) =>
        fetch(`${fresh.url}${path}`, {
          method: 'POST',
          headers: { authorization: 'Bearer sk_test_x' },
          body: new URLSearchParams(form),
        });
      for (const group of ['g1', 'g1', 'g2']) {
        await call('/v1/transfers', { amount: '100', currency: 'usd', destination: 'acct_1', transfer_group: group });
      }
      const list = async (q: string) =>
        (await (
          await fetch(`${fresh.url}/v1/transfers?${q}`, { headers: { authorization: 'Bearer sk_test_x' } })
        ).json()) as {
          data: { id: string; transfer_group: string }[];
          has_more: boolean;
        };
      const first = await list('limit=2');
      expect(first.data.map((t) => t.transfer_group)).toEqual(['g2', 'g1']);
      expect(first.has_more).toBe(true);
      const second = await list(`limit=2&starting_after=${first.data[1]?.id}`);
      expect(second.data).toHaveLength(1);
      expect(second.has_more).toBe(false);
      expect((await list('transfer_group=g1')).data).toHaveLength(2);
      expect((await list('created[gte]=1700000000&created[lt]=1700000001')).data).toHaveLength(3);
      expect((await list('created[gt]=1700000000')).data).toHaveLength(0);
      expect(fresh.events().map((e) => e.type)).toEqual(['transfer.created', 'transfer.created', 'transfer.created']);
    } finally {
      await fresh.close();
    }
  });

  it('searches PaymentIntents by exact metadata and fields, OR or AND, a page at a time', async () => {
    const fresh = await startStripeTestServer();
    try {
      const call = (form: Record<string, string>) =>
        fetch(`${fresh.url}/v1/payment_intents`, {
          method: 'POST',
          headers: { authorization: 'Bearer sk_test_x' },
          body: new URLSearchParams(form),
        });
      for (const order of ['a', 'b', "c'd"]) await call({ ...intent, 'metadata[order]': order });
      const search = async (query: string, extra = '') =>
        (await (
          await fetch(`${fresh.url}/v1/payment_intents/search?${new URLSearchParams({ query })}${extra}`, {
            headers: { authorization: 'Bearer sk_test_x' },
          })
        ).json()) as {
          object: string;
          data: { metadata: { order: string } }[];
          has_more: boolean;
          next_page: string | null;
        };
      const both = await search("metadata['order']:'a' OR metadata['order']:'c\\'d'");
      expect(both.object).toBe('search_result');
      expect(both.data.map((p) => p.metadata.order).sort()).toEqual(['a', "c'd"]);
      expect((await search("metadata['order']:'a' AND status:'requires_capture'")).data).toHaveLength(1);
      expect((await search("metadata['order']:'a' AND status:'succeeded'")).data).toHaveLength(0);
      const first = await search("currency:'eur'", '&limit=2');
      expect(first).toMatchObject({ has_more: true, next_page: '2' });
      expect((await search("currency:'eur'", '&limit=2&page=2')).data).toHaveLength(1);
    } finally {
      await fresh.close();
    }
  });

  it('records an event per change, with the request and key, for webhooks to deliver later', async () => {
    const created = await post('/v1/payment_intents', intent, 'k-4');
    const id = created.body['id'] as string;
    await post(`/v1/payment_intents/${id}/capture`, { amount_to_capture: '1000' }, 'k-5');
    await post('/v1/refunds', { payment_intent: id, amount: '400' }, 'k-6');
    const mine = server
      .events()
      .filter(
        (e) =>
          (e.data.object as { id: string; payment_intent?: string }).id === id ||
          (e.data.object as { payment_intent?: string }).payment_intent === id,
      );
    expect(mine.map((e) => e.type)).toEqual([
      'payment_intent.created',
      'payment_intent.amount_capturable_updated',
      'payment_intent.succeeded',
      'refund.created',
      'charge.refunded',
    ]);
    expect(mine[2]?.request.idempotency_key).toBe('k-5');
    expect(mine[2]?.data.object).toMatchObject({ amount_received: 1000, status: 'succeeded' });
    const listed = await get('/v1/events?type=refund.created&limit=100');
    expect((listed.body['data'] as unknown[]).length).toBeGreaterThanOrEqual(1);
    expect(await get(`/v1/payment_intents/${id}`)).toMatchObject({ status: 200, body: { amount_received: 1000 } });
    expect(await get('/v1/payment_intents/pi_nope')).toMatchObject({
      status: 404,
      body: { error: { code: 'resource_missing' } },
    });
  });

  it('stall never answers and does nothing: the key is not used up, the retry executes once', async () => {
    server.injectFault('payment_intents.create', 'stall');
    const before = server.executed('payment_intents.create');
    const stalled = fetch(`${server.url}/v1/payment_intents`, {
      method: 'POST',
      headers: { authorization: 'Bearer sk_test_x', 'idempotency-key': 'stall-1' },
      body: new URLSearchParams(intent).toString(),
      signal: AbortSignal.timeout(200),
    });
    await expect(stalled).rejects.toThrow();
    expect(server.executed('payment_intents.create')).toBe(before);
    const retry = await post('/v1/payment_intents', intent, 'stall-1');
    expect(retry).toMatchObject({ status: 200, body: { status: 'requires_capture' } });
    expect(retry.headers.get('idempotent-replayed')).toBeNull();
    expect(server.executed('payment_intents.create')).toBe(before + 1);
  });

  it('clearFaults drops the faults injected and not yet used', async () => {
    server.injectFault('payment_intents.create', 'apiError', 2);
    expect((await post('/v1/payment_intents', intent, 'clear-1')).status).toBe(500);
    server.clearFaults();
    const after = await post('/v1/payment_intents', intent, 'clear-1');
    expect(after).toMatchObject({ status: 200, body: { status: 'requires_capture', amount: 1500 } });
  });
});
