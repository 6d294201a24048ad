import { type ChildProcess, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { type TestDatabase, testBackends } from '@marketkit/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

/** Runs `tsx examples/express/server.ts` (what `npm run example` runs) and waits for the URL it prints. */
function startExample(env: Record<string, string>): Promise<{ child: ChildProcess; url: string }> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'examples/express/server.ts'], {
    cwd: ROOT,
    env: { ...process.env, MARKETKIT_EXAMPLE_PG_URL: '', PORT: '0', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no URL printed within 60 s:\n${output}`)), 60_000);
    const read = (chunk: Buffer) => {
      output += chunk.toString();
      const url = /Open (http:\/\/\S+)/.exec(output)?.[1];
      if (url !== undefined) {
        clearTimeout(timer);
        resolve({ child, url });
      }
    };
    child.stdout?.on('data', read);
    child.stderr?.on('data', read);
    child.once('exit', (code) => reject(new Error(`the example exited with ${code}:\n${output}`)));
  });
}

for (const backend of testBackends()) {
  describe(`npm run example on ${backend.name}`, () => {
    let database: TestDatabase;
    let child: ChildProcess | undefined;
    let url: string;

    beforeAll(async () => {
      database = await backend.createDatabase();
      const env =
        backend.name === 'postgres'
          ? { MARKETKIT_EXAMPLE_PG_URL: database.location }
          : { MARKETKIT_EXAMPLE_SQLITE: database.location };
      ({ child, url } = await startExample(env));
    });
    afterAll(async () => {
      if (child !== undefined && child.exitCode === null) {
        const exited = new Promise((resolve) => child?.once('exit', resolve));
        child.kill('SIGTERM');
        await exited;
      }
      await database?.drop();
    });

    it('prints the URL, serves the storefront and the seeded catalogue behind demo JWTs', async () => {
      const page = await fetch(url);
      expect(page.status).toBe(200);
      expect(await page.text()).toContain('<title>Marketkit example marketplace</title>');

      const { listingIds } = (await (await fetch(new URL('/demo/catalogue', url))).json()) as { listingIds: string[] };
      expect(listingIds.length).toBeGreaterThan(0);
      const tokenAnswer = await fetch(new URL('/demo/token', url), {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ role: 'buyer' }),
      });
      const { token, actor } = (await tokenAnswer.json()) as { token: string; actor: unknown };
      expect(actor).toEqual({ role: 'buyer', id: 'alice' });
      const listing = await fetch(new URL(`/api/v1/listings/${listingIds[0]}`, url), {
        headers: { Authorization: `Bearer ${token}` },
      });
      expect(listing.status).toBe(200);
      expect(await listing.json()).toMatchObject({ id: listingIds[0], sellerId: 'bob', status: 'active' });

      expect((await fetch(new URL(`/api/v1/listings/${listingIds[0]}`, url))).status).toBe(401);
      const badRole = await fetch(new URL('/demo/token', url), {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ role: 'system' }),
      });
      expect(badRole.status).toBe(400);
    });

    it("serves the marketplace's Prometheus metrics to an operator", async () => {
      const tokenAnswer = await fetch(new URL('/demo/token', url), {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ role: 'operator' }),
      });
      const { token } = (await tokenAnswer.json()) as { token: string };
      const metrics = await fetch(new URL('/api/metrics', url), { headers: { Authorization: `Bearer ${token}` } });
      expect(metrics.status).toBe(200);
      expect(await metrics.text()).toMatch(/^marketkit_outbox_backlog\{tenant=""\} \d+$/m);
      expect((await fetch(new URL('/api/metrics', url))).status).toBe(401);
    });

    it('stops cleanly on SIGTERM', async () => {
      const exited = new Promise<number | null>((resolve) => child?.once('exit', (code) => resolve(code)));
      child?.kill('SIGTERM');
      expect(await exited).toBe(0);
    });
  });
}
