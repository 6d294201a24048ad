/**
 * One worker process of `npm run bench -- webhooks`: `sdk` runs `market.worker()` until no delivery is pending; `raw` POSTs its share of signed bodies in `inFlight` plain loops (the baseline). Prints `ready`, waits for
 * a line on stdin, works, prints `{"done":n}`.
 */
import http from 'node:http';
import { postgresAdapter } from '@marketkit/adapters/postgres';
import { createMarketplace, signWebhookBody, silentLogger } from '@marketkit/core';

/** What the parent passes a child. */
export interface ChildSpec {
  readonly mode: 'sdk' | 'raw';
  readonly location: string;
  readonly url: string;
  readonly secret: string;
  /** Bodies a raw child sends. */
  readonly share: number;
  readonly inFlight: number;
}

/** A body shaped like a delivery's. */
export function benchBody(i: number): string {
  const data = { orderId: `ord_${i}`, seq: 2, transition: 'pay', from: 'checkout', to: 'paid', amountMinor: '1250' };
  return JSON.stringify({ id: `evt_${i}`, type: 'order.paid', createdAt: new Date(0).toISOString(), data });
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function runSdk(spec: ChildSpec, go: Promise<void>): Promise<number> {
  const market = createMarketplace({
    adapter: postgresAdapter({ connectionString: spec.location, max: 4 }),
    logger: silentLogger,
    webhooks: { allowPrivateTargets: true, batchSize: spec.inFlight },
  });
  await market.webhooks.listDeliveries({ limit: 1 }); // connect before the clock starts
  process.stdout.write('ready\n');
  await go;
  // What a host runs: the marketplace's worker (its webhooks poller keeps `inFlight` deliveries going).
  const worker = market.worker({ pollIntervalMs: 50 });
  worker.start();
  while ((await market.webhooks.listDeliveries({ status: 'pending', limit: 1 })).length > 0) await sleep(20);
  await worker.stop();
  const done = (await market.webhooks.listDeliveries({ status: 'succeeded', limit: 1 })).length;
  await market.close();
  return done;
}

async function runRaw(spec: ChildSpec, go: Promise<void>): Promise<number> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 64 });
  const url = new URL(spec.url);
  const post = (body: string) =>
    new Promise<boolean>((resolve) => {
      const headers = {
        'content-type': 'application/json',
        'content-length': String(Buffer.byteLength(body)),
        'Marketkit-Signature': signWebhookBody(body, [spec.secret], Math.floor(Date.now() / 1000)),
      };
      const req = http.request(url, { method: 'POST', agent, headers, signal: AbortSignal.timeout(10_000) }, (res) => {
        res.resume();
        res.on('end', () => resolve((res.statusCode ?? 0) < 300));
      });
      req.on('error', () => resolve(false));
      req.end(body);
    });
  process.stdout.write('ready\n');
  await go;
  let next = 0;
  let done = 0;
  await Promise.all(
    Array.from({ length: spec.inFlight }, async () => {
      while (next < spec.share) {
        const i = next++;
        if (await post(benchBody(i))) done++;
      }
    }),
  );
  agent.destroy();
  return done;
}

async function main(): Promise<void> {
  const spec = JSON.parse(process.argv[2] ?? '{}') as ChildSpec;
  const go = new Promise<void>((resolve) => process.stdin.once('data', () => resolve()));
  const done = spec.mode === 'sdk' ? await runSdk(spec, go) : await runRaw(spec, go);
  process.stdout.write(`${JSON.stringify({ done })}\n`);
  process.exit(0);
}

void main();
