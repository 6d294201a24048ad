/**
 * The server of `npm run bench -- http`, run in a child process so the load generator and the SSE clients do not
 * share its event loop. It is the example server's router setup (examples/express/server.ts) without the
 * storefront, the demo routes and the worker: Express with `marketkitRouter` under `/api`, `jwtAuthenticator`,
 * helmet's defaults, and the live stream woken by `pgNotifyWake` on a dedicated `pg` client.
 *
 * The in-process lane runs here too, on command, through the same `market` and pool: the two lanes then differ
 * by the HTTP layer only, not by process, pool or how warm the JIT is.
 *
 * Usage: `node --import tsx server-child.ts <postgres url> [pool size]`. Prints `listening <port>` on stdout;
 * answers each line on stdin: `cpu` with `cpu <µs>` (its CPU time so far, user + system), `checkout <prefix>
 * <count>` with `lane <LaneRun as JSON>` once it ran those checkouts in-process; stops (closing its connections
 * and pool) when its stdin ends.
 */
import type { AddressInfo } from 'node:net';
import { postgresAdapter } from '@marketkit/adapters/postgres';
import { createMarketplace } from '@marketkit/core';
import { jwtAuthenticator, marketkitRouter, pgNotifyWake } from '@marketkit/express';
import { SandboxPaymentProvider } from '@marketkit/testing';
import express from 'express';
import pg from 'pg';
import { inProcessRun } from './checkout-load.js';
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
      // MK_BENCH_NO_TOKEN_CACHE=1 verifies every request's token (the "before" of the verified-token cache).
      authenticate: jwtAuthenticator(
        process.env['MK_BENCH_NO_TOKEN_CACHE'] === '1' ? { ...BENCH_JWT, verifiedTokenCache: false } : BENCH_JWT,
      ),
      liveEvents: { wake: pgNotifyWake(listener) },
    }),
  );
  const server = await new Promise<ReturnType<typeof app.listen>>((resolve, reject) => {
    const s = app.listen(0, '127.0.0.1', (error?: Error) => (error ? reject(error) : resolve(s)));
  });
  process.stdout.write(`listening ${(server.address() as AddressInfo).port}\n`);
  process.stdin.setEncoding('utf8');
  let pending = '';
  process.stdin.on('data', (chunk: string) => {
    pending += chunk;
    for (let nl = pending.indexOf('\n'); nl >= 0; nl = pending.indexOf('\n')) {
      const [command, prefix, count] = pending.slice(0, nl).trim().split(' ');
      pending = pending.slice(nl + 1);
      if (command === 'cpu') {
        const { user, system } = process.cpuUsage();
        process.stdout.write(`cpu ${user + system}\n`);
      } else if (command === 'checkout' && prefix !== undefined) {
        inProcessRun(market, prefix, Number(count)).then(
          (run) => process.stdout.write(`lane ${JSON.stringify(run)}\n`),
          (error: unknown) => {
            console.error(error);
            process.exit(1);
          },
        );
      }
    }
  });
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
