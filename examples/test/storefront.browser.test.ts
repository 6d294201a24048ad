import { existsSync, mkdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { type TestDatabase, testBackends } from '@marketkit/testing';
import { type Browser, chromium, type Page } from 'playwright-core';
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
        await signIn(buyer, server.url, 'buyer');
        await signIn(seller, server.url, 'seller');

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

        // The seller's tab learns of the order by itself, then ships and delivers it.
        const sellerOrder = seller.locator(`#orders li[data-order-id="${orderId}"]`);
        await sellerOrder.locator('button[data-transition="ship"]').click({ timeout: 10_000 });
        await expect.poll(() => sellerOrder.locator('.state').textContent()).toBe('shipped');
        await sellerOrder.locator('button[data-transition="deliver"]').click({ timeout: 10_000 });
        await expect.poll(() => sellerOrder.locator('.state').textContent()).toBe('delivered');

        // The buyer's page, never reloaded, shows the delivery and its history.
        const navigations: string[] = [];
        buyer.on('framenavigated', (f) => navigations.push(f.url()));
        await expect.poll(() => order.locator('.state').textContent(), { timeout: 5_000 }).toBe('delivered');
        await expect.poll(() => order.locator('.history').textContent()).toBe('checkout → paid → shipped → delivered');
        expect(navigations).toEqual([]);
        await expect.poll(() => order.locator('button[data-transition="confirm"]').count()).toBe(1);

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
