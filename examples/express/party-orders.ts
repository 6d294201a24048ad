/**
 * Which orders each party has, for the storefront's "your orders" list. The router has no route that lists orders,
 * so the demo keeps an index fed by the order events its in-process worker relays from the outbox. It lives in
 * memory: after a restart, orders made before it are still readable by id but no longer listed.
 */
import type { Actor, Marketplace } from '@marketkit/core';

/** The order ids of each buyer and seller, newest first. */
export class PartyOrders {
  readonly #byParty = new Map<string, string[]>();
  readonly #all: string[] = [];
  readonly #known = new Set<string>();

  /** Starts listening to `order.*` events of `market` (the worker's relay delivers them after commit). */
  constructor(market: Marketplace) {
    market.events.onAny(async (event) => {
      if (event.aggregateType !== 'order' || this.#known.has(event.aggregateId)) return;
      const order = await market.orders.get(event.aggregateId);
      if (order === undefined || this.#known.has(order.id)) return;
      this.#known.add(order.id);
      this.#all.unshift(order.id);
      for (const party of [`buyer:${order.buyerId}`, `seller:${order.sellerId}`]) {
        this.#byParty.set(party, [order.id, ...(this.#byParty.get(party) ?? [])]);
      }
    });
  }

  /** The orders `actor` is a party to; an operator sees every order. */
  of(actor: Actor): readonly string[] {
    if (actor.role === 'operator') return [...this.#all];
    return [...(this.#byParty.get(`${actor.role}:${actor.id}`) ?? [])];
  }
}
