import type { Duplex } from 'node:stream';
import type { WebSocket } from 'ws';
import { toJson } from '../http-answers.js';
import type { Problem } from '../problem.js';
import { drainedOrClosed, type LiveOrderEvent, type LiveTransport } from './live-client.js';
import { LIVE_WEBSOCKET_CLOSE_CODES } from './live-websocket-close-codes.js';

/**
 * Pings a client may leave unanswered when the next one is due: one, so that a busy event loop (the pong read a
 * little after the next heartbeat timer fires) does not cut a healthy client; at the second it is cut.
 */
const UNANSWERED_PINGS_ALLOWED = 1;

/** How long a closing connection may take to flush its close frame before it is cut. */
const CLOSE_GRACE_MS = 1000;

/**
 * Ends a WebSocket with `{type:'error', problem}` and a close frame of `code` whose reason is the problem's code; the
 * connection is cut if the client does not answer the close within a second. @internal
 */
export function closeWithProblem(ws: WebSocket, code: number, p: Problem): void {
  if (ws.readyState === ws.OPEN) ws.send(toJson({ type: 'error', problem: p }));
  closeSoon(ws, code, p.code);
}

/** Closes with `code` and `reason`, and cuts the connection after a grace period. @internal */
export function closeSoon(ws: WebSocket, code: number, reason: string): void {
  ws.close(code, reason);
  setTimeout(() => ws.terminate(), CLOSE_GRACE_MS).unref();
}

/**
 * The live stream as JSON text messages on a WebSocket: `{type:'ready', id}` then `{type:'order', id, event}`.
 * Heartbeats are pings; a client that leaves two pings in a row without a pong is cut. @internal
 */
export class WebSocketTransport implements LiveTransport {
  readonly #ws: WebSocket;
  readonly #socket: Duplex;
  #unanswered = 0;

  constructor(ws: WebSocket, socket: Duplex) {
    this.#ws = ws;
    this.#socket = socket;
    ws.on('pong', () => {
      this.#unanswered = 0;
    });
  }

  sendReady(id: string): void {
    this.#ws.send(toJson({ type: 'ready', id }));
  }

  sendOrder(id: string, event: LiveOrderEvent): void {
    this.#ws.send(toJson({ type: 'order', id, event }));
  }

  heartbeat(): void {
    if (this.#unanswered > UNANSWERED_PINGS_ALLOWED) {
      this.#ws.terminate();
      return;
    }
    this.#unanswered++;
    this.#ws.ping();
  }

  get bufferedBytes(): number {
    return this.#ws.bufferedAmount;
  }

  drained(): Promise<void> {
    return drainedOrClosed(this.#socket);
  }

  dropSlow(): void {
    closeSoon(this.#ws, LIVE_WEBSOCKET_CLOSE_CODES.TOO_SLOW, 'TOO_SLOW');
  }

  fail(): void {
    closeSoon(this.#ws, LIVE_WEBSOCKET_CLOSE_CODES.UNAVAILABLE, 'UNAVAILABLE');
  }

  onClose(listener: () => void): void {
    this.#ws.once('close', listener);
  }
}
