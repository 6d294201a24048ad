/**
 * Nothing secret or personal is ever logged: a broad flow (checkout, 3-D Secure, refunds, a payout to a stored
 * destination, failing webhook deliveries, provider failures behind a breaker, a broker and a worker poller
 * that throw errors quoting personal data) runs with a logger that keeps every call, at every level, and no logged
 * value contains a webhook secret, a JWT, a payment method token or client secret, an email, a name, an address or
 * a payout destination. The entries do carry their correlation ids.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createMarketplace, escrowAccounts, type Logger, type Marketplace, Money } from '@marketkit/core';
import {
  ManualClock,
  SANDBOX_3DS_PAYMENT_METHOD,
  SandboxPaymentProvider,
  type TestDatabase,
  testBackends,
} from '@marketkit/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { memoryTracing } from './observability-fixture.js';

const EMAIL = 'alice.liddell@example.com';
const SELLER = 'bob.builder@example.org';
const NAME = 'Alice Liddell';
const ADDRESS = '12 Rabbit Hole Lane';
const JWT = 'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.c2lnbmF0dXJlLXNlY3JldA';
const DESTINATION = 'ba_1SecretBankAcct';
const CARD = 'tok_visa';

interface Entry {
  readonly level: string;
  readonly obj: Readonly<Record<string, unknown>>;
  readonly msg: string | undefined;
}

function capturingLogger(entries: Entry[]): Logger {
  const keep = (level: string) => (obj: Readonly<Record<string, unknown>>, msg?: string) => {
    entries.push({ level, obj, msg });
  };
  return { error: keep('error'), warn: keep('warn'), info: keep('info'), debug: keep('debug') };
}

const text = (e: Entry) => JSON.stringify([e.obj, e.msg], (_k, v) => (typeof v === 'bigint' ? String(v) : v));

// One SDK for the file: the context manager is process-global, so the backends' suites share it.
const tracing = memoryTracing();
afterAll(() => tracing.shutdown());

for (const backend of testBackends()) {
  describe(`logs on ${backend.name}`, () => {
    let database: TestDatabase;
    let market: Marketplace;
    let receiver: Server;
    const entries: Entry[] = [];
    const secrets: string[] = [EMAIL, SELLER, NAME, ADDRESS, JWT, DESTINATION, CARD, SANDBOX_3DS_PAYMENT_METHOD];
    const clock = new ManualClock();
    const psp = new SandboxPaymentProvider({ clock });

    beforeAll(async () => {
      receiver = createServer((_req, res) => res.writeHead(500).end());
      await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
      database = await backend.createDatabase();
      market = createMarketplace({
        adapter: database.adapter(),
        clock,
        payments: psp,
        providerBreaker: { threshold: 2, errorPercentage: 50, resetTimeoutMs: 60_000 },
        logger: capturingLogger(entries),
        webhooks: { allowPrivateTargets: true },
        // A broker that refuses every batch with an error quoting personal data: the relay logs the failure.
        events: {
          publishers: [
            {
              publish: async () => {
                throw new Error(`broker refused: ${NAME} <${EMAIL}> at ${ADDRESS} (session ${JWT})`);
              },
            },
          ],
        },
        tracing: { tracerProvider: tracing.tracerProvider },
      });
      await market.migrate();
    });
    afterAll(async () => {
      await market?.close();
      await database?.drop();
      await new Promise((resolve) => receiver?.close(resolve));
    });

    it('never logs a secret, a token or a personal field, and logs correlation ids', async () => {
      const port = (receiver.address() as AddressInfo).port;
      const { secret } = await market.webhooks.create({ url: `http://127.0.0.1:${port}/hook`, eventTypes: ['*'] });
      secrets.push(secret);
      market.payments.breaker?.on('provider.breakerOpened', () => {
        throw new Error(`paging ${EMAIL}`);
      });
      await market.payouts.setDestination({ sellerId: SELLER, destination: DESTINATION });
      const listing = await market.listings.create({
        sellerId: SELLER,
        title: `Lamp from ${NAME}`,
        price: Money.of('30.00', 'USD'),
        quantity: 9,
      });

      const paid = await tracing.inRequest(() =>
        market.orders.checkout({ buyerId: EMAIL, listingId: listing.id, quantity: 1, paymentMethod: CARD }),
      );
      const actor = { role: 'buyer', id: EMAIL } as const;
      await market.orders.transition(paid.result.id, 'cancel', { actor, reason: `${NAME} moved to ${ADDRESS}` });
      const secure = await market.orders.checkout({
        buyerId: EMAIL,
        listingId: listing.id,
        quantity: 1,
        paymentMethod: SANDBOX_3DS_PAYMENT_METHOD,
      });
      const clientSecret = secure.customerAction?.clientSecret;
      if (clientSecret !== undefined) secrets.push(clientSecret);
      const kept = await market.orders.checkout({
        buyerId: EMAIL,
        listingId: listing.id,
        quantity: 2,
        paymentMethod: CARD,
      });
      const seller = { role: 'seller', id: SELLER } as const;
      await market.orders.transition(kept.id, 'ship', { actor: seller });
      await market.orders.transition(kept.id, 'deliver', { actor: seller });
      await market.orders.transition(kept.id, 'confirm', { actor });
      const account = await market.ledger.getAccount(escrowAccounts.seller(SELLER, 'USD'));
      const available = (account?.creditsPosted ?? 0n) - (account?.debitsPosted ?? 0n);
      await market.payouts.request({ sellerId: SELLER, currency: 'USD', amountMinor: available });

      psp.injectFault('authorize', 'error', 4);
      for (let i = 0; i < 4; i++) {
        await market.orders
          .checkout({ buyerId: EMAIL, listingId: listing.id, quantity: 1, paymentMethod: CARD })
          .catch(() => undefined);
      }

      // The worker: sagas, the relay (whose listener throws), webhook deliveries (answered 500), and a poller of the
      // host's that throws an error quoting personal data once.
      let calls = 0;
      let secondCall: () => void = () => {};
      const called = new Promise<void>((resolve) => {
        secondCall = resolve;
      });
      const worker = market.worker({
        pollIntervalMs: 5,
        extraPollers: [
          {
            name: 'host-sync',
            runOnce: async () => {
              calls++;
              if (calls === 1) throw Object.assign(new Error(`sync failed for ${EMAIL}`), { token: JWT });
              secondCall();
              return 0;
            },
          },
        ],
      });
      worker.start();
      await called;
      await worker.stop();
      await market.events.relay.runOnce();

      expect(entries.some((e) => e.msg?.startsWith('outbox relay'))).toBe(true);
      expect(entries.some((e) => e.obj['where'] === 'host-sync')).toBe(true);
      for (const entry of entries) {
        const logged = text(entry);
        for (const secret of secrets) expect(logged).not.toContain(secret);
      }
      const relayed = entries.find((e) => e.msg?.startsWith('outbox relay'));
      expect(relayed?.obj['partition']).toBeTypeOf('number');
    });
  });
}
