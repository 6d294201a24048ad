import { existsSync, mkdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { ManualClock, SandboxPaymentProvider, type TestDatabase, testBackends } from '@marketkit/testing';
import { type Browser, chromium, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type ConsoleScenario,
  parkingSaga,
  seedConsoleScenario,
} from '../../packages/express/test/fixtures/console-scenario.js';
import { issueDemoToken } from '../express/demo-tokens.js';
import { type ExampleServer, startExampleServer } from '../express/server.js';

const CHROMIUM = '/usr/bin/chromium';
const hasChromium = existsSync(CHROMIUM);
/** Where the screenshots go, for people to look at (gitignored; see docs/http.md, "The operator console"). */
const SCREENSHOTS = fileURLToPath(new URL('../../artifacts/console/', import.meta.url));

if (!hasChromium) {
  console.warn(`console browser test SKIPPED: ${CHROMIUM} is missing (apt-get install -y chromium).`);
}

/** Signs in on the console's page with `token` and waits for the panels (or the refusal). */
async function signIn(page: Page, url: string, token: string): Promise<void> {
  await page.goto(url);
  await page.waitForSelector('#sign-in:not([hidden])');
  await page.fill('#token', token);
  await page.click('#sign-in button[type=submit]');
}

for (const backend of testBackends()) {
  describe(`operator console in Chromium on ${backend.name}`, () => {
    let database: TestDatabase;
    let server: ExampleServer;
    let browser: Browser;
    let scenario: ConsoleScenario;
    const parking = parkingSaga();

    beforeAll(async () => {
      if (!hasChromium) return;
      database = await backend.createDatabase();
      const clock = new ManualClock(Date.UTC(2026, 2, 10));
      const provider = new SandboxPaymentProvider({ clock });
      server = await startExampleServer({
        adapter: database.adapter(),
        port: 0,
        // No worker: the stuck checkout and the backlog stay for the operator to see.
        worker: false,
        marketplace: {
          clock,
          payments: provider,
          sagas: [parking.definition],
          providerBreaker: { threshold: 5 },
          webhooks: { allowPrivateTargets: true },
        },
      });
      scenario = await seedConsoleScenario(server.market, clock, { days: 6, provider });
      browser = await chromium.launch({
        executablePath: CHROMIUM,
        args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--no-first-run'],
      });
    });
    afterAll(async () => {
      await browser?.close();
      await server?.close();
      await database?.drop();
    });

    it.skipIf(!hasChromium)(
      'shows an operator what is stuck, and retries and resolves parked sagas in place',
      async () => {
        const context = await browser.newContext({ viewport: { width: 1440, height: 1000 } });
        const page = await context.newPage();
        const cspErrors: string[] = [];
        page.on('console', (m) => {
          if (/Content Security Policy/i.test(m.text())) cspErrors.push(m.text());
        });
        const { token } = await issueDemoToken('operator');
        await signIn(page, `${server.url}console/`, token);
        await page.waitForSelector('#sagas');
        for (const id of scenario.parked) await page.waitForSelector(`tr[data-saga="${id}"]`);
        expect(await page.textContent('#stuck')).toContain(scenario.stuckOrderId);
        expect(await page.textContent('#stuck')).toContain('$40.00');
        expect(Number(await page.textContent('#outbox-undelivered'))).toBeGreaterThan(0);
        expect(Number(await page.textContent('#webhooks-pending'))).toBeGreaterThan(0);
        expect(await page.textContent('#breaker-state')).toBe('closed');
        // The hostile error is shown as text, and nothing of it ran.
        expect(await page.textContent('tr[data-saga="parked-hostile"]')).toContain("<script>document.title='owned'");
        expect(await page.title()).toBe('Marketkit operator console');
        // Six days of orders: the GMV chart has a bar on each.
        expect(await page.locator('#charts svg').count()).toBe(3);
        expect(
          await page.locator('#charts .gmv rect.mark[height]:not([height="0.00"])').count(),
        ).toBeGreaterThanOrEqual(6);
        mkdirSync(SCREENSHOTS, { recursive: true });
        await page.screenshot({ path: `${SCREENSHOTS}${backend.name}-overview.png`, fullPage: true });

        parking.repaired.add('parked-plain');
        await page.click('tr[data-saga="parked-plain"] button[data-action="retry"]');
        await expect.poll(() => page.textContent('#message')).toBe('Saga parked-plain is now compensating.');
        await page.waitForSelector('tr[data-saga="parked-plain"]', { state: 'detached' });

        await page.click('tr[data-saga="parked-hostile"] button[data-action="resolve"]');
        await expect.poll(() => page.textContent('#message')).toContain('Write what was done by hand');
        await page.fill('tr[data-saga="parked-hostile"] input[name=note]', 'released by hand in the dashboard');
        await page.click('tr[data-saga="parked-hostile"] button[data-action="resolve"]');
        await expect.poll(() => page.textContent('#message')).toBe('Saga parked-hostile is now resolved.');
        await expect.poll(() => page.textContent('#sagas')).toContain('No saga is parked.');
        expect((await server.market.sagas.get('parked-hostile'))?.resolution).toBe('released by hand in the dashboard');
        expect((await server.market.sagas.get('parked-plain'))?.status).toBe('compensating');
        await page.screenshot({ path: `${SCREENSHOTS}${backend.name}-after-actions.png`, fullPage: true });
        expect(existsSync(`${SCREENSHOTS}${backend.name}-after-actions.png`)).toBe(true);
        expect(cspErrors).toEqual([]);
        await context.close();
      },
    );

    it.skipIf(!hasChromium)('refuses a buyer’s token with the API’s problem, and shows the sign-in again', async () => {
      const page = await (await browser.newContext()).newPage();
      const { token } = await issueDemoToken('buyer');
      await signIn(page, `${server.url}console/`, token);
      await expect.poll(() => page.textContent('#message')).toBe('Only an operator may open the operator console.');
      expect(await page.isVisible('#sign-in')).toBe(true);
      expect(await page.$('#sagas')).toBeNull();
      await page.screenshot({ path: `${SCREENSHOTS}${backend.name}-refused.png` });
    });
  });
}
