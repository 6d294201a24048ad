import { existsSync, mkdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { type TestDatabase, testBackends } from '@marketkit/testing';
import { type Browser, chromium, type Page, type WebSocketRoute } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ExampleServer, startExampleServer } from '../express/server.js';

const CHROMIUM = '/usr/bin/chromium';
const hasChromium = existsSync(CHROMIUM);
const SCREENSHOTS = fileURLToPath(new URL('../express/screenshots/', import.meta.url));

if (!hasChromium) {
  console.warn(
    `storefront browser test SKIPPED: ${CHROMIUM} is missing (apt-get install -y chromium; .ci/run installs it).`,
  );
}

/** One live WebSocket of a page, seen through a route: the frames each way. */
interface LiveSocket {
  readonly route: WebSocketRoute;
  readonly sent: string[];
  readonly received: string[];
}

/**
 * Routes the page's live WebSockets through the test, recording their frames. The page's messages reach the server
 * only once `gate()` (asked when the socket opens) resolves: a test holds a reconnection back with it.
 */
async function recordLiveSockets(page: Page, gate: () => Promise<void>): Promise<LiveSocket[]> {
  const sockets: LiveSocket[] = [];
  await page.routeWebSocket(/\/api\/v1\/live$/, (route) => {
    const socket: LiveSocket = { route, sent: [], received: [] };
    sockets.push(socket);
    const opened = gate();
    const server = route.connectToServer();
    route.onMessage((m) => {
      socket.sent.push(String(m));
      opened.then(
        () => server.send(m),
        () => {},
      );
    });
    server.onMessage((m) => {
      socket.received.push(String(m));
      route.send(m);
    });
  });
  return sockets;
}

/** Paths of the page's requests that read orders: what a polling page would repeat. */
function recordOrderReads(page: Page): string[] {
  const reads: string[] = [];
  page.on('request', (r) => {
    const path = new URL(r.url()).pathname;
    if (path.startsWith('/api/v1/orders') || path === '/demo/orders') reads.push(`${r.method()} ${path}`);
  });
  return reads;
}

/** Waits until `reads` has not grown for half a second. */
async function settled(page: Page, reads: readonly string[]): Promise<void> {
  for (let n = -1; n !== reads.length; ) {
    n = reads.length;
    await page.waitForTimeout(500);
  }
}

async function signIn(page: Page, url: string, role: 'buyer' | 'seller'): Promise<void> {
  await page.goto(url);
  await page.selectOption('#role', role);
  await page.click('#sign-in button[type=submit]');
  await expect.poll(() => page.textContent('#who')).toContain(`(${role})`);
}

for (const backend of testBackends()) {
  describe(`example storefront in Chromium on ${backend.name}`, () => {
    let database: TestDatabase;
    let server: ExampleServer;
    let browser: Browser;

    beforeAll(async () => {
      if (!hasChromium) return;
      database = await backend.createDatabase();
      server = await startExampleServer({ adapter: database.adapter(), port: 0 });
      browser = await chromium.launch({
        executablePath: CHROMIUM,
        args: [
          '--headless',
          '--no-sandbox',
          '--disable-gpu',
          '--disable-background-networking',
          '--disable-component-update',
          '--disable-sync',
          '--no-first-run',
        ],
      });
    });
    afterAll(async () => {
      await browser?.close();
      await server?.close();
      await database?.drop();
    });

    it.skipIf(!hasChromium)(
      hasChromium
        ? 'shows the buyer the delivery without a reload'
        : `shows the buyer the delivery without a reload — SKIPPED: ${CHROMIUM} is missing`,
      async () => {
        const buyer = await (await browser.newContext()).newPage();
        const seller = await (await browser.newContext()).newPage();
        // The first checkout reaches the server and commits, but the page is told 503: it must retry with the same key.
        const checkoutKeys: (string | undefined)[] = [];
        await buyer.route('**/api/v1/checkouts', async (route) => {
          checkoutKeys.push(route.request().headers()['idempotency-key']);
          const response = await route.fetch();
          if (checkoutKeys.length > 1) return route.fulfill({ response });
          return route.fulfill({ status: 503, contentType: 'application/problem+json', body: '{"detail":"lost"}' });
        });
        let held: Promise<void> = Promise.resolve();
        const liveSockets = await recordLiveSockets(buyer, () => held);
        const orderReads = recordOrderReads(buyer);
        await signIn(buyer, server.url, 'buyer');
        await signIn(seller, server.url, 'seller');
        // The buyer's page authenticates its live WebSocket with its first message: no token in the URL.
        await expect.poll(() => buyer.textContent('#live')).toBe('● Live');
        expect(liveSockets).toHaveLength(1);
        expect(liveSockets[0]?.route.url()).toBe(`${server.url.replace('http:', 'ws:')}api/v1/live`);
        expect(JSON.parse(liveSockets[0]?.sent[0] ?? '{}')).toMatchObject({ type: 'auth' });
        expect(JSON.parse(liveSockets[0]?.sent[0] ?? '{}')).not.toHaveProperty('lastEventId');

        const lamp = buyer.locator('#listings li[data-listing-id="lst_brass_lamp"]');
        await expect.poll(() => lamp.locator('.stock').textContent()).toBe('5 of 5 available');
        await lamp.getByRole('button', { name: 'Buy' }).click();
        await expect.poll(() => buyer.textContent('#message'), { timeout: 10_000 }).toMatch(/^Order \S+ placed/);
        expect(checkoutKeys).toHaveLength(2);
        expect(checkoutKeys[0]).toMatch(/^[0-9a-f-]{36}$/);
        expect(checkoutKeys[1]).toBe(checkoutKeys[0]);
        const order = buyer.locator('#orders li[data-order-id]');
        await expect.poll(() => order.count()).toBe(1);
        const orderId = await order.getAttribute('data-order-id');
        expect(await buyer.textContent('#message')).toBe(`Order ${orderId} placed (replayed).`);
        await expect.poll(() => order.locator('.state').textContent()).toBe('paid');
        await expect.poll(() => buyer.textContent('#balances')).toContain('$40.00');
        await expect.poll(() => lamp.locator('.stock').textContent()).toBe('4 of 5 available');

        // Nothing changes, nothing is read: the page does not poll (it read orders every second before). The window
        // opens once the order's events reached the page (on PostgreSQL they can come a little after the checkout's
        // answer, while other transactions hold them back) and the reads they cause are done.
        await expect
          .poll(() =>
            liveSockets[0]?.received.some((m) => (JSON.parse(m) as { event?: { to?: string } }).event?.to === 'paid'),
          )
          .toBe(true);
        await settled(buyer, orderReads);
        const readsBeforeIdle = orderReads.length;
        await buyer.waitForTimeout(2500);
        expect(orderReads.slice(readsBeforeIdle)).toEqual([]);

        // The seller's tab learns of the order by itself, then ships it; the buyer's page shows it, pushed.
        const navigations: string[] = [];
        buyer.on('framenavigated', (f) => navigations.push(f.url()));
        const sellerOrder = seller.locator(`#orders li[data-order-id="${orderId}"]`);
        await sellerOrder.locator('button[data-transition="ship"]').click({ timeout: 10_000 });
        await expect.poll(() => sellerOrder.locator('.state').textContent()).toBe('shipped');
        await expect.poll(() => order.locator('.state').textContent(), { timeout: 5_000 }).toBe('shipped');

        // The buyer's connection drops; the seller delivers while the page is away (its reconnection held back).
        const lastSeen = liveSockets[0]?.received.map((m) => JSON.parse(m) as { type: string; id?: string }).at(-1);
        expect(lastSeen?.type).toBe('order');
        let release = () => {};
        held = new Promise((resolve) => {
          release = resolve;
        });
        await liveSockets[0]?.route.close({ code: 1012, reason: 'test drops it' });
        await sellerOrder.locator('button[data-transition="deliver"]').click({ timeout: 10_000 });
        await expect.poll(() => sellerOrder.locator('.state').textContent()).toBe('delivered');
        await expect.poll(() => liveSockets.length, { timeout: 10_000 }).toBe(2);
        await expect.poll(() => liveSockets[1]?.sent.length).toBe(1); // its auth message, held back
        expect(await order.locator('.state').textContent()).toBe('shipped');
        release();

        // It reconnected with the last id it got, and the event it missed arrives: 'delivered' without a reload.
        expect(JSON.parse(liveSockets[1]?.sent[0] ?? '{}')).toMatchObject({ type: 'auth', lastEventId: lastSeen?.id });
        await expect.poll(() => order.locator('.state').textContent(), { timeout: 5_000 }).toBe('delivered');
        await expect.poll(() => order.locator('.history').textContent()).toBe('checkout → paid → shipped → delivered');
        expect(navigations).toEqual([]);
        await expect.poll(() => order.locator('button[data-transition="confirm"]').count()).toBe(1);
        await settled(buyer, orderReads);
        const readsAfterDelivery = orderReads.length;
        await buyer.waitForTimeout(1500);
        expect(orderReads.slice(readsAfterDelivery)).toEqual([]);

        mkdirSync(SCREENSHOTS, { recursive: true });
        await buyer.screenshot({ path: `${SCREENSHOTS}${backend.name}-buyer.png`, fullPage: true });
        await seller.screenshot({ path: `${SCREENSHOTS}${backend.name}-seller.png`, fullPage: true });
        expect(existsSync(`${SCREENSHOTS}${backend.name}-buyer.png`)).toBe(true);

        // The buyer confirms: escrow empties, and the seller's tab shows the price less the 10 % commission.
        await order.locator('button[data-transition="confirm"]').click();
        await expect.poll(() => sellerOrder.locator('.state').textContent(), { timeout: 5_000 }).toBe('completed');
        await expect.poll(() => sellerOrder.locator('.amounts').textContent()).toContain('in escrow $0.00');
        await expect.poll(() => seller.textContent('#balances')).toContain('Seller balance, available$36.00');
      },
      60_000,
    );
  });
}
