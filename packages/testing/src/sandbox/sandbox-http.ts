import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  isMarketkitError,
  MarketkitError,
  type PaymentOperation,
  type PaymentProvider,
  restoreMarketkitError,
  type StoredMarketkitError,
} from '@marketkit/core';
import type { SandboxPaymentProvider } from './sandbox-payment-provider.js';

const OPS = new Set<string>(['authorize', 'capture', 'void', 'refund', 'payout', 'listEffects', 'authorizationStatus']);

function encode(value: unknown): string {
  return JSON.stringify(value, (_k, v: unknown) => (typeof v === 'bigint' ? { $bigint: v.toString() } : v));
}

function decode(text: string): unknown {
  return JSON.parse(text, (_k, v: unknown) =>
    v !== null && typeof v === 'object' && '$bigint' in v ? BigInt((v as { $bigint: string }).$bigint) : v,
  );
}

/**
 * Serves one sandbox over HTTP on loopback, so worker processes share the same "external" provider.
 *
 * @example
 * ```ts
 * const psp = new SandboxPaymentProvider();
 * const server = await serveSandbox(psp);         // in the test process
 * const remote = httpPaymentProvider(server.url); // in each worker process
 * ```
 */
export async function serveSandbox(sandbox: SandboxPaymentProvider): Promise<{
  /** Where the sandbox listens. */
  url: string;
  /** Stops the server. */
  close(): Promise<void>;
}> {
  const server = createServer((req, res) => {
    const op = (req.url ?? '').slice(1);
    let body = '';
    req.on('data', (chunk: Buffer) => {
      body += chunk.toString('utf8');
    });
    req.on('end', () => {
      if (!OPS.has(op)) {
        res.writeHead(404).end();
        return;
      }
      const call = (sandbox as unknown as Record<string, (r: unknown) => Promise<unknown>>)[op]!;
      call
        .call(sandbox, decode(body))
        .then(
          (value) => encode({ ok: true, value: value ?? null }),
          (error: unknown) =>
            encode({
              ok: false,
              error: isMarketkitError(error)
                ? error.toJSON()
                : { code: 'PROVIDER_ERROR', message: String(error), details: { operation: op } },
            }),
        )
        .then((text) => res.writeHead(200, { 'content-type': 'application/json' }).end(text));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    close: () => new Promise<void>((resolve, reject) => server.close((e) => (e ? reject(e) : resolve()))),
  };
}

/** A `PaymentProvider` that calls a sandbox served by {@link serveSandbox}, `listEffects` and `authorizationStatus` included. */
export function httpPaymentProvider(url: string): PaymentProvider {
  const call = async (
    op: PaymentOperation | 'listEffects' | 'authorizationStatus',
    request: unknown,
  ): Promise<never> => {
    let text: string;
    try {
      const res = await fetch(`${url}/${op}`, { method: 'POST', body: encode(request) });
      text = await res.text();
    } catch (error) {
      throw new MarketkitError('PROVIDER_ERROR', {
        message: `Sandbox unreachable: ${String(error)}`,
        details: { operation: op },
        cause: error,
      });
    }
    const out = decode(text) as { ok: boolean; value?: unknown; error?: StoredMarketkitError };
    if (out.ok) return out.value as never;
    throw restoreMarketkitError(out.error ?? { code: 'PROVIDER_ERROR', message: 'error' });
  };
  return {
    name: 'sandbox-http',
    authorize: (r) => call('authorize', r),
    capture: (r) => call('capture', r),
    void: async (r) => {
      await call('void', r);
    },
    refund: (r) => call('refund', r),
    payout: (r) => call('payout', r),
    listEffects: (q) => call('listEffects', q),
    authorizationStatus: (id) => call('authorizationStatus', id),
  };
}
