import { isMarketkitError } from '../errors/marketkit-error.js';
import { parseInput } from '../errors/validation-error.js';
import type { IdempotencyHandle, IdempotentCall } from '../idempotency/idempotency-types.js';
import { keyDerivedId } from '../ids/key-derived-id.js';
import type { SagaDefinition } from '../sagas/saga-definition.js';
import type { ParamRef } from '../storage/statement-template.js';
import type { MarketkitTransaction } from '../storage/storage.js';
import { CheckoutFlow } from './checkout-flow.js';
import { type CheckoutVerification, verifyCheckouts } from './checkout-verification.js';
import { type EscrowVerification, verifyEscrow } from './escrow-verification.js';
import type { OnCommit } from './on-commit.js';
import { ORDER_CODEC } from './order-codec.js';
import { orderOpSaga } from './order-op-saga.js';
import { orderEventFromRow } from './order-rows.js';
import {
  checkoutSchema,
  orderIdSchema,
  plainCheckoutInput,
  transitionNameSchema,
  transitionSchema,
} from './order-schemas.js';
import { readOrder } from './order-store.js';
import { OrderTransitions } from './order-transitions.js';
import type { Actor, CheckoutInput, Order, OrderEvent, TransitionInput } from './order-types.js';
import type { OrdersDeps } from './orders-deps.js';
import type { ProcessDefinition } from './process/process-definition.js';

export type { OrdersDeps } from './orders-deps.js';

const SYSTEM: Actor = Object.freeze({ role: 'system', id: 'system' });

/** An idempotency key's completion hook and the order it recorded, once it did. */
interface KeyHook {
  recorded: Order | undefined;
  readonly onCommit: OnCommit;
}

/**
 * Orders moving through a declared transaction process. Every transition records an append-only order event in
 * the same database transaction as its effects; a transition that calls the payment provider runs as a durable
 * saga (`marketkit.order-transition`): it marks the order busy, calls the provider with keys derived from the order
 * and event, then commits its effects — so a crash anywhere is finished by a worker without refunding twice, and a
 * decline leaves the order where it was.
 *
 * @example
 * ```ts
 * const order = await market.orders.checkout({ buyerId: 'alice', listingId, quantity: 1, paymentMethod: 'tok_visa' });
 * await market.orders.transition(order.id, 'ship', { actor: { role: 'seller', id: order.sellerId } });
 * ```
 */
export class Orders {
  readonly #d: OrdersDeps;
  readonly #transitions: OrderTransitions;
  readonly #checkout: CheckoutFlow;

  constructor(deps: OrdersDeps) {
    this.#d = deps;
    this.#transitions = new OrderTransitions(deps);
    this.#checkout = new CheckoutFlow(deps, this.#transitions);
    this.sagaDefinitions = [this.#checkout.sagaDefinition, orderOpSaga(this.#transitions.ops)];
  }

  /**
   * The sagas checkouts and provider-calling transitions run as; the marketplace registers them, so any worker can
   * finish them.
   * @internal
   */
  readonly sagaDefinitions: readonly SagaDefinition[];

  /** The process orders follow. */
  get process(): ProcessDefinition {
    return this.#d.process;
  }

  /**
   * Reserves stock, creates the order, then authorizes and captures the payment into escrow. Declined: the
   * order is cancelled and the stock released, and `PAYMENT_DECLINED` is thrown. A retryable provider failure
   * leaves the order in checkout; calling `checkout` again with the same `orderId` or idempotency key resumes it.
   */
  async checkout(input: CheckoutInput): Promise<Order> {
    const p = plainCheckoutInput(input) ?? parseInput(checkoutSchema, input, 'checkout');
    const orderId =
      p.orderId ??
      (p.idempotencyKey === undefined ? this.#d.ids('ord') : keyDerivedId('ord', p.buyerId, p.idempotencyKey));
    const work = (onCommit?: OnCommit): Promise<Order> => this.#checkout.run(orderId, p, onCommit);
    if (p.idempotencyKey === undefined) return work();
    const request = {
      orderId: p.orderId ?? null,
      listingId: p.listingId,
      quantity: p.quantity,
      paymentMethod: p.paymentMethod,
    };
    const call = { key: p.idempotencyKey, actor: p.buyerId, operation: 'orders.checkout', request };
    if (this.#checkout.claimsKeys) {
      // The usual case, a fresh key: claimed by the create-order statement itself (no statement of its own).
      const claim = this.#d.idempotency.prepareClaim(call);
      const hook = this.#hook(claim.handle);
      let order: Order | undefined;
      try {
        order = await this.#checkout.runClaimed(orderId, p, claim, hook.onCommit);
      } catch (error) {
        await this.#d.idempotency.fail(claim.handle, error);
        throw error;
      }
      if (order !== undefined) return this.#recorded(hook, orderId, order);
    }
    return this.#idempotent(call, orderId, work);
  }

  /**
   * Fires transition `name` as `input.actor`. `FORBIDDEN` when the role may not fire it or the actor is not the
   * order's buyer/seller; `INVALID_TRANSITION` from another state; nothing changes in either case.
   */
  async transition(orderId: string, name: string, input: TransitionInput): Promise<Order> {
    const id = parseInput(orderIdSchema, orderId, 'order id');
    const t = parseInput(transitionNameSchema, name, 'transition name');
    const p = parseInput(transitionSchema, input, 'transition input');
    const params = { amountMinor: p.amountMinor, buyerPercent: p.buyerPercent };
    const work = async (onCommit?: OnCommit): Promise<Order> =>
      (await this.#transitions.fire(id, t, p.actor, p.reason ?? null, params, onCommit)) ?? (await this.get(id))!;
    if (p.idempotencyKey === undefined) return work();
    const request = { orderId: id, transition: t, reason: p.reason ?? null, ...params };
    return this.#idempotent({ key: p.idempotencyKey, actor: p.actor.id, operation: `orders.${t}`, request }, id, work);
  }

  /**
   * Runs `work` under an idempotency key: a replay returns the order as the first call left it (or rethrows its
   * deterministic error) without running anything; the result is recorded in the same transaction as the
   * operation's last commit, so a crash can never leave the key recorded for work that did not happen.
   */
  async #idempotent(
    call: IdempotentCall,
    orderId: string,
    work: (onCommit: OnCommit) => Promise<Order>,
  ): Promise<Order> {
    const begun = await this.#d.idempotency.begin<Order>(call, { codec: ORDER_CODEC });
    if (begun.status === 'replayed') return begun.result;
    const hook = this.#hook(begun.handle);
    try {
      return await this.#recorded(hook, orderId, await work(hook.onCommit));
    } catch (error) {
      await this.#d.idempotency.fail(begun.handle, error);
      throw error;
    }
  }

  /** The idempotency key's completion for the operation's last commit, and what it recorded. */
  #hook(handle: IdempotencyHandle): KeyHook {
    const idem = this.#d.idempotency;
    const hook: KeyHook = {
      recorded: undefined,
      onCommit: Object.assign(
        async (trx: MarketkitTransaction, order: Order) => {
          await idem.complete(trx, handle, order, { codec: ORDER_CODEC });
          hook.recorded = order;
        },
        {
          statement: {
            query: (p: ParamRef, rowless?: boolean) => idem.completeQuery(p, rowless),
            values: (order: Order) => idem.completeValues(handle, order, { codec: ORDER_CODEC }),
          },
          committed: (order: Order) => {
            hook.recorded = order;
          },
        },
      ),
    };
    return hook;
  }

  /**
   * The order as the key recorded it; records it now, in a transaction of its own, when the operation's last commit
   * did not (its work was done by another caller or a worker).
   */
  async #recorded(hook: KeyHook, orderId: string, order: Order): Promise<Order> {
    if (hook.recorded === undefined) {
      await this.#d.storage.transaction(async (trx) => hook.onCommit(trx, (await readOrder(trx, orderId)) ?? order));
    }
    return hook.recorded ?? order;
  }

  /** An order with its escrow balance, or `undefined`. */
  async get(orderId: string): Promise<Order | undefined> {
    const id = parseInput(orderIdSchema, orderId, 'order id');
    return this.#d.storage.run((db) => readOrder(db, id));
  }

  /** Every transition the order went through, oldest first. */
  async history(orderId: string): Promise<OrderEvent[]> {
    const id = parseInput(orderIdSchema, orderId, 'order id');
    const rows = await this.#d.storage.run((db) =>
      db.selectFrom('order_events').selectAll().where('order_id', '=', id).orderBy('seq').execute(),
    );
    return rows.map(orderEventFromRow);
  }

  /** Checks that escrow closes: terminal orders hold nothing, and every captured unit went to exactly one party. */
  async verifyEscrow(): Promise<EscrowVerification> {
    const terminal = Object.entries(this.#d.process.states)
      .filter(([, s]) => s.terminal)
      .map(([n]) => n);
    return this.#d.storage.snapshot((trx) => verifyEscrow(trx, terminal));
  }

  /**
   * Checks that every order's checkout saga (`marketkit.checkout`) agrees with the order: a completed checkout
   * confirmed it with the capture the saga recorded, a compensated one left it out of checkout with nothing
   * captured, an order still in checkout has a live saga (or one parked for an operator), and no order is paid (or
   * later) without a capture id.
   * `checkMarketInvariants` from `@marketkit/testing` runs it with the other checks.
   *
   * @example
   * ```ts
   * const { ok, problems } = await market.orders.verifyCheckouts();
   * ```
   */
  async verifyCheckouts(): Promise<CheckoutVerification> {
    const captures = this.#d.process.transitions
      .filter((t) => t.effects.includes('captureToEscrow'))
      .map((t) => t.name);
    return this.#d.storage.snapshot((trx) => verifyCheckouts(trx, this.#d.process.initial, captures));
  }

  /** Fires due time-based transitions (as `system`); returns how many fired. The worker runs this. */
  async fireDueTransitions(limit = 100): Promise<number> {
    const now = this.#d.clock.now();
    let fired = 0;
    for (const t of this.#d.process.transitions) {
      if (t.afterMs === undefined) continue;
      const from = typeof t.from === 'string' ? [t.from] : t.from;
      const due = await this.#d.storage.run((db) =>
        db
          .selectFrom('orders')
          .select('id')
          .where('state', 'in', from)
          .where('pending_op', 'is', null)
          .where('state_entered_at', '<=', BigInt(now - t.afterMs!))
          .orderBy('id')
          .limit(limit)
          .execute(),
      );
      for (const { id } of due) if (await this.#tryFire(id, t.name, SYSTEM, `timed: ${t.afterMs} ms in state`)) fired++;
    }
    return fired;
  }

  async #tryFire(id: string, name: string, actor: Actor, reason: string): Promise<boolean> {
    try {
      await this.#transitions.fire(id, name, actor, reason, {});
      return true;
    } catch (error) {
      if (isMarketkitError(error) && (error.retryable || error.code === 'INVALID_TRANSITION')) return false;
      throw error;
    }
  }
}
