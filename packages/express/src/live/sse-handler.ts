import type { Actor, Marketplace } from '@marketkit/core';
import type { Request, Response } from 'express';
import { toJson } from '../http-answers.js';
import { drainedOrClosed, type LiveOrderEvent, type LiveTransport, serveLiveClient } from './live-client.js';
import { parseLastEventId } from './live-cursor.js';
import type { ResolvedLiveEventsOptions } from './live-events-options.js';
import { type OrderEventHub, sharedOrderEventHub } from './order-event-hub.js';

/**
 * `GET /v1/events`: a Server-Sent Events stream of the order events of the orders the actor may read. Each event
 * is `event: order`, `id: <feed cursor>`, `data: <the order event as JSON>`; the stream opens with `event: ready`
 * whose id is where it starts. A client that reconnects with `Last-Event-ID` (or `?lastEventId=`) gets every event
 * after that id exactly once, whichever process it reaches.
 */
export class SseHandler {
  readonly #market: Marketplace;
  readonly #options: ResolvedLiveEventsOptions;
  readonly #hub: OrderEventHub;

  constructor(market: Marketplace, options: ResolvedLiveEventsOptions) {
    this.#market = market;
    this.#options = options;
    this.#hub = sharedOrderEventHub(market, options);
  }

  /** Serves one client until it leaves or falls too far behind. */
  async handle(req: Request, res: Response, actor: Actor): Promise<void> {
    const resumeFrom = lastEventId(req);
    const transport = new SseTransport(res, this.#options.retryMs);
    await serveLiveClient(this.#hub, this.#market, this.#options, actor, resumeFrom, transport, () => {
      res.status(200);
      res.setHeader('Content-Type', 'text/event-stream; charset=utf-8');
      res.setHeader('Cache-Control', 'no-cache, no-transform');
      res.setHeader('X-Accel-Buffering', 'no');
      res.flushHeaders();
      res.socket?.setNoDelay(true);
    });
  }
}

/** The client's resume point: `Last-Event-ID`, else the `lastEventId` query parameter (a first connection). */
function lastEventId(req: Request): string | undefined {
  const query = req.query['lastEventId'];
  return parseLastEventId(req.get('Last-Event-ID') ?? (typeof query === 'string' ? query : undefined), 'Last-Event-ID');
}

/** The live stream as `text/event-stream` on an HTTP response. */
class SseTransport implements LiveTransport {
  readonly #res: Response;
  readonly #retryMs: number;

  constructor(res: Response, retryMs: number) {
    this.#res = res;
    this.#retryMs = retryMs;
  }

  sendReady(id: string): void {
    this.#res.write(`retry: ${this.#retryMs}\nevent: ready\nid: ${id}\ndata: {}\n\n`);
  }

  sendOrder(id: string, event: LiveOrderEvent): void {
    this.#res.write(`event: order\nid: ${id}\ndata: ${toJson(event)}\n\n`);
  }

  heartbeat(): void {
    this.#res.write(': heartbeat\n\n');
  }

  get bufferedBytes(): number {
    return this.#res.writableLength;
  }

  drained(): Promise<void> {
    return drainedOrClosed(this.#res);
  }

  dropSlow(): void {
    this.#res.destroy();
  }

  fail(): void {
    this.#res.destroy();
  }

  onClose(listener: () => void): void {
    this.#res.once('close', listener);
  }
}
