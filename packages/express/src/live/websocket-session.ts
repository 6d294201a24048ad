import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import type { Marketplace } from '@marketkit/core';
import type { RawData, WebSocket } from 'ws';
import { type Problem, problem, problemFor } from '../problem.js';
import { serveLiveClient } from './live-client.js';
import { parseLastEventId } from './live-cursor.js';
import { LIVE_WEBSOCKET_CLOSE_CODES } from './live-websocket-close-codes.js';
import type { ResolvedLiveWebSocketOptions } from './live-websocket-options.js';
import type { OrderEventHub } from './order-event-hub.js';
import { authenticateUpgrade, parseAuthMessage } from './websocket-auth.js';
import { closeWithProblem, WebSocketTransport } from './websocket-transport.js';

/** What every connection of one {@link attachLiveWebSocket} shares. @internal */
export interface WebSocketSessionContext extends ResolvedLiveWebSocketOptions {
  readonly market: Marketplace;
  readonly hub: OrderEventHub;
}

/**
 * One upgraded connection: authenticates it (by its `Authorization` header, else by its first message within
 * `authTimeoutMs`), then serves it the live stream. It reads no message after the auth message. @internal
 */
export class WebSocketSession {
  readonly #ws: WebSocket;
  readonly #req: IncomingMessage;
  readonly #socket: Duplex;
  readonly #context: WebSocketSessionContext;
  #state: 'awaiting-auth' | 'authenticating' | 'streaming' | 'closed' = 'awaiting-auth';
  #timer: NodeJS.Timeout | undefined;

  constructor(ws: WebSocket, req: IncomingMessage, socket: Duplex, context: WebSocketSessionContext) {
    this.#ws = ws;
    this.#req = req;
    this.#socket = socket;
    this.#context = context;
  }

  /** Starts listening to the connection and, with an `Authorization` header, authenticating it. */
  start(): void {
    this.#ws.on('error', () => {}); // a broken connection also ends in 'close'
    this.#ws.once('close', () => {
      this.#state = 'closed';
      clearTimeout(this.#timer);
    });
    this.#ws.on('message', (data, isBinary) => this.#onMessage(data, isBinary));
    if (this.#req.headers.authorization !== undefined) {
      this.#state = 'authenticating';
      void this.#begin(undefined, this.#resumeFromRequest());
      return;
    }
    this.#timer = setTimeout(() => {
      const detail = `Send {"type":"auth","token":"…"} within ${this.#context.authTimeoutMs} ms of connecting.`;
      this.#fail(LIVE_WEBSOCKET_CLOSE_CODES.AUTH_TIMEOUT, problem('FORBIDDEN', detail, {}, 401));
    }, this.#context.authTimeoutMs);
    this.#timer.unref();
  }

  #onMessage(data: RawData, isBinary: boolean): void {
    if (this.#state !== 'awaiting-auth') {
      const detail =
        'The live WebSocket reads one message, the auth message, and only without an Authorization header.';
      this.#fail(LIVE_WEBSOCKET_CLOSE_CODES.INVALID_MESSAGE, problem('VALIDATION_FAILED', detail, { issues: [] }));
      return;
    }
    this.#state = 'authenticating';
    clearTimeout(this.#timer);
    try {
      const message = parseAuthMessage(!isBinary && Buffer.isBuffer(data) ? data.toString('utf8') : '');
      void this.#begin(message.token, message.lastEventId);
    } catch (e) {
      this.#fail(LIVE_WEBSOCKET_CLOSE_CODES.INVALID_MESSAGE, problemFor(e));
    }
  }

  /** A header-authenticated client resumes with `Last-Event-ID` or `?lastEventId=`. */
  #resumeFromRequest(): string | undefined {
    const header = this.#req.headers['last-event-id'];
    if (typeof header === 'string') return header;
    return new URL(this.#req.url ?? '/', 'http://localhost').searchParams.get('lastEventId') ?? undefined;
  }

  async #begin(token: string | undefined, lastEventId: string | undefined): Promise<void> {
    try {
      const resumeFrom = parseLastEventId(lastEventId, 'lastEventId');
      const actor = await authenticateUpgrade(this.#context.authenticate, this.#req, token);
      if (this.#state === 'closed') return;
      if (actor === undefined) {
        const p = problem('FORBIDDEN', 'Authentication is required.', {}, 401);
        return this.#fail(LIVE_WEBSOCKET_CLOSE_CODES.UNAUTHENTICATED, p);
      }
      this.#state = 'streaming';
      const transport = new WebSocketTransport(this.#ws, this.#socket);
      const { hub, market, live } = this.#context;
      await serveLiveClient(hub, market, live, actor, resumeFrom, transport);
    } catch (e) {
      const p = problemFor(e);
      this.#fail(p.status < 500 ? 4000 + p.status : LIVE_WEBSOCKET_CLOSE_CODES.UNAVAILABLE, p);
    }
  }

  #fail(code: number, p: Problem): void {
    if (this.#state === 'closed') return;
    this.#state = 'closed';
    closeWithProblem(this.#ws, code, p);
  }
}
