import type { Marketplace, OrderFeedEvent } from '@marketkit/core';

/**
 * A source of wake-ups: called with a function to call whenever order events may have committed (in any process),
 * it returns a function that stops the calls. {@link pgNotifyWake} is one on PostgreSQL.
 */
export type OrderEventsWake = (wake: () => void) => () => void;

/** Consecutive events of the feed, `from` (exclusive) to `to` (inclusive): a hub hands them out in order. */
export interface FeedBatch {
  readonly from: string;
  readonly to: string;
  readonly events: readonly OrderFeedEvent[];
}

/** What the hub polls with. */
export interface OrderEventHubOptions {
  readonly pollIntervalMs: number;
  readonly pageSize: number;
  readonly wake?: OrderEventsWake | undefined;
}

/**
 * First and longest delay of a re-read while a running transaction holds events back: that transaction may be
 * another application's, whose commit sends no notification.
 */
const HELD_BACK_FIRST_MS = 5;
const HELD_BACK_MAX_MS = 200;

/**
 * One process's reader of the order feed, shared by every live client of a router: it reads all new events once
 * (trusted, no actor) and hands each batch to its listeners, who filter by actor. It reads while anyone listens:
 * when woken, every `pollIntervalMs`, and again soon while a running transaction holds events back.
 */
export class OrderEventHub {
  readonly #market: Marketplace;
  readonly #options: OrderEventHubOptions;
  readonly #listeners = new Set<(batch: FeedBatch) => void>();
  #cursor: string | undefined;
  #starting: Promise<void> | undefined;
  #timer: NodeJS.Timeout | undefined;
  #unwake: (() => void) | undefined;
  #reading = false;
  #again = false;
  #heldBackDelay = HELD_BACK_FIRST_MS;

  constructor(market: Marketplace, options: OrderEventHubOptions) {
    this.#market = market;
    this.#options = options;
  }

  /**
   * Adds a listener. The answer's `cursor` is where its batches start: every event after it reaches the listener,
   * none before it.
   */
  async subscribe(listener: (batch: FeedBatch) => void): Promise<{ cursor: string; unsubscribe: () => void }> {
    this.#listeners.add(listener);
    const unsubscribe = () => {
      this.#listeners.delete(listener);
      if (this.#listeners.size === 0) this.#stop();
    };
    try {
      while (this.#cursor === undefined) {
        this.#starting ??= this.#start();
        await this.#starting;
      }
    } catch (e) {
      unsubscribe();
      throw e;
    }
    return { cursor: this.#cursor, unsubscribe };
  }

  /** Reads soon (a wake-up from a notification, or a commit in this process). */
  wake(): void {
    if (this.#cursor === undefined) return;
    if (this.#reading) {
      this.#again = true;
      return;
    }
    this.#schedule(0);
  }

  async #start(): Promise<void> {
    try {
      const head = await this.#market.orders.feedHead();
      if (this.#listeners.size === 0) return;
      this.#cursor = head;
      this.#unwake = this.#options.wake?.(() => this.wake());
      this.#schedule(this.#options.pollIntervalMs);
    } finally {
      this.#starting = undefined;
    }
  }

  #stop(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#unwake?.();
    this.#unwake = undefined;
    this.#cursor = undefined;
  }

  #schedule(ms: number): void {
    clearTimeout(this.#timer);
    this.#timer = setTimeout(() => void this.#read(), ms);
    this.#timer.unref();
  }

  async #read(): Promise<void> {
    const from = this.#cursor;
    if (from === undefined || this.#reading) return;
    this.#reading = true;
    this.#again = false;
    let next = this.#options.pollIntervalMs;
    try {
      const page = await this.#market.orders.feed({ after: from, limit: this.#options.pageSize });
      if (this.#cursor !== from) return; // stopped (and maybe restarted) meanwhile
      if (page.cursor !== from) {
        this.#cursor = page.cursor;
        const batch: FeedBatch = { from, to: page.cursor, events: page.events };
        for (const listener of [...this.#listeners]) listener(batch);
      }
      if (page.events.length === this.#options.pageSize || this.#again) next = 0;
      else if (page.heldBack) {
        next = Math.min(this.#heldBackDelay, HELD_BACK_MAX_MS, this.#options.pollIntervalMs);
        this.#heldBackDelay = Math.min(this.#heldBackDelay * 2, HELD_BACK_MAX_MS);
      } else this.#heldBackDelay = HELD_BACK_FIRST_MS;
    } catch {
      // The database is away: read again at the usual pace; clients keep their heartbeats meanwhile.
    } finally {
      this.#reading = false;
      if (this.#cursor !== undefined) this.#schedule(next);
    }
  }
}

const hubsByMarket = new WeakMap<
  Marketplace,
  Map<string, { hub: OrderEventHub; wake: OrderEventsWake | undefined }[]>
>();

/**
 * The process's one hub for `market` with these options: the router's Server-Sent Events stream and
 * `attachLiveWebSocket`, given the same live options (the same `wake` function, poll interval and page size), share
 * one reader of the feed instead of reading it twice.
 */
export function sharedOrderEventHub(market: Marketplace, options: OrderEventHubOptions): OrderEventHub {
  let byKey = hubsByMarket.get(market);
  if (byKey === undefined) {
    byKey = new Map();
    hubsByMarket.set(market, byKey);
  }
  const key = `${options.pollIntervalMs}:${options.pageSize}`;
  const same = byKey.get(key) ?? [];
  byKey.set(key, same);
  const found = same.find((entry) => entry.wake === options.wake);
  if (found !== undefined) return found.hub;
  const hub = new OrderEventHub(market, options);
  same.push({ hub, wake: options.wake });
  return hub;
}
