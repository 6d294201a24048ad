/**
 * The server of `npm run bench -- http`, run in a child process so the load generator and the SSE clients do not
 * share its event loop. It is the example server's router setup (examples/express/server.ts) without the
 * storefront, the demo routes and the worker: Express with `marketkitRouter` under `/api`, `jwtAuthenticator`,
 * helmet's defaults, and the live stream woken by `pgNotifyWake` on a dedicated `pg` client.
 *
 * Usage: `node --import tsx server-child.ts <postgres url> [pool size]`. Prints `listening <port>` on stdout and
 * stops (closing its connections and pool) when its stdin ends.
 */
import type { AddressInfo } from 'node:net';
import { postgresAdapter } from '@marketkit/adapters/postgres';
import { createMarketplace } from '@marketkit/core';
import { jwtAuthenticator, marketkitRouter, pgNotifyWake } from '@marketkit/express';
import { SandboxPaymentProvider } from '@marketkit/testing';
import express from 'express';
import pg from 'pg';
import { BENCH_JWT } from './tokens.js';

async function main(): Promise<void> {
  const [url, poolSize] = process.argv.slice(2);
  if (url === undefined) throw new Error('usage: server-child.ts <postgres url> [pool size]');
  const market = createMarketplace({
    adapter: postgresAdapter({ connectionString: url, max: Number(poolSize ?? 32) }),
    payments: new SandboxPaymentProvider(),
  });
  const listener = new pg.Client({ connectionString: url });
  await listener.connect();
  const app = express();
  app.use(
    '/api',
    marketkitRouter(market, {
      authenticate: jwtAuthenticator(BENCH_JWT),
      liveEvents: { wake: pgNotifyWake(listener) },
    }),
  );
  const server = await new Promise<ReturnType<typeof app.listen>>((resolve, reject) => {
    const s = app.listen(0, '127.0.0.1', (error?: Error) => (error ? reject(error) : resolve(s)));
  });
  process.stdout.write(`listening ${(server.address() as AddressInfo).port}\n`);
  process.stdin.resume();
  process.stdin.once('end', () => {
    server.closeAllConnections();
    server.close(() => {
      Promise.all([market.close(), listener.end()]).then(
        () => process.exit(0),
        () => process.exit(1),
      );
    });
  });
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
