import { ORDER_EVENTS_CHANNEL } from '@marketkit/core';
import type { OrderEventsWake } from './order-event-hub.js';

/**
 * The few methods of a dedicated, connected `pg` `Client` that {@link pgNotifyWake} calls (typed structurally, so
 * this package does not depend on `pg`).
 */
export interface PgListenClient {
  /** Runs `LISTEN marketkit_order_events`. */
  query(text: string): Promise<unknown>;
  /** Adds the notification listener. */
  on(event: 'notification', listener: (message: { channel: string; payload?: string | undefined }) => void): unknown;
  /** Removes it when the stream stops reading. */
  removeListener(
    event: 'notification',
    listener: (message: { channel: string; payload?: string | undefined }) => void,
  ): unknown;
}

/**
 * Wakes the live stream when order events commit in any process, by PostgreSQL `LISTEN` on
 * `marketkit_order_events` (a trigger of Marketkit's schema sends the `NOTIFY`, delivered on commit). Give it a
 * client of its own, not one from a pool: a listening connection stays checked out. The client's reconnection is
 * the host's; meanwhile the stream still polls every `pollIntervalMs`.
 *
 * @example
 * ```ts
 * const listener = new pg.Client({ connectionString: process.env.DATABASE_URL });
 * await listener.connect();
 * app.use('/api', marketkitRouter(market, { authenticate, liveEvents: { wake: pgNotifyWake(listener) } }));
 * ```
 */
export function pgNotifyWake(client: PgListenClient): OrderEventsWake {
  let listening: Promise<unknown> | undefined;
  return (wake) => {
    const onNotification = (message: { channel: string }) => {
      if (message.channel === ORDER_EVENTS_CHANNEL) wake();
    };
    client.on('notification', onNotification);
    listening ??= client.query(`LISTEN ${ORDER_EVENTS_CHANNEL}`).catch((e: unknown) => {
      listening = undefined;
      throw e;
    });
    listening.then(wake, () => {});
    return () => {
      client.removeListener('notification', onNotification);
    };
  };
}
