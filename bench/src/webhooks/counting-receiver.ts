import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/** A local receiver that answers 204 to every POST and counts them; `waitFor(n)` resolves once `n` arrived. */
export interface CountingReceiver {
  readonly url: string;
  readonly count: () => number;
  reset(): void;
  waitFor(n: number): Promise<void>;
  close(): Promise<void>;
}

/** Starts a {@link CountingReceiver} on a loopback port. */
export async function startCountingReceiver(): Promise<CountingReceiver> {
  let count = 0;
  let waiter: { n: number; resolve: () => void } | undefined;
  const server: Server = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      count++;
      res.writeHead(204).end();
      if (waiter !== undefined && count >= waiter.n) {
        waiter.resolve();
        waiter = undefined;
      }
    });
  });
  server.keepAliveTimeout = 30_000;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/hooks`,
    count: () => count,
    reset: () => {
      count = 0;
    },
    waitFor: (n) =>
      count >= n
        ? Promise.resolve()
        : new Promise((resolve) => {
            waiter = { n, resolve };
          }),
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
