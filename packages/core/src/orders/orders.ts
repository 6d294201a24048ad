import type { Kysely } from 'kysely';
import { hasErrorCode, isMarketkitError, MarketkitError } from '../errors/marketkit-error.js';
import { parseInput } from '../errors/validation-error.js';
import { IDEMPOTENCY_LIMITS } from '../idempotency/idempotency-limits.js';
import type { IdempotencyHandle, IdempotentCall } from '../idempotency/idempotency-types.js';
import { CHECKOUT_OPERATION, transitionOperation } from '../idempotency/keyed-operations.js';
import { currentKeyDerivedId, keyDerivedId } from '../ids/key-derived-id.js';
import { errorCode } from '../observability/tracing.js';
import type { SagaDefinition } from '../sagas/saga-definition.js';
import type { MarketkitDatabase } from '../schema/database.js';
import { toNumber } from '../storage/int64.js';
import { MAX_MAINTENANCE_LIMIT, parseRowLimit } from '../storage/row-limit.js';
import type { ParamRef } from '../storage/statement-template.js';
import type { MarketkitTransaction } from '../storage/storage.js';
import { CheckoutFlow } from './checkout-flow.js';
import { type CheckoutVerification, verifyCheckouts } from './checkout-verification.js';
import { type EscrowVerification, verifyEscrow } from './escrow-verification.js';
import type { OnCommit } from './on-commit.js';
import { ORDER_CODEC } from './order-codec.js';
import {
  type OrderFeedOptions,
  type OrderFeedPage,
  orderFeedHead,
  orderFeedOptionsSchema,
  readOrderFeed,
} from './order-feed.js';
import { orderOpSaga } from './order-op-saga.js';
import { type ReadOptions, readOptionsSchema } from './order-read-access.js';
import { orderEventFromRow } from './order-rows.js';
import {
  checkoutInputSchema,
  orderIdSchema,
  type ParsedCheckout,
  plainCheckoutInput,
  transitionInputSchema,
  transitionNameSchema,
} from './order-schemas.js';
import { orderNotFound, orderReadableBy, readOrder } from './order-store.js';
import { OrderTransitions } from './order-transitions.js';
import type { Actor, CheckoutInput, Order, OrderEvent, TransitionInput } from './order-types.js';
import type { OrdersDeps } from './orders-deps.js';
import { paymentStates } from './process/customer-action-state.js';
import type { ProcessDefinition } from './process/process-definition.js';
import { readStuckCheckouts, type StuckCheckout } from './stuck-checkouts.js';

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
   * While the marketplace's provider breaker is open, it throws `PROVIDER_UNAVAILABLE` (retryable, `retryAfterMs`)
   * at once and changes nothing.
   */
  async checkout(input: CheckoutInput): Promise<Order> {
    const p = plainCheckoutInput(input) ?? parseInput(checkoutInputSchema, input, 'checkout');
    const obs = this.#d.storage.observability;
    if (obs.off) return this.#checkoutParsed(p);
    const attributes = () => ({ 'marketkit.listing_id': p.listingId, 'marketkit.quantity': p.quantity });
    return obs.observe('checkout', 'marketkit.checkout', attributes, async (span) => {
      try {
        const order = await this.#checkoutParsed(p);
        span?.setAttributes({ 'marketkit.order_id': order.id, 'marketkit.order_state': order.state });
        obs.metrics?.checkout(order.state);
        return order;
      } catch (error) {
        obs.metrics?.checkout(errorCode(error));
        throw error;
      }
    });
  }

  async #checkoutParsed(p: ParsedCheckout): Promise<Order> {
    // While the provider's breaker is open, a checkout fails fast before it writes anything (no order, no hold).
    this.#d.breaker?.assertAvailable('checkout');
    const key = p.idempotencyKey;
    if (key === undefined) return this.#checkout.run(p.orderId ?? this.#d.ids('ord'), p);
    const request = {
      orderId: p.orderId ?? null,
      listingId: p.listingId,
      quantity: p.quantity,
      paymentMethod: p.paymentMethod,
    };
    const call = { key, actor: p.buyerId, operation: CHECKOUT_OPERATION, request };
    if (this.#checkout.claimsKeys) {
      // The usual case, a fresh key: claimed by the create-order statement itself (no statement of its own), for the
      // key's first order. When that order exists (from a window that expired), the statement writes nothing.
      const orderId = p.orderId ?? keyDerivedId('ord', p.buyerId, key);
      const claim = this.#d.idempotency.prepareClaim(call, keyLockMs(this.#d.pendingOpTimeoutMs));
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
    const orderId = async () => p.orderId ?? (await this.#keyedOrderId(p.buyerId, key));
    return this.#idempotent(call, orderId, (onCommit, id) => this.#checkout.run(id, p, onCommit));
  }

  /**
   * The order `buyerId`'s key names now: its first order, or a new one once the key's window (the idempotency
   * `ttlMs`) has passed since the order the key last named was created: an expired key counts as never used.
   */
  async #keyedOrderId(buyerId: string, key: string): Promise<string> {
    const window = { now: this.#d.clock.now(), ttlMs: this.#d.idempotency.ttlMs };
    return currentKeyDerivedId('ord', buyerId, key, window, async (id) => {
      const row = await this.#d.storage.run((db) =>
        db.selectFrom('orders').select('created_at').where('id', '=', id).executeTakeFirst(),
      );
      return row === undefined ? undefined : toNumber(row.created_at);
    });
  }

  /**
   * Fires transition `name` as `input.actor`. `FORBIDDEN` when the role may not fire it, the actor is not the
   * order's buyer/seller, or it is an engine transition (payment confirmation: only the checkout saga fires it, with
   * the capture it made); `INVALID_TRANSITION` from another state; nothing changes in any of these cases.
   */
  async transition(orderId: string, name: string, input: TransitionInput): Promise<Order> {
    const id = parseInput(orderIdSchema, orderId, 'order id');
    const t = parseInput(transitionNameSchema, name, 'transition name');
    const p = parseInput(transitionInputSchema, input, 'transition input');
    refuseEngineTransition(this.#d.process, t, p.actor);
    const params = { amountMinor: p.amountMinor, buyerPercent: p.buyerPercent };
    const work = async (onCommit?: OnCommit): Promise<Order> =>
      (await this.#transitions.fire(id, t, p.actor, p.reason ?? null, params, onCommit)) ?? (await this.get(id))!;
    if (p.idempotencyKey === undefined) return work();
    const request = { orderId: id, transition: t, reason: p.reason ?? null, ...params };
    const call = { key: p.idempotencyKey, actor: p.actor.id, operation: transitionOperation(t), request };
    return this.#idempotent(call, async () => id, work);
  }

  /**
   * Runs `work` under an idempotency key: a replay returns the order as the first call left it (or rethrows its
   * deterministic error) without running anything; the result is recorded in the same transaction as the
   * operation's last commit, so a crash can never leave the key recorded for work that did not happen.
   */
  async #idempotent(
    call: IdempotentCall,
    orderIdOf: () => Promise<string>,
    work: (onCommit: OnCommit, orderId: string) => Promise<Order>,
  ): Promise<Order> {
    const begun = await this.#d.idempotency.begin<Order>(call, {
      codec: ORDER_CODEC,
      lockMs: keyLockMs(this.#d.pendingOpTimeoutMs),
    });
    if (begun.status === 'replayed') return begun.result;
    const hook = this.#hook(begun.handle);
    try {
      const orderId = await orderIdOf();
      return await this.#recorded(hook, orderId, await work(hook.onCommit, orderId));
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
            query: (p: ParamRef, rowless?: boolean, db?: Kysely<MarketkitDatabase>) =>
              idem.completeQuery(p, rowless, db),
            values: (order: Order) => idem.completeValues(handle, order, { codec: ORDER_CODEC }),
          },
          committed: (order: Order) => {
            hook.recorded = order;
          },
          renew: async (until: number) => {
            return idem.renew(handle, keyLockMs(until - this.#d.clock.now())).then(
              () => true,
              (error: unknown) => {
                if (hasErrorCode(error, 'LEASE_LOST')) return false;
                throw error;
              },
            );
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

  /**
   * An order with its escrow balance.
   *
   * With `actor` (see {@link ReadOptions}: the host authenticates actors and Marketkit authorizes them), the read is
   * that actor's: the order's buyer and seller (by id), any operator and the system get the order; anyone else gets
   * `NOT_FOUND`, exactly the error an order that does not exist gets, so a refusal does not reveal that it exists.
   * Without `actor`, a trusted in-process read: any order, or `undefined` when it does not exist.
   * A malformed id or actor is `VALIDATION_FAILED`. Replica-safe (`eventual`): with read replicas it may lag the
   * primary by the adapter's bound, but shows this instance's own writes; `consistency: 'primary'` reads the primary
   * (see docs/storage.md, "Read replicas").
   *
   * @example
   * ```ts
   * const mine = await market.orders.get(orderId, { actor: { role: 'buyer', id: session.userId } }); // or NOT_FOUND
   * const any = await market.orders.get(orderId); // trusted: host code only
   * ```
   */
  get(orderId: string, options: ReadOptions & { readonly actor: Actor }): Promise<Order>;
  get(orderId: string, options?: ReadOptions): Promise<Order | undefined>;
  async get(orderId: string, options?: ReadOptions): Promise<Order | undefined> {
    const id = parseInput(orderIdSchema, orderId, 'order id');
    const o = parseInput(readOptionsSchema, options, 'read options');
    const actor = o?.actor;
    const order = await this.#d.storage.read((db) => readOrder(db, id, actor), o?.consistency ?? 'eventual');
    if (order === undefined && actor !== undefined) throw orderNotFound(id);
    return order;
  }

  /**
   * Every transition the order went through, oldest first. With `actor`, only for an order that actor may read,
   * as for {@link Orders.get} (`NOT_FOUND` otherwise, and for an order that does not exist); without, a trusted
   * read (`[]` for an order that does not exist). Replica-safe (`eventual`), as {@link Orders.get}.
   */
  async history(orderId: string, options?: ReadOptions): Promise<OrderEvent[]> {
    const id = parseInput(orderIdSchema, orderId, 'order id');
    const o = parseInput(readOptionsSchema, options, 'read options');
    const actor = o?.actor;
    const rows = await this.#d.storage.read(
      async (db) =>
        actor !== undefined && !(await orderReadableBy(db, id, actor))
          ? undefined
          : db.selectFrom('order_events').selectAll().where('order_id', '=', id).orderBy('seq').execute(),
      o?.consistency ?? 'eventual',
    );
    if (rows === undefined) throw orderNotFound(id);
    return rows.map(orderEventFromRow);
  }

  /**
   * Order events in commit order, across every process writing to the database: one page after `after`, for a
   * reader that follows the orders (a live stream, a projection). A page never skips an event that commits later
   * (see migration `0011-order-feed`), so reading on from the page's `cursor` loses and repeats nothing. With
   * `actor`, only the events of orders the actor may read ({@link mayRead}). Replica-safe (`latest`): with read
   * replicas it reads from one that has replayed every commit made before the call (a reader woken by a commit's
   * notification finds it), else from the primary; a standby's snapshot orders commits as the primary's does.
   *
   * @example
   * ```ts
   * let cursor = await market.orders.feedHead();
   * const page = await market.orders.feed({ after: cursor, actor: { role: 'buyer', id: 'ann' } });
   * cursor = page.cursor;
   * ```
   */
  async feed(options?: OrderFeedOptions): Promise<OrderFeedPage> {
    const o = parseInput(orderFeedOptionsSchema, options, 'order feed options') ?? {};
    const caps = this.#d.storage.adapter.capabilities;
    return this.#d.storage.read((db) => readOrderFeed(db, caps, o as OrderFeedOptions), 'latest');
  }

  /**
   * The feed position of the last committed event: {@link Orders.feed} after it returns only newer events.
   * Replica-safe (`latest`), as {@link Orders.feed}.
   */
  async feedHead(): Promise<string> {
    return this.#d.storage.read((db) => orderFeedHead(db, this.#d.storage.adapter.capabilities), 'latest');
  }

  /**
   * Orders still awaiting their payment after their window closed ({@link StuckCheckout}), oldest checkout first, at
   * most `limit` (1 to 1000, default 100; else `VALIDATION_FAILED`): what an operator looks at when checkouts hang.
   * Reads only.
   *
   * @example
   * ```ts
   * for (const s of await market.orders.stuckCheckouts({ limit: 20 })) console.warn(s.orderId, s.state, s.overdueMs);
   * ```
   */
  async stuckCheckouts(options: { readonly limit?: number } = {}): Promise<StuckCheckout[]> {
    const limit = parseRowLimit(options.limit === undefined ? 100 : options.limit, 1000, 'stuckCheckouts limit');
    const now = this.#d.clock.now();
    return this.#d.storage.run((db) => readStuckCheckouts(db, this.#d.process, now, limit));
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
    return this.#d.storage.snapshot((trx) => verifyCheckouts(trx, paymentStates(this.#d.process), captures));
  }

  /**
   * Wakes the checkout of the order that `ref` names (by id, or by its authorization at the provider) while it waits
   * for the customer's action (3-D Secure): its saga runs now, here, if no one holds it, and asks the provider for
   * the authorization's status (capture and confirm when `authorized`; cancel, hold voided and stock released, when
   * `failed` or `canceled`; wait again otherwise). Returns the order as it then stands, `undefined` when no order
   * matches. `market.payments.customerActionCompleted` is the public face.
   * @internal
   */
  async wakeCheckout(
    ref: { readonly orderId: string } | { readonly authorizationId: string },
  ): Promise<Order | undefined> {
    const orderId =
      'orderId' in ref
        ? ref.orderId
        : (
            await this.#d.storage.run((db) =>
              db
                .selectFrom('orders')
                .select('id')
                .where('authorization_id', '=', ref.authorizationId)
                .executeTakeFirst(),
            )
          )?.id;
    return orderId === undefined ? undefined : this.#checkout.wake(orderId);
  }

  /**
   * Fires due time-based transitions (as `system`), at most `limit` per transition (1 to 10,000, else
   * `VALIDATION_FAILED`); returns how many fired. The worker runs this.
   */
  async fireDueTransitions(limit = 100): Promise<number> {
    parseRowLimit(limit, MAX_MAINTENANCE_LIMIT, 'fireDueTransitions limit');
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

/**
 * How long a key's lock lasts: as long as the lease of the work it guards (`pendingOpTimeoutMs`, renewed with it), so
 * a retry after a crash takes the key over as soon as a worker could take the work, within the key limits.
 */
function keyLockMs(leaseMs: number): number {
  return Math.min(IDEMPOTENCY_LIMITS.maxLockMs, Math.max(IDEMPOTENCY_LIMITS.minLockMs, Math.ceil(leaseMs)));
}

/** `FORBIDDEN` for a transition only Marketkit's sagas fire, whoever asks (`system` included). */
function refuseEngineTransition(process: ProcessDefinition, name: string, actor: Actor): void {
  if (!process.transitions.some((t) => t.name === name && t.engine)) return;
  throw new MarketkitError('FORBIDDEN', {
    message: `${name} is fired by Marketkit's checkout saga only, never through orders.transition.`,
    details: { role: actor.role, actorId: actor.id, operation: name },
  });
}
