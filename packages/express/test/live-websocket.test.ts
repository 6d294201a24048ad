import { mkdtempSync } from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isMarketkitError } from '@marketkit/core';
import { attachLiveWebSocket, jwtAuthenticator, LIVE_WEBSOCKET_CLOSE_CODES, type Problem } from '@marketkit/express';
import { testBackends } from '@marketkit/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { type Address, auth, LIVE_PATH, LiveFixture, until } from './live-fixture.js';
import { expectPartiesOnly, expectResumeLosesNothing } from './live-scenarios.js';

/** A message of the live WebSocket. */
type LiveMessage =
  | { readonly type: 'ready'; readonly id: string }
  | { readonly type: 'order'; readonly id: string; readonly event: { orderId: string; seq: number; to: string } }
  | { readonly type: 'error'; readonly problem: Problem };

interface ClientOptions {
  /** Sent as the first message; `undefined` sends nothing. */
  readonly auth?: Record<string, unknown> | undefined;
  /** Headers of the upgrade request. */
  readonly headers?: Record<string, string>;
  /** The query string, e.g. `?lastEventId=0-3`. */
  readonly query?: string;
  /** Whether the client answers pings (ws does by default). */
  readonly autoPong?: boolean;
}

/** A live WebSocket client that records every message, ping and how the connection closed. */
class WsClient {
  readonly messages: LiveMessage[] = [];
  pings = 0;
  closeCode: number | undefined;
  closeReason = '';
  readonly ws: WebSocket;

  constructor(address: Address, options: ClientOptions) {
    const path = `${LIVE_PATH}${options.query ?? ''}`;
    const url = 'port' in address ? `ws://127.0.0.1:${address.port}${path}` : `ws+unix://${address.socketPath}:${path}`;
    this.ws = new WebSocket(url, { headers: options.headers ?? {}, autoPong: options.autoPong ?? true });
    this.ws.on('open', () => {
      if (options.auth !== undefined) this.ws.send(JSON.stringify(options.auth));
    });
    this.ws.on('message', (data) => this.messages.push(JSON.parse(String(data)) as LiveMessage));
    this.ws.on('ping', () => {
      this.pings++;
    });
    this.ws.on('error', () => {});
    this.ws.on('close', (code, reason) => {
      this.closeCode = code;
      this.closeReason = reason.toString();
    });
  }

  get orders(): { id: string; orderId: string; seq: number; to: string }[] {
    return this.messages.flatMap((m) => (m.type === 'order' ? [{ id: m.id, ...m.event }] : []));
  }

  get closed(): boolean {
    return this.closeCode !== undefined;
  }

  until(done: () => boolean, ms?: number): Promise<void> {
    return until(done, () => JSON.stringify({ messages: this.messages, close: this.closeCode }), ms);
  }

  async ready(): Promise<string> {
    await this.until(() => this.messages.some((m) => m.type === 'ready') || this.closed);
    const ready = this.messages.find((m) => m.type === 'ready');
    return ready?.type === 'ready' ? ready.id : '';
  }

  close(): void {
    this.ws.close();
  }
}

for (const backend of testBackends()) {
  describe(`live WebSocket on ${backend.name}`, () => {
    const fixture = new LiveFixture(backend);
    const authAs = (who: string, lastEventId?: string) => ({
      auth: { type: 'auth', token: fixture.token(who), ...(lastEventId === undefined ? {} : { lastEventId }) },
    });

    beforeAll(() => fixture.setUp());
    afterAll(() => fixture.tearDown());

    it('sends an order’s events committed by another process to its parties and operators only', async () => {
      const alice = new WsClient(fixture.b, authAs('alice'));
      const carol = new WsClient(fixture.b, authAs('carol'));
      // A non-browser client authenticates with the upgrade's Authorization header.
      const bob = new WsClient(fixture.b, { headers: { Authorization: `Bearer ${fixture.token('bob')}` } });
      const ops = new WsClient(fixture.b, authAs('ops'));
      for (const c of [alice, carol, bob, ops]) expect(await c.ready()).toMatch(/^\d+-\d+$/);

      await expectPartiesOnly(fixture, { alice, carol, bob, ops });
      // The parties are not part of the event a client receives.
      const first = alice.messages.find((m) => m.type === 'order');
      expect(first?.type === 'order' ? Object.keys(first.event) : []).not.toContain('buyerId');
      for (const c of [alice, carol, bob, ops]) c.close();
    });

    it('resumes after lastEventId on another process: loses and repeats nothing', async () => {
      const { second, resumed } = await expectResumeLosesNothing(
        fixture,
        (process, who, lastEventId) => new WsClient(process, authAs(who, lastEventId)),
      );

      // A header-authenticated client resumes with ?lastEventId= (an id, never a token, in the URL).
      const last = resumed[4]?.id ?? '';
      const byHeader = new WsClient(fixture.a, {
        headers: { Authorization: `Bearer ${fixture.token('alice')}` },
        query: `?lastEventId=${last}`,
      });
      expect(await byHeader.ready()).toBe(last);
      await byHeader.until(() => byHeader.orders.length >= 1);
      expect(byHeader.orders.map((e) => [e.orderId, e.seq])).toEqual([[second, 3]]);
      byHeader.close();
    });

    it('refuses a bad token, a late or missing auth message, another message and a foreign lastEventId', async () => {
      const expectRefused = async (client: WsClient, code: number, status: number) => {
        await client.until(() => client.closed);
        expect(client.closeCode).toBe(code);
        const error = client.messages.find((m) => m.type === 'error');
        expect(error?.type === 'error' ? error.problem.status : 0).toBe(status);
        expect(client.closeReason).toBe(error?.type === 'error' ? error.problem.code : '?');
        expect(client.orders).toEqual([]);
        expect(client.messages.some((m) => m.type === 'ready')).toBe(false);
      };
      const codes = LIVE_WEBSOCKET_CLOSE_CODES;
      await expectRefused(new WsClient(fixture.b, { auth: { type: 'auth', token: 'not-a-token' } }), 4401, 401);
      await expectRefused(new WsClient(fixture.b, { headers: { Authorization: 'Bearer nope' } }), 4401, 401);
      await expectRefused(new WsClient(fixture.b, { auth: { type: 'hello' } }), codes.INVALID_MESSAGE, 400);
      await expectRefused(new WsClient(fixture.b, authAs('carol', 'ord_1:3')), codes.INVALID_MESSAGE, 400);

      // Silence: closed once authTimeoutMs passes; a token in the URL is not read.
      const quick = await fixture.serve(await fixture.liveOptions(), { port: 0 }, { authTimeoutMs: 150 });
      const silent = new WsClient(quick, { query: `?token=${fixture.token('carol')}` });
      const started = Date.now();
      await expectRefused(silent, codes.AUTH_TIMEOUT, 401);
      expect(Date.now() - started).toBeGreaterThanOrEqual(100);

      // One message is read, the auth message: a second one closes the stream.
      const chatty = new WsClient(fixture.b, authAs('carol'));
      await chatty.ready();
      chatty.ws.send('{"type":"auth"}');
      await chatty.until(() => chatty.closed);
      expect(chatty.closeCode).toBe(codes.INVALID_MESSAGE);
    });

    it('pings; cuts a client that does not answer with a pong', async () => {
      const idle = new WsClient(fixture.b, authAs('carol'));
      await idle.ready();
      await idle.until(() => idle.pings >= 3);
      expect(idle.closed).toBe(false);
      idle.close();

      const deaf = new WsClient(fixture.b, { ...authAs('carol'), autoPong: false });
      await deaf.ready();
      await deaf.until(() => deaf.closed);
      expect(deaf.pings).toBeGreaterThanOrEqual(1);
      expect(deaf.closeCode).toBe(1006); // cut, no close frame
    });

    it('drops a client that never reads once its buffer passes the limit', async () => {
      const dir = mkdtempSync(join(tmpdir(), 'marketkit-ws-'));
      const socketPath = join(dir, 'ws.sock');
      const slowServer = await fixture.serve(
        { ...(await fixture.liveOptions()), pollIntervalMs: 20, heartbeatMs: 60_000, maxBufferedBytes: 16 * 1024 },
        { socketPath },
      );
      const slow = new WsClient({ socketPath }, authAs('ops'));
      await slow.ready();
      slow.ws.pause(); // reads nothing more
      expect(slowServer.live.connections).toBe(1);
      const reason = 'x'.repeat(1000);
      let events = 0;
      for (let i = 0; i < 400 && slowServer.live.connections > 0; i++) {
        const order = await fixture.buy('carol');
        await fixture.fire(order, 'ship', 'bob', reason);
        await fixture.fire(order, 'deliver', 'bob', reason);
        events += 4;
      }
      expect(slowServer.live.connections).toBe(0);
      expect(events).toBeGreaterThan(20);
      slow.ws.resume();
      await slow.until(() => slow.closed);
      // It never got the close frame behind what it did not read: it was cut.
      expect([LIVE_WEBSOCKET_CLOSE_CODES.TOO_SLOW, 1006]).toContain(slow.closeCode);
      // The process serves on.
      const fresh = new WsClient({ socketPath }, authAs('ops'));
      expect(await fresh.ready()).not.toBe('');
      fresh.close();
    }, 120_000);

    it('closes every client with 1001 on close(), and takes no more upgrades', async () => {
      const leaving = await fixture.serve(await fixture.liveOptions());
      const client = new WsClient(leaving, authAs('carol'));
      await client.ready();
      await leaving.live.close();
      await client.until(() => client.closed);
      expect([client.closeCode, client.closeReason]).toEqual([LIVE_WEBSOCKET_CLOSE_CODES.GOING_AWAY, 'GOING_AWAY']);
      expect(leaving.live.connections).toBe(0);
    });

    it('refuses bad options with VALIDATION_FAILED', () => {
      const server = createServer();
      const authenticate = jwtAuthenticator(auth);
      const bad = [
        { path: 'live', authenticate },
        { path: '/live?token=x', authenticate },
        { path: '/live', authenticate, authTimeoutMs: 0 },
        { path: '/live', authenticate, liveEvents: { heartbeatMs: -1 } },
        { path: '/live', authenticate: 'yes' },
      ];
      for (const options of bad) {
        let caught: unknown;
        try {
          attachLiveWebSocket(server, fixture.a.market, options as never);
        } catch (e) {
          caught = e;
        }
        expect(isMarketkitError(caught) && caught.code).toBe('VALIDATION_FAILED');
      }
      expect(server.listenerCount('upgrade')).toBe(0);
    });
  });
}
