import { compareOrderFeedCursors, createMarketplace, type Marketplace, Money } from '@marketkit/core';
import { SandboxPaymentProvider, serveSandbox, type TestDatabase, testBackends } from '@marketkit/testing';
import { SignJWT } from 'jose';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ServerProcess, startServerProcess } from './fixtures/server-process.js';
import { SseReader } from './fixtures/sse-reader.js';

/**
 * Marketkit's HTTP API served by several real processes (test/fixtures/serve.ts) on one PostgreSQL database, paying
 * through one sandbox provider that this process serves: idempotency across processes, the live stream across
 * processes and a killed server, and load shedding without a lost write.
 */

const SECRET = 'multi-process-test-secret-of-32-bytes!';
const postgres = testBackends().find((b) => b.name === 'postgres');

function token(sub: string, role: 'buyer' | 'seller'): Promise<string> {
  return new SignJWT({ sub, role })
    .setProtectedHeader({ alg: 'HS256' })
    .setIssuer('mk-test')
    .setAudience('mk-test-api')
    .setIssuedAt()
    .setExpirationTime('10m')
    .sign(new TextEncoder().encode(SECRET));
}

interface Answer {
  readonly status: number;
  readonly headers: Headers;
  readonly body: { id?: string; code?: string; [key: string]: unknown };
}

async function call(
  server: ServerProcess,
  bearer: string,
  method: string,
  path: string,
  body: unknown,
  key?: string,
): Promise<Answer> {
  const res = await fetch(`${server.url}/api/v1${path}`, {
    method,
    headers: {
      Authorization: `Bearer ${bearer}`,
      'Content-Type': 'application/json',
      ...(key === undefined ? {} : { 'Idempotency-Key': key }),
    },
    body: JSON.stringify(body),
  });
  return { status: res.status, headers: res.headers, body: (await res.json()) as Answer['body'] };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** The sandbox, with a capture that can be held at the provider's door until the test lets it in. */
class GatedSandbox extends SandboxPaymentProvider {
  #gate: { reached: () => void; release: Promise<void> } | undefined;

  /** Holds the next capture until `release` settles; the answer settles when it has arrived. */
  holdNextCapture(release: Promise<void>): Promise<void> {
    return new Promise((reached) => {
      this.#gate = { reached, release };
    });
  }

  override async capture(r: Parameters<SandboxPaymentProvider['capture']>[0]) {
    const gate = this.#gate;
    this.#gate = undefined;
    if (gate !== undefined) {
      gate.reached();
      await gate.release;
    }
    return super.capture(r);
  }
}

describe.skipIf(postgres === undefined)(
  `several server processes on one PostgreSQL${postgres === undefined ? ' (skipped: MARKETKIT_BACKENDS leaves out postgres)' : ''}`,
  () => {
    let database: TestDatabase;
    let market: Marketplace;
    let db: pg.Client;
    const sandbox = new GatedSandbox();
    let sandboxServer: Awaited<ReturnType<typeof serveSandbox>>;
    const servers: ServerProcess[] = [];
    let a: ServerProcess;
    let b: ServerProcess;
    let listingId: string;
    const tokens: Record<string, string> = {};

    async function start(env: Record<string, string> = {}): Promise<ServerProcess> {
      const server = await startServerProcess({
        MARKETKIT_PG_URL: database.location,
        MARKETKIT_SANDBOX_URL: sandboxServer.url,
        MARKETKIT_JWT_SECRET: SECRET,
        ...env,
      });
      servers.push(server);
      return server;
    }

    beforeAll(async () => {
      if (postgres === undefined) return;
      database = await postgres.createDatabase();
      market = createMarketplace({ adapter: database.adapter(), payments: sandbox });
      await market.migrate();
      const listing = await market.listings.create({
        sellerId: 'bob',
        title: 'Brass lamp',
        price: Money.of('40.00', 'USD'),
        quantity: 100_000,
        idempotencyKey: 'multi-process-listing',
      });
      listingId = listing.id;
      db = new pg.Client({ connectionString: database.location });
      await db.connect();
      sandboxServer = await serveSandbox(sandbox);
      for (const who of ['dana', 'erin', 'frank', 'gina', 'hana']) tokens[who] = await token(who, 'buyer');
      tokens['bob'] = await token('bob', 'seller');
      [a, b] = await Promise.all([start(), start()]);
    });
    afterAll(async () => {
      await Promise.all(servers.map((s) => s.stop('SIGKILL')));
      await sandboxServer?.close();
      await db?.end();
      await market?.close();
      await database?.drop();
    });

    /**
     * Waits on `reader` like {@link SseReader.until}; a timeout names the transactions of the whole server that hold
     * the feed back (by design, any transaction older than a commit does, in any database of the server).
     */
    async function waitFor(reader: SseReader, done: () => boolean, what: string): Promise<void> {
      try {
        await reader.until(done, what, 15_000);
      } catch (error) {
        const { rows } = await db.query<{ datname: string; pid: number; state: string; xact_start: Date }>(
          `select datname, pid, state, xact_start from pg_stat_activity
            where backend_xid is not null and xact_start < now() - interval '5 seconds'`,
        );
        throw new Error(`${String(error)}; old transactions holding the feed back: ${JSON.stringify(rows)}`);
      }
    }

    const checkout = (server: ServerProcess, buyer: string, key: string) =>
      call(
        server,
        tokens[buyer] ?? '',
        'POST',
        '/checkouts',
        { listingId, quantity: 1, paymentMethod: 'tok_visa' },
        key,
      );

    /** Orders of `buyer` in the database, with whether escrow holds their capture (`<order>:capture`). */
    async function ordersOf(buyer: string): Promise<{ id: string; state: string; captured: boolean }[]> {
      const { rows } = await db.query<{ id: string; state: string; capture_id: string | null; transfers: string }>(
        `select o.id, o.state, o.capture_id,
                (select count(*) from mk_transfers t where t.id = o.id || ':capture') as transfers
           from mk_orders o where o.buyer_id = $1 order by o.id`,
        [buyer],
      );
      return rows.map((r) => {
        expect(Number(r.transfers), `escrow captures of ${r.id}`).toBe(r.capture_id === null ? 0 : 1);
        return { id: r.id, state: r.state, captured: r.capture_id !== null };
      });
    }

    it('one Idempotency-Key sent to two processes at once makes one order, captured once', async () => {
      const before = sandbox.effects().counts;
      const keys = ['dup-1', 'dup-2', 'dup-3', 'dup-4', 'dup-5'];
      /** Sends the checkout to `server`; a 409 in flight is retried after its Retry-After until it replays. */
      async function untilAnswered(server: ServerProcess, key: string): Promise<{ first: number; final: Answer }> {
        let answer = await checkout(server, 'dana', key);
        const first = answer.status;
        for (let i = 0; answer.status === 409 && i < 20; i++) {
          expect(answer.body.code).toBe('IDEMPOTENCY_CONFLICT');
          const retryAfter = Number(answer.headers.get('Retry-After'));
          expect(retryAfter).toBeGreaterThanOrEqual(1);
          await sleep(retryAfter * 1000);
          answer = await checkout(server, 'dana', key);
        }
        return { first, final: answer };
      }
      const pairs = await Promise.all(keys.map((key) => Promise.all([untilAnswered(a, key), untilAnswered(b, key)])));
      const orderIds = pairs.map((pair, i) => {
        for (const { first, final } of pair) {
          expect([201, 409], keys[i]).toContain(first);
          expect(final.status, JSON.stringify(final.body)).toBe(201);
        }
        const [fromA, fromB] = pair.map((p) => p.final);
        expect(fromA?.body.id).toBe(fromB?.body.id);
        // Exactly one of the two processes did the checkout; the other's answer is the stored one, replayed.
        const replayed = pair.map((p) => p.final.headers.get('Idempotent-Replayed'));
        expect(replayed.sort()).toEqual([null, 'true'].sort());
        return fromA?.body.id ?? '';
      });

      expect(new Set(orderIds).size).toBe(keys.length);
      expect(await ordersOf('dana')).toEqual([...orderIds].sort().map((id) => ({ id, state: 'paid', captured: true })));
      const after = sandbox.effects().counts;
      expect(after.authorize - before.authorize).toBe(keys.length);
      expect(after.capture - before.capture).toBe(keys.length);
      expect(after.void - before.void).toBe(0);
    });

    it('streams to a client of process B what commits through process A, and resumes after B is killed', async () => {
      const bob = tokens['bob'] ?? '';
      const fire = async (orderId: string, name: string, who = bob) => {
        const answer = await call(a, who, 'POST', `/orders/${orderId}/transitions/${name}`, {});
        expect(answer.status, JSON.stringify(answer.body)).toBe(200);
      };
      const buy = async (buyer: string, key: string) => {
        const answer = await checkout(a, buyer, key);
        expect(answer.status, JSON.stringify(answer.body)).toBe(201);
        return answer.body.id ?? '';
      };

      // Across processes: B hears A's commits through LISTEN/NOTIFY (B polls once a minute).
      const erin = new SseReader(b.url, tokens['erin'] ?? '');
      await waitFor(erin, () => erin.readyId !== undefined, 'ready');
      const erinOrder = await buy('erin', 'erin-1');
      await fire(erinOrder, 'ship');
      await waitFor(erin, () => erin.orders.length >= 3, 'three events');
      expect(erin.orders.map((e) => [e.orderId, e.seq, e.to])).toEqual([
        [erinOrder, 1, 'checkout'],
        [erinOrder, 2, 'paid'],
        [erinOrder, 3, 'shipped'],
      ]);
      erin.close();

      // Resume across a killed server.
      const frank = tokens['frank'] ?? '';
      const first = new SseReader(b.url, frank);
      await waitFor(first, () => first.readyId !== undefined, 'ready');
      const order = await buy('frank', 'frank-1');
      await fire(order, 'ship');
      await waitFor(first, () => first.orders.length >= 3, 'three events before the kill');
      // B dies while A commits: the delivery may or may not reach the client before the connection drops.
      await Promise.all([fire(order, 'deliver'), b.stop('SIGKILL')]);
      await waitFor(first, () => first.ended, 'the stream to end');
      await fire(order, 'confirm', frank);
      const second = await buy('frank', 'frank-2');
      b = await start();
      const lastSeen = first.orders.at(-1)?.id ?? '';
      const resumed = new SseReader(b.url, frank, lastSeen);
      await waitFor(resumed, () => resumed.readyId !== undefined, 'ready after the restart');
      expect(resumed.readyId).toBe(lastSeen);
      await waitFor(resumed, () => first.orders.length + resumed.orders.length >= 7, 'the events missed');
      await fire(second, 'ship'); // live again, on the new process
      await waitFor(resumed, () => first.orders.length + resumed.orders.length >= 8, 'the event after the restart');
      await sleep(300); // time for a repeat to show up, if there were one
      resumed.close();

      const received = [...first.orders, ...resumed.orders];
      expect(received.map((e) => [e.orderId, e.seq, e.to])).toEqual([
        [order, 1, 'checkout'],
        [order, 2, 'paid'],
        [order, 3, 'shipped'],
        [order, 4, 'delivered'],
        [order, 5, 'completed'],
        [second, 1, 'checkout'],
        [second, 2, 'paid'],
        [second, 3, 'shipped'],
      ]);
      for (let i = 1; i < received.length; i++) {
        expect(compareOrderFeedCursors(received[i - 1]?.id ?? '', received[i]?.id ?? '')).toBeLessThan(0);
      }
      // Exactly the committed events of frank's orders: the database holds no other.
      const { rows } = await db.query<{ order_id: string; seq: string }>(
        `select e.order_id, e.seq from mk_order_events e join mk_orders o on o.id = e.order_id
          where o.buyer_id = 'frank'`,
      );
      expect(rows.map((r) => `${r.order_id}:${r.seq}`).sort()).toEqual(
        received.map((e) => `${e.orderId}:${e.seq}`).sort(),
      );
    });

    it('sheds a burst past maxInFlight with 503 OVERLOADED, stays up, loses no write; open streams take no slot', async () => {
      const before = sandbox.effects().counts;
      const soldBefore = (await market.listings.get(listingId))?.sold ?? -1;
      const small = await start({ MARKETKIT_MAX_IN_FLIGHT: '2' });
      const keys = Array.from({ length: 40 }, (_, i) => `burst-${i}`);
      const answers = await Promise.all(keys.map((key) => checkout(small, 'gina', key)));

      const shed = keys.filter((_, i) => answers[i]?.status === 503);
      const made = answers.filter((x) => x.status === 201);
      expect(answers.map((x) => x.status).filter((s) => s !== 201 && s !== 503)).toEqual([]);
      expect(shed.length).toBeGreaterThan(0);
      expect(made.length).toBeGreaterThan(0);
      for (const x of answers.filter((x) => x.status === 503)) {
        expect(x.body.code).toBe('OVERLOADED');
        expect(x.headers.get('Retry-After')).toBe('1');
      }
      expect(small.alive()).toBe(true);
      expect((await fetch(`${small.url}/api/healthz`)).status).toBe(200);

      // Every 201 is an order in the database; a 503 left nothing behind, not even a claimed key.
      expect((await ordersOf('gina')).map((o) => o.id)).toEqual(made.map((x) => x.body.id).sort());
      const { rows: claimed } = await db.query<{ idempotency_key: string }>(
        `select idempotency_key from mk_idempotency_keys where actor = 'gina' and idempotency_key = any($1)`,
        [shed],
      );
      expect(claimed).toEqual([]);

      // The shed checkouts, retried with their keys (at most two at once) after Retry-After, go through: new orders.
      await sleep(1000);
      const retried: Answer[] = [];
      for (let i = 0; i < shed.length; i += 2) {
        retried.push(...(await Promise.all(shed.slice(i, i + 2).map((key) => checkout(small, 'gina', key)))));
      }
      expect(retried.map((x) => x.status)).toEqual(shed.map(() => 201));
      expect(retried.map((x) => x.headers.get('Idempotent-Replayed'))).toEqual(shed.map(() => null));

      const orders = await ordersOf('gina');
      expect(orders).toHaveLength(keys.length);
      expect(orders.every((o) => o.state === 'paid' && o.captured)).toBe(true);
      expect(orders.map((o) => o.id)).toEqual([...made, ...retried].map((x) => x.body.id).sort());
      const after = sandbox.effects().counts;
      expect(after.capture - before.capture).toBe(keys.length);
      expect((await market.listings.get(listingId))?.sold).toBe(soldBefore + keys.length);

      // Open streams take no in-flight slot, however the path is spelled (Express routes /events/ and /Events too).
      const streams = ['/api/v1/events', '/api/v1/events/', '/api/v1/Events'].map(
        (path) => new SseReader(small.url, tokens['gina'] ?? '', undefined, path),
      );
      for (const stream of streams) await waitFor(stream, () => stream.readyId !== undefined, 'ready');
      const read = await call(small, tokens['gina'] ?? '', 'GET', `/listings/${listingId}`, undefined);
      expect(read.status, JSON.stringify(read.body)).toBe(200);
      for (const stream of streams) stream.close();
      await small.stop();
    });
    it('a checkout whose process is killed mid-payment is finished by a retry with its key on another process', async () => {
      const before = sandbox.effects();
      // A process whose claims on a checkout lapse 1.5 s after it dies (a minute by default).
      const doomed = await start({ MARKETKIT_PENDING_OP_TIMEOUT_MS: '1500' });
      let release = (): void => {};
      const released = new Promise<void>((resolve) => {
        release = resolve;
      });
      const reached = sandbox.holdNextCapture(released);
      const lost = checkout(doomed, 'hana', 'crash-1').catch((error: unknown) => error);
      await reached;
      await doomed.stop('SIGKILL');
      release(); // the provider captures for a process that is gone: money moved, nothing recorded
      expect(await lost).toBeInstanceOf(Error);
      expect(await ordersOf('hana')).toEqual([{ id: expect.any(String), state: 'checkout', captured: false }]);

      // The client retries with its key on another process: 409 while the dead one's claims last, then the order.
      let answer = await checkout(b, 'hana', 'crash-1');
      const conflicts: string[] = [];
      for (let i = 0; answer.status === 409 && i < 15; i++) {
        conflicts.push(String(answer.body.code));
        // The key's claim, or (should the key's lapse first) the order's saga lease: both retryable.
        expect(['IDEMPOTENCY_CONFLICT', 'CONCURRENCY_CONFLICT']).toContain(answer.body.code);
        if (answer.body.code === 'IDEMPOTENCY_CONFLICT') expect(answer.headers.get('Retry-After')).toBe('1');
        await sleep(1000);
        answer = await checkout(b, 'hana', 'crash-1');
      }
      expect(answer.status, `${JSON.stringify(answer.body)} after ${conflicts.join(', ')}`).toBe(201);
      expect(answer.body['state']).toBe('paid');
      expect(await ordersOf('hana')).toEqual([{ id: answer.body.id, state: 'paid', captured: true }]);
      const replay = await checkout(a, 'hana', 'crash-1');
      expect(replay.headers.get('Idempotent-Replayed')).toBe('true');
      expect(replay.body.id).toBe(answer.body.id);

      // The provider authorized and captured once: the retry found the dead process's capture under its key.
      const after = sandbox.effects();
      expect(after.counts.authorize - before.counts.authorize).toBe(1);
      expect(after.counts.capture - before.counts.capture).toBe(1);
      expect(after.openAuthorizedMinor).toBe(before.openAuthorizedMinor);
    });
  },
);
