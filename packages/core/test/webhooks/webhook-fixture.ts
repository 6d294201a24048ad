import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { type Clock, createMarketplace, type Marketplace, Money, type WebhooksOptions } from '@marketkit/core';
import { ManualClock, SandboxPaymentProvider, type TestDatabase } from '@marketkit/testing';

/** One POST the receiver got. */
export interface Received {
  readonly eventId: string;
  readonly body: string;
  readonly signature: string;
  /** The marketplace clock's time when it arrived, in unix seconds. */
  readonly atSec: number;
  /** What the receiver answered (0 when it never answered). */
  readonly status: number;
}

/** How the receiver answers: 2xx, 500, or never (the connection stays open until the sender gives up). */
export type ReceiverMode = 'ok' | 'fail' | 'stall';

/** A real HTTP receiver on a loopback port, answering as told and keeping what it got. */
export class TestReceiver {
  mode: ReceiverMode = 'ok';
  /** Event ids answered with 500 whatever the mode. */
  readonly failIds = new Set<string>();
  /** Delay before answering, in real ms. */
  delayMs = 0;
  readonly received: Received[] = [];
  readonly #server: Server;
  readonly #clock: Clock;

  private constructor(server: Server, clock: Clock) {
    this.#server = server;
    this.#clock = clock;
  }

  static async start(clock: Clock, path = '/hooks'): Promise<TestReceiver & { url: string }> {
    let self: TestReceiver | undefined;
    const server = createServer((req, res) => void self?.handle(req, res));
    self = new TestReceiver(server, clock);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    return Object.assign(self, { url: `http://127.0.0.1:${port}${path}` });
  }

  /** Event ids answered 2xx, with how often. */
  accepted(): Map<string, number> {
    const counts = new Map<string, number>();
    for (const r of this.received) if (r.status === 204) counts.set(r.eventId, (counts.get(r.eventId) ?? 0) + 1);
    return counts;
  }

  async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const body = Buffer.concat(chunks).toString('utf8');
    const eventId = String(req.headers['marketkit-event-id'] ?? '');
    const signature = String(req.headers['marketkit-signature'] ?? '');
    const atSec = Math.floor(this.#clock.now() / 1000);
    const mode = this.failIds.has(eventId) ? 'fail' : this.mode;
    if (mode === 'stall') {
      this.received.push({ eventId, body, signature, atSec, status: 0 });
      return; // never answers
    }
    if (this.delayMs > 0) await new Promise((r) => setTimeout(r, this.delayMs));
    const status = mode === 'ok' ? 204 : 500;
    this.received.push({ eventId, body, signature, atSec, status });
    res.writeHead(status).end();
  }

  async close(): Promise<void> {
    this.#server.closeAllConnections();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }
}

/** A marketplace with a sandbox provider and a manual clock, migrated, for webhook tests. */
export async function openMarket(
  database: TestDatabase,
  webhooks: WebhooksOptions = { allowPrivateTargets: true, timeoutMs: 300 },
  clock = new ManualClock(),
): Promise<{ market: Marketplace; clock: ManualClock }> {
  const market = createMarketplace({
    adapter: database.adapter(),
    clock,
    payments: new SandboxPaymentProvider(),
    webhooks,
  });
  await market.migrate();
  return { market, clock };
}

let sold = 0;

/** One checkout of a new listing of `sellerId`: writes the checkout's order (and ledger) events. */
export async function sell(market: Marketplace, sellerId = 'seller-1'): Promise<string> {
  const listing = await market.listings.create({
    sellerId,
    title: 'Lamp',
    price: Money.of('12.00', 'USD'),
    quantity: 1,
  });
  const order = await market.orders.checkout({
    buyerId: `buyer-${++sold}`,
    listingId: listing.id,
    quantity: 1,
    paymentMethod: 'tok_visa',
  });
  return order.id;
}

/**
 * Drives deliveries as workers would, on the manual clock: fans the outbox out, sends what is due, then moves the
 * clock by `stepMs`, `steps` times (or until `until()` holds after a step).
 */
export async function pump(
  market: Marketplace,
  clock: ManualClock,
  { stepMs, steps, until }: { stepMs: number; steps: number; until?: () => boolean | Promise<boolean> },
): Promise<void> {
  for (let i = 0; i < steps; i++) {
    await drain(market);
    if (until !== undefined && (await until())) return;
    clock.advance(stepMs);
  }
  await drain(market);
}

/** Fans out every pending event and sends every due delivery, now. */
export async function drain(market: Marketplace): Promise<void> {
  for (let i = 0; i < 100 && (await market.events.runOnce()) > 0; i++) {}
  for (let i = 0; i < 100 && (await market.webhooks.deliverDue()) > 0; i++) {}
}
