import {
  type Actor,
  compareOrderFeedCursors,
  MarketkitError,
  type Marketplace,
  mayRead,
  type OrderFeedEvent,
} from '@marketkit/core';
import type { Request, Response } from 'express';
import { toJson } from '../http-answers.js';
import type { ResolvedLiveEventsOptions } from './live-events-options.js';
import { type FeedBatch, OrderEventHub } from './order-event-hub.js';

const CURSOR = /^(0|[1-9][0-9]{0,18})-(0|[1-9][0-9]{0,18})$/;

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
    this.#hub = new OrderEventHub(market, options);
  }

  /** Serves one client until it leaves or falls too far behind. */
  async handle(req: Request, res: Response, actor: Actor): Promise<void> {
    const resumeFrom = lastEventId(req);
    const client = new SseClient(res, actor, this.#options);
    let gone = false;
    res.on('close', () => {
      gone = true;
      client.close();
    });
    const sub = await this.#hub.subscribe((batch) => client.receive(batch));
    if (gone) return sub.unsubscribe();
    res.on('close', sub.unsubscribe);
    res.status(200);
    res.setHeader('Content-Type', 'text/event-stream; charset=utf-8');
    res.setHeader('Cache-Control', 'no-cache, no-transform');
    res.setHeader('X-Accel-Buffering', 'no');
    res.flushHeaders();
    res.socket?.setNoDelay(true);
    client.startHeartbeats();
    const start = resumeFrom ?? sub.cursor;
    client.write(`retry: ${this.#options.retryMs}\nevent: ready\nid: ${start}\ndata: {}\n\n`);
    try {
      await client.catchUp(this.#market, start, sub.cursor, this.#options.pageSize);
    } catch {
      // The status is sent: end the stream; the client resumes from the last id it got.
      res.destroy();
    }
  }
}

/** The client's resume point: `Last-Event-ID`, else the `lastEventId` query parameter (a first connection). */
function lastEventId(req: Request): string | undefined {
  const query = req.query['lastEventId'];
  const value = req.get('Last-Event-ID') ?? (typeof query === 'string' ? query : undefined);
  if (value === undefined || value === '') return undefined;
  if (!CURSOR.test(value)) {
    const message = 'Last-Event-ID must be an id this stream sent, e.g. 0-42.';
    throw new MarketkitError('VALIDATION_FAILED', {
      message,
      details: { issues: [{ path: ['Last-Event-ID'], message }] },
    });
  }
  return value;
}

/** One connected client: the events it has been sent up to `#cursor`, and the batches held while it catches up. */
class SseClient {
  readonly #res: Response;
  readonly #actor: Actor;
  readonly #options: ResolvedLiveEventsOptions;
  #heartbeat: NodeJS.Timeout | undefined;
  #cursor: string | undefined; // undefined while catching up
  #held: FeedBatch[] = [];
  #heldBytes = 0;
  #closed = false;

  constructor(res: Response, actor: Actor, options: ResolvedLiveEventsOptions) {
    this.#res = res;
    this.#actor = actor;
    this.#options = options;
  }

  /** A comment line every `heartbeatMs`, once the headers are sent. */
  startHeartbeats(): void {
    if (this.#closed) return;
    this.#heartbeat = setInterval(() => this.write(': heartbeat\n\n'), this.#options.heartbeatMs);
    this.#heartbeat.unref();
  }

  /** Sends the actor's events after `from` up to `until` from the database, then the batches held meanwhile. */
  async catchUp(market: Marketplace, from: string, until: string, limit: number): Promise<void> {
    let cursor = from;
    while (!this.#closed && compareOrderFeedCursors(cursor, until) < 0) {
      const page = await market.orders.feed({ after: cursor, until, actor: this.#actor, limit });
      for (const e of page.events) this.#send(e);
      if (page.events.length < limit) break;
      cursor = page.cursor;
      if (this.#res.writableNeedDrain) {
        await new Promise((resolve) => {
          this.#res.once('drain', resolve);
          this.#res.once('close', resolve);
        });
      }
    }
    this.#cursor = compareOrderFeedCursors(from, until) > 0 ? from : until;
    const held = this.#held;
    this.#held = [];
    for (const batch of held) this.receive(batch);
  }

  /** A batch from the hub: sent now, or held while catching up. */
  receive(batch: FeedBatch): void {
    if (this.#closed) return;
    if (this.#cursor === undefined) {
      this.#held.push(batch);
      for (const e of batch.events) this.#heldBytes += toJson(e).length;
      if (this.#heldBytes > this.#options.maxBufferedBytes) this.#drop();
      return;
    }
    for (const e of batch.events) {
      if (compareOrderFeedCursors(e.cursor, this.#cursor) <= 0) continue; // it resumed beyond this process's reader
      if (mayRead(this.#actor, e)) this.#send(e);
    }
  }

  #send(e: OrderFeedEvent): void {
    const { cursor, buyerId: _b, sellerId: _s, ...event } = e;
    this.write(`event: order\nid: ${cursor}\ndata: ${toJson(event)}\n\n`);
  }

  /** Writes, and drops the client when more than `maxBufferedBytes` wait to be sent. */
  write(chunk: string): void {
    if (this.#closed) return;
    this.#res.write(chunk);
    if (this.#res.writableLength > this.#options.maxBufferedBytes) this.#drop();
  }

  #drop(): void {
    this.close();
    this.#res.destroy();
  }

  close(): void {
    this.#closed = true;
    this.#held = [];
    clearInterval(this.#heartbeat);
  }
}
