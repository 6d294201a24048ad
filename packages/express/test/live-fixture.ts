import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createMarketplace, type Marketplace } from '@marketkit/core';
import {
  attachLiveWebSocket,
  jwtAuthenticator,
  type LiveEventsOptions,
  type LiveWebSocket,
  type LiveWebSocketOptions,
  marketkitRouter,
  pgNotifyWake,
} from '@marketkit/express';
import { SandboxPaymentProvider, type TestBackend, type TestDatabase } from '@marketkit/testing';
import express from 'express';
import { SignJWT } from 'jose';
import pg from 'pg';
import { expect } from 'vitest';

const SECRET = 'a-test-secret-of-at-least-32-bytes!!';
/** The JWT settings every live test process verifies. */
export const auth = { secret: SECRET, issuer: 'test-shop', audience: 'test-api' } as const;

/** Where a server listens: a TCP port, or a UNIX socket (small kernel buffers, for the slow-client tests). */
export type Address = { readonly port: number } | { readonly socketPath: string };

/** One "process": a marketplace with its own pool, its router and live WebSocket on one HTTP server. */
export interface LiveProcess {
  readonly port: number;
  readonly market: Marketplace;
  readonly server: Server;
  readonly live: LiveWebSocket;
}

/** The path of the live WebSocket in these tests. */
export const LIVE_PATH = '/api/v1/live';

/**
 * Two processes on one database of `backend`, users alice and carol (buyers), bob (seller) and ops (operator), and
 * a listing of bob's to buy from. On PostgreSQL the processes are woken by LISTEN/NOTIFY only (they would poll once
 * a minute); SQLite polls. Pages of two events, so that catching up and the shared reader both read several pages.
 */
export class LiveFixture {
  readonly tokens: Record<string, string> = {};
  a!: LiveProcess;
  b!: LiveProcess;
  readonly #backend: TestBackend;
  #database: TestDatabase | undefined;
  readonly #markets: Marketplace[] = [];
  readonly #processes: LiveProcess[] = [];
  readonly #listeners: pg.Client[] = [];
  #listingId = '';
  #keys = 0;

  constructor(backend: TestBackend) {
    this.#backend = backend;
  }

  async setUp(): Promise<void> {
    this.#database = await this.#backend.createDatabase();
    this.a = await this.serve(await this.liveOptions());
    this.b = await this.serve(await this.liveOptions());
    for (const [who, role] of [
      ['alice', 'buyer'],
      ['carol', 'buyer'],
      ['bob', 'seller'],
      ['ops', 'operator'],
    ] as const) {
      this.tokens[who] = await token(who, role);
    }
  }

  async tearDown(): Promise<void> {
    for (const p of this.#processes) {
      await p.live.close();
      p.server.closeAllConnections();
      p.server.close();
    }
    for (const c of this.#listeners) await c.end();
    for (const m of this.#markets) await m.close();
    await this.#database?.drop();
  }

  /** A token of `who`'s. */
  token(who: string): string {
    return this.tokens[who] ?? '';
  }

  /** Live options for one process, see the class. */
  async liveOptions(): Promise<LiveEventsOptions> {
    if (this.#backend.name === 'sqlite') return { pollIntervalMs: 20, heartbeatMs: 100, pageSize: 2 };
    const client = new pg.Client({ connectionString: this.#database?.location });
    await client.connect();
    this.#listeners.push(client);
    return { wake: pgNotifyWake(client), pollIntervalMs: 60_000, heartbeatMs: 100, pageSize: 2 };
  }

  /** Starts one more process. */
  async serve(
    live: LiveEventsOptions,
    listen: Address = { port: 0 },
    ws: Partial<LiveWebSocketOptions> = {},
  ): Promise<LiveProcess> {
    if (this.#database === undefined) throw new Error('setUp() first');
    const market = createMarketplace({ adapter: this.#database.adapter(), payments: new SandboxPaymentProvider() });
    this.#markets.push(market);
    await market.migrate();
    const authenticate = jwtAuthenticator(auth);
    const app = express();
    app.use('/api', marketkitRouter(market, { authenticate, liveEvents: live }));
    const server = createServer(app);
    const liveWs = attachLiveWebSocket(server, market, { path: LIVE_PATH, authenticate, liveEvents: live, ...ws });
    server.listen('port' in listen ? { port: 0, host: '127.0.0.1' } : { path: listen.socketPath });
    await once(server, 'listening');
    const port = 'port' in listen ? (server.address() as AddressInfo).port : 0;
    const p = { port, market, server, live: liveWs };
    this.#processes.push(p);
    return p;
  }

  /** A call to process `port`'s API as `who`, which must succeed. */
  async call(port: number, who: string, method: string, path: string, body: unknown, key?: string) {
    const res = await fetch(`http://127.0.0.1:${port}/api/v1${path}`, {
      method,
      headers: {
        Authorization: `Bearer ${this.token(who)}`,
        'Content-Type': 'application/json',
        ...(key === undefined ? {} : { 'Idempotency-Key': key }),
      },
      body: JSON.stringify(body),
    });
    expect(res.status, await res.clone().text()).toBeLessThan(300);
    return (await res.json()) as { id: string };
  }

  /** A checkout by `buyer` through process A: two events (checkout, paid). */
  async buy(buyer: string): Promise<string> {
    if (this.#listingId === '') {
      const listing = await this.call(this.a.port, 'bob', 'POST', '/listings', {
        title: 'Lamp',
        price: { amount: '4000', currency: 'USD' },
        quantity: 1000,
      });
      this.#listingId = listing.id;
    }
    const order = await this.call(
      this.a.port,
      buyer,
      'POST',
      '/checkouts',
      { listingId: this.#listingId, quantity: 1, paymentMethod: 'tok_visa' },
      `k-${++this.#keys}`,
    );
    return order.id;
  }

  /** Fires transition `name` of an order through process A. */
  fire(orderId: string, name: string, who = 'bob', reason?: string) {
    return this.call(
      this.a.port,
      who,
      'POST',
      `/orders/${orderId}/transitions/${name}`,
      reason === undefined ? {} : { reason },
    );
  }
}

function token(sub: string, role: string): Promise<string> {
  return new SignJWT({ sub, role })
    .setProtectedHeader({ alg: 'HS256' })
    .setIssuer(auth.issuer)
    .setAudience(auth.audience)
    .setIssuedAt()
    .setExpirationTime('10m')
    .sign(new TextEncoder().encode(SECRET));
}

/** Waits until `done()` holds, failing after `ms` with `describe()` in the message. */
export async function until(done: () => boolean, describe: () => string, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!done()) {
    if (Date.now() > deadline) throw new Error(`timed out; got ${describe()}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}
