import { mkdtempSync } from 'node:fs';
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { testBackends } from '@marketkit/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Address, LiveFixture } from './live-fixture.js';
import { expectPartiesOnly, expectResumeLosesNothing } from './live-scenarios.js';

/** One SSE message as the wire carries it. */
interface SseMessage {
  readonly event: string;
  readonly id: string | undefined;
  readonly data: string;
}

/** A hand-parsed Server-Sent Events client over node:http: messages, comments, and whether the server hung up. */
class SseClient {
  readonly messages: SseMessage[] = [];
  readonly comments: string[] = [];
  ended = false;
  status = 0;
  response: IncomingMessage | undefined;
  #buffer = '';
  #waiters: (() => void)[] = [];
  readonly #req;

  constructor(address: Address, bearer: string, headers: Record<string, string> = {}, path = '/api/v1/events') {
    this.#req = httpRequest({
      ...('port' in address ? { host: '127.0.0.1', port: address.port } : { socketPath: address.socketPath }),
      path,
      headers: { Authorization: `Bearer ${bearer}`, Accept: 'text/event-stream', ...headers },
    });
    this.#req.on('response', (res) => {
      this.response = res;
      this.status = res.statusCode ?? 0;
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => this.#feed(chunk));
      const end = () => {
        this.ended = true;
        this.#notify();
      };
      res.on('end', end);
      res.on('close', end);
      res.on('error', end);
      this.#notify();
    });
    this.#req.on('error', () => {
      this.ended = true;
      this.#notify();
    });
    this.#req.end();
  }

  #feed(chunk: string): void {
    this.#buffer += chunk;
    for (let at = this.#buffer.indexOf('\n\n'); at >= 0; at = this.#buffer.indexOf('\n\n')) {
      const block = this.#buffer.slice(0, at);
      this.#buffer = this.#buffer.slice(at + 2);
      let event = 'message';
      let id: string | undefined;
      const data: string[] = [];
      for (const line of block.split('\n')) {
        if (line.startsWith(':')) this.comments.push(line.slice(1).trim());
        else if (line.startsWith('event: ')) event = line.slice(7);
        else if (line.startsWith('id: ')) id = line.slice(4);
        else if (line.startsWith('data: ')) data.push(line.slice(6));
      }
      if (data.length > 0) this.messages.push({ event, id, data: data.join('\n') });
    }
    this.#notify();
  }

  #notify(): void {
    for (const w of this.#waiters.splice(0)) w();
  }

  /** The order events so far, parsed. */
  get orders(): { id: string; orderId: string; seq: number; to: string }[] {
    return this.messages
      .filter((m) => m.event === 'order')
      .map((m) => ({ id: m.id ?? '', ...(JSON.parse(m.data) as { orderId: string; seq: number; to: string }) }));
  }

  /** Waits until `done()` holds (or fails after `ms`). */
  async until(done: () => boolean, ms = 10_000): Promise<void> {
    const deadline = Date.now() + ms;
    while (!done()) {
      if (Date.now() > deadline) throw new Error(`timed out; got ${JSON.stringify(this.messages)}`);
      await Promise.race([
        new Promise<void>((resolve) => this.#waiters.push(resolve)),
        new Promise((resolve) => setTimeout(resolve, 50)),
      ]);
    }
  }

  async ready(): Promise<string> {
    await this.until(() => this.messages.some((m) => m.event === 'ready') || this.ended);
    return this.messages.find((m) => m.event === 'ready')?.id ?? '';
  }

  close(): void {
    this.#req.destroy();
  }
}

for (const backend of testBackends()) {
  describe(`GET /v1/events on ${backend.name}`, () => {
    const fixture = new LiveFixture(backend);
    const tokens = fixture.tokens;
    let b: Address;
    const buy = (buyer: string) => fixture.buy(buyer);
    const fire = (orderId: string, name: string, who = 'bob', reason?: string) =>
      fixture.fire(orderId, name, who, reason);

    beforeAll(async () => {
      await fixture.setUp();
      b = fixture.b;
    });
    afterAll(() => fixture.tearDown());

    it('streams an order’s events committed by another process to its parties and operators only', async () => {
      const alice = new SseClient(b, tokens['alice'] ?? '');
      const carol = new SseClient(b, tokens['carol'] ?? '');
      const bob = new SseClient(b, tokens['bob'] ?? '');
      const ops = new SseClient(b, tokens['ops'] ?? '');
      for (const c of [alice, carol, bob, ops]) await c.ready();
      expect(alice.status).toBe(200);
      expect(alice.response?.headers['content-type']).toMatch(/^text\/event-stream/);

      await expectPartiesOnly(fixture, { alice, carol, bob, ops });
      for (const c of [alice, carol, bob, ops]) c.close();
    });

    it('resumes after Last-Event-ID on another process: loses and repeats nothing', async () => {
      await expectResumeLosesNothing(fixture, (process, who, lastEventId) =>
        lastEventId === undefined
          ? new SseClient(process, fixture.token(who))
          : new SseClient(process, fixture.token(who), { 'Last-Event-ID': lastEventId }),
      );
    });

    it('sends heartbeats and refuses a Last-Event-ID it never sent', async () => {
      const idle = new SseClient(b, tokens['carol'] ?? '');
      await idle.ready();
      await idle.until(() => idle.comments.includes('heartbeat'));
      idle.close();
      const bad = new SseClient(b, tokens['carol'] ?? '', { 'Last-Event-ID': 'ord_1:3' });
      await bad.until(() => bad.status !== 0 && bad.ended);
      expect(bad.status).toBe(400);
      const anonymous = new SseClient(b, 'not-a-token');
      await anonymous.until(() => anonymous.status !== 0 && anonymous.ended);
      expect(anonymous.status).toBe(401);
    });

    it('drops a client that never reads once its buffer passes the limit', async () => {
      const dir = mkdtempSync(join(tmpdir(), 'marketkit-sse-'));
      const slowServer = await fixture.serve(
        { ...(await fixture.liveOptions()), pollIntervalMs: 20, maxBufferedBytes: 16 * 1024 },
        { socketPath: join(dir, 'sse.sock') },
      );
      const socketPath = join(dir, 'sse.sock');
      const slow = new SseClient({ socketPath }, tokens['ops'] ?? '');
      await slow.ready();
      slow.response?.pause(); // reads nothing more
      const reason = 'x'.repeat(1000);
      const connections = () =>
        new Promise<number>((resolve, reject) =>
          slowServer.server.getConnections((e, n) => (e ? reject(e) : resolve(n))),
        );
      expect(await connections()).toBe(1);
      let events = 0;
      for (let i = 0; i < 400 && (await connections()) > 0; i++) {
        const order = await buy('carol');
        await fire(order, 'ship', 'bob', reason);
        await fire(order, 'deliver', 'bob', reason);
        events += 4;
      }
      // Dropped: the server closed its side, after the kernel's buffers and 16 KiB of its own filled up.
      expect(await connections()).toBe(0);
      expect(events).toBeGreaterThan(20);
      // The process serves on: a new client is welcome.
      const fresh = new SseClient({ socketPath }, tokens['ops'] ?? '');
      expect(await fresh.ready()).not.toBe('');
      fresh.close();
    }, 120_000);
  });
}
