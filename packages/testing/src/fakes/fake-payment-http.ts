import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { isMarketkitError, MarketkitError, restoreMarketkitError, type StoredMarketkitError } from '@marketkit/core';
import type { FakePaymentService, PaymentServiceClient } from './fake-payment-service.js';

const encode = (value: unknown) =>
  JSON.stringify(value, (_k, v: unknown) => (typeof v === 'bigint' ? { $bigint: v.toString() } : v));
const decode = (text: string): unknown =>
  JSON.parse(text, (_k, v: unknown) =>
    v !== null && typeof v === 'object' && '$bigint' in v ? BigInt((v as { $bigint: string }).$bigint) : v,
  );

/**
 * Serves a {@link FakePaymentService} on loopback, so worker processes share one "external" service (and the
 * test process keeps control of its faults and gates).
 *
 * @example
 * ```ts
 * const psp = new FakePaymentService();
 * const server = await serveFakePaymentService(psp);       // in the test
 * const client = httpPaymentServiceClient(server.url);     // in each worker process
 * ```
 */
export async function serveFakePaymentService(service: FakePaymentService): Promise<{
  /** Where the service listens. */
  readonly url: string;
  /** Stops the server. */
  close(): Promise<void>;
}> {
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (chunk: Buffer) => {
      body += chunk.toString('utf8');
    });
    req.on('end', () => {
      const op = (req.url ?? '').slice(1);
      const args = decode(body || 'null') as Record<string, unknown>;
      let call: Promise<unknown>;
      if (op === 'charge') call = service.charge(args as never);
      else if (op === 'refund') call = service.refund(args as never);
      else if (op === 'checkpoint')
        call = service.checkpoint(String(args['name']), (args['info'] ?? {}) as Record<string, string>);
      else {
        res.writeHead(404).end();
        return;
      }
      void call
        .then(
          (value) => encode({ ok: true, value: value ?? null }),
          (error: unknown) =>
            encode({
              ok: false,
              error: isMarketkitError(error) ? error.toJSON() : { code: 'PROVIDER_ERROR', message: String(error) },
            }),
        )
        .then((text) => {
          if (!res.destroyed) res.writeHead(200, { 'content-type': 'application/json' }).end(text);
        });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.closeAllConnections();
        server.close((e) => (e ? reject(e) : resolve()));
      }),
  };
}

/** A client of a fake served by {@link serveFakePaymentService}. */
export function httpPaymentServiceClient(url: string): PaymentServiceClient {
  const call = async (op: string, request: unknown): Promise<never> => {
    let text: string;
    try {
      const res = await fetch(`${url}/${op}`, { method: 'POST', body: encode(request) });
      text = await res.text();
    } catch (error) {
      throw new MarketkitError('PROVIDER_ERROR', {
        message: `fake service unreachable: ${String(error)}`,
        details: { operation: op },
        cause: error,
      });
    }
    const out = decode(text) as { ok: boolean; value?: unknown; error?: StoredMarketkitError };
    if (out.ok) return out.value as never;
    throw restoreMarketkitError(out.error ?? { code: 'PROVIDER_ERROR', message: 'error' });
  };
  return {
    charge: (r) => call('charge', r),
    refund: (r) => call('refund', r),
    checkpoint: async (name, info) => {
      await call('checkpoint', { name, info: info ?? {} });
    },
  };
}
