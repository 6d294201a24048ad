import { expect } from 'vitest';
import type { LiveFixture, LiveProcess } from './live-fixture.js';

/** An order event as a test client of either transport received it. */
export interface StreamedOrderEvent {
  readonly id: string;
  readonly orderId: string;
  readonly seq: number;
  readonly to: string;
}

/** What the scenarios need of a live client, SSE or WebSocket. */
export interface StreamClient {
  /** The order events received so far. */
  readonly orders: readonly StreamedOrderEvent[];
  /** Waits until `done()` holds. */
  until(done: () => boolean): Promise<void>;
  /** Waits for the opening message; its id. */
  ready(): Promise<string>;
  close(): void;
}

/**
 * With alice, carol (buyers), bob (seller) and ops (operator) connected and ready, orders committed by process A
 * reach each client of theirs: each party its own orders, operators all, each event once.
 */
export async function expectPartiesOnly(
  fixture: LiveFixture,
  clients: Readonly<Record<'alice' | 'carol' | 'bob' | 'ops', StreamClient>>,
): Promise<void> {
  const { alice, carol, bob, ops } = clients;
  const aliceOrder = await fixture.buy('alice');
  await fixture.fire(aliceOrder, 'ship');
  const carolOrder = await fixture.buy('carol');
  await alice.until(() => alice.orders.length === 3);
  await carol.until(() => carol.orders.length === 2);
  await bob.until(() => bob.orders.length === 5);
  await ops.until(() => ops.orders.length === 5);

  expect(alice.orders.map((e) => [e.orderId, e.seq, e.to])).toEqual([
    [aliceOrder, 1, 'checkout'],
    [aliceOrder, 2, 'paid'],
    [aliceOrder, 3, 'shipped'],
  ]);
  // Carol's stream had alice's three events to pass over before her own: none of them reached her.
  expect(carol.orders.map((e) => [e.orderId, e.to])).toEqual([
    [carolOrder, 'checkout'],
    [carolOrder, 'paid'],
  ]);
  expect(bob.orders.map((e) => e.orderId)).toEqual([aliceOrder, aliceOrder, aliceOrder, carolOrder, carolOrder]);
  expect(ops.orders.map((e) => e.orderId)).toEqual([aliceOrder, aliceOrder, aliceOrder, carolOrder, carolOrder]);
  expect(new Set(ops.orders.map((e) => e.id)).size).toBe(5);
}

/**
 * Alice follows an order on process A, leaves after two events, and comes back on process B with the last id she
 * got (`connect` opens a client resuming after `lastEventId`): she gets the events she missed and the new ones, none
 * twice. Answers her last order, whose three events the resumed client got last.
 */
export async function expectResumeLosesNothing(
  fixture: LiveFixture,
  connect: (process: LiveProcess, who: string, lastEventId?: string) => StreamClient,
): Promise<{ readonly second: string; readonly resumed: readonly StreamedOrderEvent[] }> {
  const first = connect(fixture.a, 'alice');
  await first.ready();
  const order = await fixture.buy('alice');
  await fixture.fire(order, 'ship');
  await first.until(() => first.orders.length >= 2);
  const seen = first.orders.slice(0, 2);
  first.close();

  // While alice is away: the rest of this order, and another one.
  await fixture.fire(order, 'deliver');
  await fixture.fire(order, 'confirm', 'alice');
  const second = await fixture.buy('alice');

  const resumed = connect(fixture.b, 'alice', seen[1]?.id ?? '');
  expect(await resumed.ready()).toBe(seen[1]?.id);
  await resumed.until(() => resumed.orders.length >= 5);
  await fixture.fire(second, 'ship');
  await resumed.until(() => resumed.orders.length >= 6);
  await new Promise((r) => setTimeout(r, 200)); // time for a repeat to show up, if there were one
  expect([...seen, ...resumed.orders].map((e) => [e.orderId, e.seq])).toEqual([
    [order, 1],
    [order, 2],
    [order, 3],
    [order, 4],
    [order, 5],
    [second, 1],
    [second, 2],
    [second, 3],
  ]);
  expect(resumed.orders.map((e) => e.to)).toEqual(['shipped', 'delivered', 'completed', 'checkout', 'paid', 'shipped']);
  const orders = [...resumed.orders];
  resumed.close();
  return { second, resumed: orders };
}
