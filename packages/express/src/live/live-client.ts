import { type Actor, compareOrderFeedCursors, type Marketplace, mayRead, type OrderFeedEvent } from '@marketkit/core';
import { toJson } from '../http-answers.js';
import type { ResolvedLiveEventsOptions } from './live-events-options.js';
import type { FeedBatch, OrderEventHub } from './order-event-hub.js';

/** An order event as a live client receives it: the feed event without its cursor (sent as the id) and parties. */
export type LiveOrderEvent = Omit<OrderFeedEvent, 'cursor' | 'buyerId' | 'sellerId'>;

/**
 * How one connected client is written to: Server-Sent Events ({@link SseHandler}) or a WebSocket
 * ({@link attachLiveWebSocket}). The transport only frames and writes; {@link serveLiveClient} decides what is sent.
 * @internal
 */
export interface LiveTransport {
  /** Sends the opening message: the stream starts after `id`. */
  sendReady(id: string): void;
  /** Sends one order event whose feed cursor is `id`. */
  sendOrder(id: string, event: LiveOrderEvent): void;
  /** Proves the connection alive, every `heartbeatMs`. */
  heartbeat(): void;
  /** Bytes written but not yet sent. */
  readonly bufferedBytes: number;
  /** Resolves once the pending bytes were handed to the kernel, or the connection closed. */
  drained(): Promise<void>;
  /** Ends the connection of a client that fell more than `maxBufferedBytes` behind. */
  dropSlow(): void;
  /** Ends the connection after a failure once the stream is open (the client resumes from its last id). */
  fail(): void;
  /** Calls `listener` once when the connection closes, whoever closes it. */
  onClose(listener: () => void): void;
}

/**
 * Serves one client of the live stream until it leaves: subscribes to the hub, calls `open` (the transport's last
 * chance to refuse or send headers), sends `ready` with where the stream starts (`resumeFrom`, else the hub's
 * cursor), catches up from the database to the hub's cursor while holding the hub's batches, then forwards the
 * batches. Every event after the start id reaches the client exactly once, filtered by `mayRead`. Throws only before
 * `open` (the hub could not start); later failures end the connection through `transport.fail()`.
 * @internal
 */
export async function serveLiveClient(
  hub: OrderEventHub,
  market: Marketplace,
  options: ResolvedLiveEventsOptions,
  actor: Actor,
  resumeFrom: string | undefined,
  transport: LiveTransport,
  open: () => void = () => {},
): Promise<void> {
  const client = new LiveClient(transport, actor, options);
  transport.onClose(() => client.close());
  const sub = await hub.subscribe((batch) => client.receive(batch));
  if (client.closed) return sub.unsubscribe();
  transport.onClose(sub.unsubscribe);
  open();
  client.startHeartbeats();
  const start = resumeFrom ?? sub.cursor;
  transport.sendReady(start);
  try {
    await client.catchUp(market, start, sub.cursor, options.pageSize);
  } catch {
    client.close();
    transport.fail();
  }
}

/**
 * Resolves once `stream` (an HTTP response, a socket) wants more data again, or is gone. For
 * {@link LiveTransport.drained}. @internal
 */
export function drainedOrClosed(stream: {
  readonly writableNeedDrain: boolean;
  readonly destroyed: boolean;
  once(event: 'drain' | 'close', listener: () => void): unknown;
}): Promise<void> {
  if (!stream.writableNeedDrain || stream.destroyed) return Promise.resolve();
  return new Promise((resolve) => {
    stream.once('drain', resolve);
    stream.once('close', resolve);
  });
}

/** One connected client: the events it has been sent up to `#cursor`, and the batches held while it catches up. */
class LiveClient {
  readonly #transport: LiveTransport;
  readonly #actor: Actor;
  readonly #options: ResolvedLiveEventsOptions;
  #heartbeat: NodeJS.Timeout | undefined;
  #cursor: string | undefined; // undefined while catching up
  #held: FeedBatch[] = [];
  #heldBytes = 0;
  #closed = false;

  constructor(transport: LiveTransport, actor: Actor, options: ResolvedLiveEventsOptions) {
    this.#transport = transport;
    this.#actor = actor;
    this.#options = options;
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** A heartbeat every `heartbeatMs`, once the stream is open. */
  startHeartbeats(): void {
    if (this.#closed) return;
    this.#heartbeat = setInterval(() => {
      if (this.#closed) return;
      this.#transport.heartbeat();
      this.#checkBuffer();
    }, this.#options.heartbeatMs);
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
      if (this.#transport.bufferedBytes > 0) await this.#transport.drained();
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
    if (this.#closed) return;
    const { cursor, buyerId: _b, sellerId: _s, ...event } = e;
    this.#transport.sendOrder(cursor, event);
    this.#checkBuffer();
  }

  /** Drops the client when more than `maxBufferedBytes` wait to be sent. */
  #checkBuffer(): void {
    if (this.#transport.bufferedBytes > this.#options.maxBufferedBytes) this.#drop();
  }

  #drop(): void {
    this.close();
    this.#transport.dropSlow();
  }

  close(): void {
    this.#closed = true;
    this.#held = [];
    clearInterval(this.#heartbeat);
  }
}
