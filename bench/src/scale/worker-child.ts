/**
 * One worker process of `npm run bench -- scale`: its own pool and either its own marketplace (the SDK lane, with
 * the in-memory sandbox provider) or the checkout bench's hand-written baseline (b), running checkouts with a fixed
 * number in flight for a given time, on command.
 *
 * Usage: `node --import tsx worker-child.ts`. Reads one JSON {@link Command} per line on stdin and answers each
 * with one JSON line on stdout ({@link Reply}); exits when its stdin ends.
 */
import { performance } from 'node:perf_hooks';
import { createPostgresPool, postgresAdapter } from '@marketkit/adapters/postgres';
import { createMarketplace, type Logger, type Marketplace } from '@marketkit/core';
import { SandboxPaymentProvider } from '@marketkit/testing';
import type pg from 'pg';
import type { Lane } from '../checkout/measure.js';
import { CheckoutStream, sdkLane } from '../checkout/model.js';
import { postgresRawLane } from '../checkout/raw-postgres.js';
import { StatementStats } from '../statement-stats.js';

/** What the parent asks of a worker. */
export type Command =
  | {
      readonly cmd: 'open';
      /** Where to connect: PostgreSQL itself or PgBouncer. */
      readonly url: string;
      /** Checkouts in flight, and the pool's size. */
      readonly inFlight: number;
      readonly lane: 'sdk' | 'raw';
      /** The SDK's `preparedStatements` (false behind PgBouncer in transaction mode before 1.21). */
      readonly prepared: boolean;
      /** Where this worker's streams begin in the round of listings and buyers. */
      readonly start: number;
    }
  | {
      readonly cmd: 'run';
      /** Order ids are `ord_{prefix}_…`. */
      readonly prefix: string;
      /** How long to keep starting checkouts; those in flight at the end are awaited. */
      readonly ms: number;
      /** Send the latencies back. */
      readonly latencies: boolean;
    }
  | { readonly cmd: 'close' };

/** What one `run` did. */
export interface RunReply {
  readonly t: 'run';
  /** Checkouts acknowledged (returned, paid). */
  readonly count: number;
  readonly failures: number;
  readonly firstError: string | undefined;
  /** From the command to the last checkout's end. */
  readonly ms: number;
  /** This process's CPU time over the run (user + system), µs. */
  readonly cpuUs: number;
  /** Each acknowledged checkout's latency, ms (when asked for). */
  readonly latencies: number[];
  /** The SDK's adapter switched to unnamed statements since the marketplace opened (it found a name missing). */
  readonly unnamed: boolean;
}

export type Reply = { readonly t: 'open' } | { readonly t: 'closed' } | RunReply;

interface Open {
  readonly pool: pg.Pool;
  readonly market: Marketplace | undefined;
  readonly lane: (prefix: string) => Lane;
  readonly unnamed: () => boolean;
}

/**
 * The console's logger, except that the adapter's warning on switching to unnamed statements (behind PgBouncer,
 * once per marketplace) is noted for the reply instead of printed.
 */
function noting(onUnnamed: () => void): Logger {
  return {
    error: (obj, msg) => console.error(msg, obj),
    warn: (obj, msg) => {
      if (obj['adapter'] === 'postgres' && (obj['code'] === '42P05' || obj['code'] === '26000')) onUnnamed();
      else console.warn(msg, obj);
    },
    info: () => {},
    debug: () => {},
  };
}

async function open(c: Extract<Command, { cmd: 'open' }>): Promise<Open> {
  const pool = (await createPostgresPool({
    connectionString: c.url,
    max: c.inFlight,
    preparedStatements: c.prepared,
  })) as unknown as pg.Pool;
  if (c.lane === 'raw') {
    const stats = new StatementStats();
    return {
      pool,
      market: undefined,
      lane: (prefix) => postgresRawLane('b', pool, stats, new CheckoutStream(prefix, true, undefined, c.start)),
      unnamed: () => false,
    };
  }
  let unnamed = false;
  const market = createMarketplace({
    adapter: postgresAdapter({ pool, preparedStatements: c.prepared }),
    payments: new SandboxPaymentProvider(),
    logger: noting(() => {
      unnamed = true;
    }),
  });
  return {
    pool,
    market,
    unnamed: () => unnamed,
    lane: (prefix) => sdkLane('SDK', market, new CheckoutStream(prefix, true, undefined, c.start)),
  };
}

async function run(o: Open, inFlight: number, c: Extract<Command, { cmd: 'run' }>): Promise<RunReply> {
  const lane = o.lane(c.prefix);
  const latencies: number[] = [];
  let failures = 0;
  let firstError: string | undefined;
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  const deadline = t0 + c.ms;
  const worker = async () => {
    while (performance.now() < deadline) {
      const started = performance.now();
      try {
        await lane.run();
        latencies.push(performance.now() - started);
      } catch (error) {
        failures++;
        firstError ??= error instanceof Error ? error.message : String(error);
      }
    }
  };
  await Promise.all(Array.from({ length: inFlight }, worker));
  const ms = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  return {
    t: 'run',
    count: latencies.length,
    failures,
    firstError,
    ms,
    cpuUs: cpu.user + cpu.system,
    latencies: c.latencies ? latencies.map((l) => Math.round(l * 100) / 100) : [],
    unnamed: o.unnamed(),
  };
}

async function main(): Promise<void> {
  let current: { open: Open; inFlight: number } | undefined;
  const reply = (r: Reply) => process.stdout.write(`${JSON.stringify(r)}\n`);
  const handle = async (c: Command) => {
    if (c.cmd === 'open') {
      current = { open: await open(c), inFlight: c.inFlight };
      reply({ t: 'open' });
    } else if (c.cmd === 'run') {
      if (current === undefined) throw new Error('run before open');
      reply(await run(current.open, current.inFlight, c));
    } else {
      await current?.open.market?.close();
      await current?.open.pool.end();
      current = undefined;
      reply({ t: 'closed' });
    }
  };
  // Commands run one after another, in the order they came.
  let queue = Promise.resolve();
  let pending = '';
  process.stdin.setEncoding('utf8');
  process.stdin.on('data', (chunk: string) => {
    pending += chunk;
    for (let nl = pending.indexOf('\n'); nl >= 0; nl = pending.indexOf('\n')) {
      const command = JSON.parse(pending.slice(0, nl)) as Command;
      pending = pending.slice(nl + 1);
      queue = queue.then(() => handle(command));
      queue.catch((error: unknown) => {
        console.error(error);
        process.exit(1);
      });
    }
  });
  process.stdin.once('end', () => {
    queue.then(
      async () => {
        await current?.open.market?.close();
        await current?.open.pool.end();
        process.exit(0);
      },
      () => process.exit(1),
    );
  });
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
