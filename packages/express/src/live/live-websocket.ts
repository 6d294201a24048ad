import type { Server as HttpServer, IncomingMessage } from 'node:http';
import type { Server as HttpsServer } from 'node:https';
import type { Duplex } from 'node:stream';
import type { Marketplace } from '@marketkit/core';
import { type WebSocket, WebSocketServer } from 'ws';
import { LIVE_WEBSOCKET_CLOSE_CODES } from './live-websocket-close-codes.js';
import { type LiveWebSocketOptions, resolveWebSocketOptions } from './live-websocket-options.js';
import { sharedOrderEventHub } from './order-event-hub.js';
import { WebSocketSession } from './websocket-session.js';

/** The live WebSocket attached to a server. */
export interface LiveWebSocket {
  /** Connections open now (authenticated or not). */
  readonly connections: number;
  /**
   * Stops taking upgrades, closes every connection with 1001 (clients reconnect elsewhere with their last id) and
   * stops reading the feed. Call it before `server.close()`, whose callback waits for upgraded sockets too.
   */
  close(): Promise<void>;
}

/** Bytes of the largest message a client may send (the auth message). */
const MAX_PAYLOAD = 16 * 1024;

/**
 * Serves the live order-event stream as a WebSocket on `server`, beside `marketkitRouter`'s `GET /v1/events`
 * (Server-Sent Events), with the same semantics: the order events of the orders the actor may read, each once, in
 * commit order; resume after the last id received, on whichever process, loses and repeats nothing; heartbeats; a
 * client more than `maxBufferedBytes` behind is closed (4413). An Express router cannot take an HTTP upgrade, hence a
 * function of the HTTP server; it reads the feed with a reader of its own (one per call, shared by its clients).
 *
 * Authentication: a non-browser client sends `Authorization: Bearer <token>` with the upgrade (and resumes with
 * `?lastEventId=` or a `Last-Event-ID` header); a browser, which cannot set headers on a WebSocket, sends as its
 * first message `{"type":"auth","token":"<token>","lastEventId":"<id>"}` within `authTimeoutMs`. Either way the
 * token reaches `authenticate` as an `Authorization: Bearer` header. Never put a token in the URL: it ends up in
 * logs. Messages from the server are JSON text: `{"type":"ready","id":"…"}`, `{"type":"order","id":"…","event":{…}}`
 * and, before a 44xx close, `{"type":"error","problem":{…}}`; see {@link LIVE_WEBSOCKET_CLOSE_CODES} and docs/http.md.
 *
 * @example
 * ```ts
 * const authenticate = jwtAuthenticator({ secret, issuer: 'shop', audience: 'shop-api' });
 * const app = express();
 * app.use('/api', marketkitRouter(market, { authenticate }));
 * const server = app.listen(3000);
 * const live = attachLiveWebSocket(server, market, { path: '/api/v1/live', authenticate });
 * // on shutdown: await live.close(); server.close();
 * ```
 * In the browser:
 * ```js
 * const ws = new WebSocket(`wss://${location.host}/api/v1/live`);
 * ws.onopen = () => ws.send(JSON.stringify({ type: 'auth', token, lastEventId }));
 * ws.onmessage = (m) => { const msg = JSON.parse(m.data); if (msg.type === 'order') lastEventId = msg.id; };
 * ```
 */
export function attachLiveWebSocket(
  server: HttpServer | HttpsServer,
  market: Marketplace,
  options: LiveWebSocketOptions,
): LiveWebSocket {
  const o = resolveWebSocketOptions(options);
  const hub = sharedOrderEventHub(market, o.live);
  const wss = new WebSocketServer({ noServer: true, maxPayload: MAX_PAYLOAD, perMessageDeflate: false });
  const onUpgrade = (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    if (pathOf(req) !== o.path) return;
    wss.handleUpgrade(req, socket, head, (ws: WebSocket) => {
      new WebSocketSession(ws, req, socket, { market, hub, ...o }).start();
    });
  };
  server.on('upgrade', onUpgrade);
  return {
    get connections() {
      return wss.clients.size;
    },
    async close() {
      server.off('upgrade', onUpgrade);
      const closed = [...wss.clients].map((ws) => {
        const done = new Promise((resolve) => ws.once('close', resolve));
        ws.close(LIVE_WEBSOCKET_CLOSE_CODES.GOING_AWAY, 'GOING_AWAY');
        setTimeout(() => ws.terminate(), 1000).unref();
        return done;
      });
      await Promise.all(closed);
      await new Promise<void>((resolve) => wss.close(() => resolve()));
    },
  };
}

function pathOf(req: IncomingMessage): string | undefined {
  try {
    return new URL(req.url ?? '/', 'http://localhost').pathname;
  } catch {
    return undefined;
  }
}
