import { type ActorRole, type PaymentOperation, purchaseProcess } from '@marketkit/core';
import { SANDBOX_3DS_PAYMENT_METHOD, type SandboxFault } from '@marketkit/testing';
import fc from 'fast-check';
import type { SimulationAction, SimulationContext } from './simulation-types.js';
import { SIM_SELLER } from './simulation-world.js';

const BUYERS = ['alice', 'carol'] as const;
const TRANSITIONS = purchaseProcess().transitions.map((t) => t.name);

/** The actor of `role` on order `orderId` (ids are `o-<buyer>-<n>`, so the buyer is read from the id). */
function actorOn(orderId: string, role: ActorRole) {
  const id = role === 'buyer' ? (orderId.split('-')[1] ?? 'alice') : role === 'seller' ? SIM_SELLER : `${role}-1`;
  return { role, id };
}

const step = (label: string, worker: number | undefined, run: SimulationAction['run']): SimulationAction =>
  worker === undefined ? { label, run } : { label, worker, run };

const worker = (n: number) => fc.nat(n - 1);

/** A buyer checks out (a retry when the key was used before: the same order). */
function checkout(workers: number): fc.Arbitrary<SimulationAction> {
  return fc
    .tuple(
      worker(workers),
      fc.constantFrom(...BUYERS),
      fc.integer({ min: 1, max: 3 }),
      fc.constantFrom('tok_visa', 'tok_visa', 'tok_visa', 'tok_decline', SANDBOX_3DS_PAYMENT_METHOD),
      fc.nat(5),
    )
    .map(([w, buyer, quantity, method, n]) => {
      const orderId = `o-${buyer}-${n}`;
      return step(`w${w} checkout(${orderId}, ${quantity}, ${method})`, w, async (ctx) => {
        if (!ctx.orders.includes(orderId)) ctx.orders.push(orderId);
        const order = await ctx.market(w).orders.checkout({
          orderId,
          buyerId: buyer,
          listingId: ctx.listingId,
          quantity,
          paymentMethod: method,
          idempotencyKey: `k-${n}`,
        });
        return order.state;
      });
    });
}

/** Someone fires a transition of the purchase process on one of the run's orders, allowed or not. */
function transition(workers: number): fc.Arbitrary<SimulationAction> {
  return fc
    .tuple(
      worker(workers),
      fc.nat(7),
      fc.constantFrom(...TRANSITIONS),
      fc.constantFrom<ActorRole>('buyer', 'seller', 'operator', 'system'),
      fc.nat(100),
    )
    .map(([w, pick, name, role, param]) =>
      step(`w${w} ${name}(#${pick} by ${role}, ${param})`, w, async (ctx) => {
        const orderId = ctx.orders[pick % Math.max(1, ctx.orders.length)];
        if (orderId === undefined) return 'no order';
        const params =
          name === 'refundPartial'
            ? { amountMinor: BigInt(1 + param) * 50n }
            : name === 'resolveSplit'
              ? { buyerPercent: param }
              : {};
        const order = await ctx
          .market(w)
          .orders.transition(orderId, name, { actor: actorOn(orderId, role), ...params });
        return `${orderId} ${order.state}`;
      }),
    );
}

/**
 * The buyer completes (or fails) the 3-D Secure action of one of the run's orders at the provider; the provider's
 * webhook then reaches a worker (`payments.customerActionCompleted`), or, now and then, never arrives (the checkout
 * asks the provider by itself when its wait ends).
 */
function customerAction(workers: number): fc.Arbitrary<SimulationAction> {
  return fc
    .tuple(worker(workers), fc.nat(7), fc.constantFrom('succeeded' as const, 'failed' as const), fc.boolean())
    .map(([w, pick, outcome, webhook]) =>
      step(`w${w} customer ${outcome} 3-D Secure on #${pick}${webhook ? '' : ', webhook lost'}`, w, async (ctx) => {
        const orderId = ctx.orders[pick % Math.max(1, ctx.orders.length)];
        const order = orderId === undefined ? undefined : await ctx.auditor.orders.get(orderId);
        if (order?.authorizationId == null) return 'no authorization';
        const status = ctx.provider.completeCustomerAction(order.authorizationId, outcome);
        if (!webhook) return status;
        const woken = await ctx.market(w).payments.customerActionCompleted({
          authorizationId: order.authorizationId,
          eventId: `evt-${order.authorizationId}-${outcome}`,
        });
        return `${status}, order ${woken.order?.state ?? 'not found'}`;
      }),
    );
}

/** The seller asks for a payout (a retry when the key was used before). */
function payout(workers: number): fc.Arbitrary<SimulationAction> {
  return fc.tuple(worker(workers), fc.integer({ min: 1, max: 6 }), fc.nat(3)).map(([w, units, n]) =>
    step(`w${w} payout(${units}0.00, p-${n})`, w, async (ctx) => {
      const p = await ctx.market(w).payouts.request({
        sellerId: SIM_SELLER,
        currency: 'USD',
        amountMinor: BigInt(units) * 10_00n,
        idempotencyKey: `p-${n}-${units}`,
      });
      return p.status;
    }),
  );
}

/**
 * A worker round: one due saga and one due job (so no two transactions of one round share the connection at once,
 * and the round replays exactly), then timed transitions, the outbox and the other pollers.
 */
function tick(workers: number): fc.Arbitrary<SimulationAction> {
  return worker(workers).map((w) =>
    step(`w${w} worker round`, w, async (ctx) => `${await ctx.worker(w).runOnce()} done`),
  );
}

/** Time passes: a second, a lease (30 s), a reservation (15 min), an auto-completion (72 h). */
function advance(): fc.Arbitrary<SimulationAction> {
  return fc.constantFrom(1_000, 31_000, 16 * 60_000, 73 * 3_600_000).map((ms) =>
    step(`clock +${ms} ms`, undefined, async (ctx) => {
      ctx.clock.advance(ms);
      return undefined;
    }),
  );
}

const FAULT_OPS: readonly PaymentOperation[] = ['authorize', 'capture', 'void', 'refund', 'payout'];
const FAULTS: readonly SandboxFault[] = ['decline', 'error', 'timeout', 'errorAfterApply'];

/**
 * The provider's next call(s) of one operation fail: declined, an error, a timeout, or a timeout after the effect.
 * A void is never declined: a provider always releases a hold it made (a refused void would leave a saga failed
 * for an operator, which is what Marketkit promises then, not a broken invariant).
 */
function fault(): fc.Arbitrary<SimulationAction> {
  return fc
    .tuple(fc.constantFrom(...FAULT_OPS), fc.constantFrom(...FAULTS), fc.integer({ min: 1, max: 3 }))
    .filter(([op, kind]) => !(op === 'void' && kind === 'decline'))
    .map(([op, kind, times]) =>
      step(`provider: next ${times} ${op} → ${kind}`, undefined, async (ctx) => {
        ctx.provider.injectFault(op, kind, times);
        return undefined;
      }),
    );
}

/** A worker process dies at its `points`th step boundary (statement or provider call) from now. */
export function crash(workers: number, arm: (ctx: SimulationContext, w: number, points: number) => void) {
  return fc.tuple(worker(workers), fc.nat(12)).map(([w, points]) =>
    step(`w${w} dies after ${points} more boundaries`, undefined, async (ctx) => {
      arm(ctx, w, points);
      return undefined;
    }),
  );
}

/**
 * The built-in steps, weighted: transitions and checkouts most, then worker rounds and crashes, then time, faults and
 * payouts. A worker round costs the most (a claim of each kind and every poller), so it is not the most frequent.
 * @internal
 */
export function builtinActions(
  workers: number,
  arm: (ctx: SimulationContext, w: number, points: number) => void,
): fc.WeightedArbitrary<SimulationAction>[] {
  return [
    { arbitrary: checkout(workers), weight: 6 },
    { arbitrary: transition(workers), weight: 8 },
    { arbitrary: tick(workers), weight: 3 },
    { arbitrary: crash(workers, arm), weight: 3 },
    { arbitrary: advance(), weight: 2 },
    { arbitrary: fault(), weight: 2 },
    { arbitrary: payout(workers), weight: 2 },
    { arbitrary: customerAction(workers), weight: 2 },
  ];
}
