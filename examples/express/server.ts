/**
 * The example marketplace: Express with Marketkit's router under `/api`, the operator console under `/console`, a
 * worker in the same process, the sandbox payment provider, a seeded catalogue, demo sign-in and a storefront page
 * whose order status is live (a WebSocket at `/api/v1/live`). `npm run example` runs it on a SQLite file (PostgreSQL when `MARKETKIT_EXAMPLE_PG_URL` is set)
 * on `PORT` (default 3000) and prints the URL.
 */
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { postgresAdapter } from '@marketkit/adapters/postgres';
import { sqliteAdapter } from '@marketkit/adapters/sqlite';
import {
  type Actor,
  createMarketplace,
  type Marketplace,
  type MarketplaceOptions,
  type StorageAdapter,
} from '@marketkit/core';
import { attachLiveWebSocket, jwtAuthenticator, marketkitRouter, operatorConsole } from '@marketkit/express';
import { SandboxPaymentProvider } from '@marketkit/testing';
import express, { type Request, type Response } from 'express';
import { Registry } from 'prom-client';
import { DEMO_JWT, DEMO_USERS, isDemoRole, issueDemoToken } from './demo-tokens.js';
import { PartyOrders } from './party-orders.js';
import { seedCatalogue } from './seed.js';

/** Options of {@link startExampleServer}. */
export interface ExampleServerOptions {
  /** Where the marketplace keeps its data. */
  readonly adapter: StorageAdapter;
  /** TCP port; 0 picks a free one. Default 3000. */
  readonly port?: number;
  /** Host to listen on. Default `127.0.0.1`. */
  readonly host?: string;
  /**
   * More options of `createMarketplace` (a clock, sagas, a provider breaker, …); `payments` replaces the sandbox.
   * The console reads the time from `clock` too.
   */
  readonly marketplace?: Omit<MarketplaceOptions, 'adapter'>;
  /** Whether a worker runs in this process. Default true; false leaves due work waiting (as when workers are down). */
  readonly worker?: boolean;
}

/** A running example server. */
export interface ExampleServer {
  /** The storefront's address, e.g. `http://127.0.0.1:3000/`. */
  readonly url: string;
  readonly market: Marketplace;
  /** Stops the HTTP server and the worker, then closes the database. */
  close(): Promise<void>;
}

/** Migrates, seeds, starts a worker and serves the storefront and the API. */
export async function startExampleServer(options: ExampleServerOptions): Promise<ExampleServer> {
  // Prometheus metrics of the marketplace, served to operators at GET /api/metrics (docs/observability.md).
  const registry = new Registry();
  const market = createMarketplace({
    payments: new SandboxPaymentProvider(),
    commission: { kind: 'percentage', percent: '10' },
    metrics: { registry },
    ...options.marketplace,
    adapter: options.adapter,
  });
  await market.migrate();
  const catalogue = await seedCatalogue(market);
  const orders = new PartyOrders(market);
  const worker = options.worker === false ? undefined : market.worker({ pollIntervalMs: 100 });
  worker?.start();

  const authenticate = jwtAuthenticator(DEMO_JWT);
  const app = express();
  app.use('/api', marketkitRouter(market, { authenticate, metrics: { registry } }));
  // The operator console: sign in there with an operator token (POST /demo/token {"role":"operator"}).
  const clock = options.marketplace?.clock;
  app.use(
    '/console',
    operatorConsole(market, { authenticate, ...(clock === undefined ? {} : { now: () => clock.now() }) }),
  );
  app.post('/demo/token', express.json({ limit: '1kb' }), (req: Request, res: Response) => {
    const role: unknown = (req.body as { role?: unknown } | undefined)?.role;
    if (!isDemoRole(role)) {
      res.status(400).json({ error: `role must be one of ${Object.keys(DEMO_USERS).join(', ')}` });
      return;
    }
    issueDemoToken(role).then(
      (issued) => res.json(issued),
      () => res.status(500).json({ error: 'could not sign a token' }),
    );
  });
  app.get('/demo/catalogue', (_req, res) => {
    res.json({ listingIds: catalogue });
  });
  app.get('/demo/orders', (req: Request, res: Response) => {
    Promise.resolve(authenticate(req)).then(
      (actor: Actor | undefined) => {
        if (actor === undefined) res.status(401).json({ error: 'sign in first' });
        else res.json({ orderIds: orders.of(actor) });
      },
      () => res.status(401).json({ error: 'sign in first' }),
    );
  });
  app.use(express.static(fileURLToPath(new URL('./public/', import.meta.url))));

  const host = options.host ?? '127.0.0.1';
  const server = await new Promise<ReturnType<typeof app.listen>>((resolve, reject) => {
    const s = app.listen(options.port ?? 3000, host, (error?: Error) => (error ? reject(error) : resolve(s)));
  });
  // Order status reaches the storefront live: a WebSocket beside the router (an Express router cannot take upgrades).
  const live = attachLiveWebSocket(server, market, { path: '/api/v1/live', authenticate });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://${host}:${port}/`,
    market,
    async close() {
      await live.close();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await worker?.stop();
      await market.close();
    },
  };
}

/** The adapter `npm run example` uses: PostgreSQL from `MARKETKIT_EXAMPLE_PG_URL`, else a SQLite file. */
function adapterFromEnvironment(): { adapter: StorageAdapter; where: string } {
  const pgUrl = process.env['MARKETKIT_EXAMPLE_PG_URL'];
  if (pgUrl !== undefined && pgUrl !== '') {
    return { adapter: postgresAdapter({ connectionString: pgUrl }), where: 'PostgreSQL (MARKETKIT_EXAMPLE_PG_URL)' };
  }
  const filename = process.env['MARKETKIT_EXAMPLE_SQLITE'] ?? join(tmpdir(), 'marketkit-example.db');
  return { adapter: sqliteAdapter({ filename }), where: `SQLite ${filename}` };
}

async function main(): Promise<void> {
  const { adapter, where } = adapterFromEnvironment();
  const port = Number(process.env['PORT'] ?? 3000);
  const server = await startExampleServer({ adapter, port, host: process.env['HOST'] ?? '127.0.0.1' });
  console.log(`Marketkit example marketplace on ${where}`);
  console.log(`Open ${server.url} (sign in as buyer in one tab and as seller in another)`);
  console.log(
    `Operator console: ${server.url}console/ (a token: curl -X POST -H 'Content-Type: application/json' -d '{"role":"operator"}' ${server.url}demo/token)`,
  );
  const stop = () => {
    server.close().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().catch((error: unknown) => {
    console.error(error);
    process.exitCode = 1;
  });
}
