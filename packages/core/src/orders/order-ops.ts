import type { Selectable } from 'kysely';
import { MarketkitError } from '../errors/marketkit-error.js';
import { sagaLastError } from '../sagas/saga-error.js';
import type { Sagas } from '../sagas/sagas.js';
import type { MarketkitTransaction } from '../storage/storage.js';
import type { EffectParams } from './order-effects.js';
import { runProviderCalls } from './order-effects.js';
import { ORDER_OP_SAGA, type OrderOp, type OrderOpHold, type OrderOpSteps } from './order-op-saga.js';
import { lockOrder, nextEventSeq } from './order-store.js';
import type { OrdersTable } from './order-tables.js';
import type { Actor, Order } from './order-types.js';
import type { OrdersDeps } from './orders-deps.js';
import type { ProcessTransition } from './process/process-definition.js';

/** The busy mark an order carries while a provider-calling transition runs (`orders.pending_op`, JSON). */
export interface PendingOp {
  readonly transition: string;
  readonly actor: Actor;
  readonly reason: string | null;
  readonly seq: number;
  readonly sagaId: string;
  readonly amountMinor?: string;
  readonly buyerPercent?: number;
}

/**
 * Called inside the transition's last commit with the order as it commits (records an idempotency key); `renew`
 * extends the key's lock along with the saga's lease.
 */
export type OpCommitHook = ((trx: MarketkitTransaction, order: Order) => Promise<void>) & {
  readonly renew?: (until: number) => Promise<boolean>;
};

/** What the orders engine lends the saga's steps. */
export interface OrderOpEngine {
  /**
   * Checks that `actor` may fire `name` from the locked order's state (`FORBIDDEN`, `INVALID_TRANSITION`, busy:
   * `CONCURRENCY_CONFLICT`) and that its guards hold; returns the transition and the escrow balance.
   */
  check(
    trx: MarketkitTransaction,
    order: Selectable<OrdersTable>,
    name: string,
    actor: Actor,
    params: EffectParams,
  ): Promise<{ t: ProcessTransition; escrowMinor: bigint }>;
  /** The transition's local effects, new state, order event and outbox event, in `trx`. */
  commit(
    trx: MarketkitTransaction,
    order: Selectable<OrdersTable>,
    t: ProcessTransition,
    actor: Actor,
    reason: string | null,
    params: EffectParams,
    seq: number,
    external: { refundedMinor: bigint },
  ): Promise<Order>;
}

const paramsOf = (op: OrderOp): EffectParams => ({ amountMinor: op.amountMinor, buyerPercent: op.buyerPercent });

/**
 * Order transitions that call the payment provider, run as the `marketkit.order-transition` saga: its steps
 * ({@link OrderOpSteps}) and the inline run a caller of `orders.transition` waits for.
 * @internal
 */
export class OrderOps implements OrderOpSteps {
  readonly #d: OrdersDeps;
  readonly #engine: OrderOpEngine;
  /** Hooks and results of the runs this process started inline, by saga id (a worker's resumed run has none). */
  readonly #hooks = new Map<string, OpCommitHook>();
  readonly #results = new Map<string, Order>();
  /**
   * Saga ids of the runs this process started inline and still waits on. Only their results are kept: a worker's
   * run of a saga nobody here waits on (a retry after a provider failure) would otherwise leave its order behind.
   */
  readonly #waiting = new Set<string>();

  constructor(deps: OrdersDeps, engine: OrderOpEngine) {
    this.#d = deps;
    this.#engine = engine;
  }

  /**
   * Runs `op` as a saga in this process and resolves to the order it committed. A validation failure of the
   * first step throws and stores nothing; a decline throws `PAYMENT_DECLINED` once the busy mark was cleared; a
   * retryable provider failure throws it while workers retry the saga with backoff.
   */
  async run(op: OrderOp, sagas: Sagas, onCommit?: OpCommitHook): Promise<Order | undefined> {
    const sagaId = `order:${op.orderId}:${this.#d.ids('op')}`;
    if (onCommit !== undefined) this.#hooks.set(sagaId, onCommit);
    this.#waiting.add(sagaId);
    try {
      const renew = onCommit?.renew;
      const outcome = await sagas.run(ORDER_OP_SAGA, op, {
        id: sagaId,
        leaseMs: this.#d.pendingOpTimeoutMs,
        inlineOnly: true,
        ...(renew === undefined ? {} : { onRenew: renew }),
      });
      if (outcome === 'completed') return this.#results.get(sagaId);
      const saga = await sagas.get(sagaId);
      if (saga === undefined) throw new MarketkitError('INTERNAL', { message: `Saga ${sagaId} vanished.` });
      throw sagaLastError(saga);
    } finally {
      this.#hooks.delete(sagaId);
      this.#results.delete(sagaId);
      this.#waiting.delete(sagaId);
    }
  }

  async hold(trx: MarketkitTransaction, op: OrderOp, sagaId: string): Promise<OrderOpHold> {
    const order = await lockOrder(trx, this.#d.storage.adapter.capabilities, op.orderId);
    const { t, escrowMinor } = await this.#engine.check(trx, order, op.transition, op.actor, paramsOf(op));
    const seq = nextEventSeq(order);
    const pending: PendingOp = {
      transition: t.name,
      actor: op.actor,
      reason: op.reason,
      seq,
      sagaId,
      ...(op.amountMinor === undefined ? {} : { amountMinor: op.amountMinor.toString() }),
      ...(op.buyerPercent === undefined ? {} : { buyerPercent: op.buyerPercent }),
    };
    await trx
      .updateTable('orders')
      .set({
        pending_op: JSON.stringify(pending),
        pending_op_expires_at: this.#d.clock.now() + this.#d.pendingOpTimeoutMs,
      })
      .where('id', '=', order.id)
      .execute();
    return { seq, escrowMinor: escrowMinor.toString() };
  }

  async release(trx: MarketkitTransaction, op: OrderOp, hold: OrderOpHold): Promise<void> {
    const order = await lockOrder(trx, this.#d.storage.adapter.capabilities, op.orderId);
    if (!busyWith(order, hold.seq)) return;
    await trx
      .updateTable('orders')
      .set({ pending_op: null, pending_op_expires_at: null })
      .where('id', '=', order.id)
      .execute();
  }

  async callProvider(op: OrderOp, hold: OrderOpHold): Promise<{ refundedMinor: bigint }> {
    const order = await this.#d.storage.run((db) =>
      db.selectFrom('orders').selectAll().where('id', '=', op.orderId).executeTakeFirstOrThrow(),
    );
    if (!busyWith(order, hold.seq)) return { refundedMinor: 0n }; // committed already: nothing left to call
    const t = this.#transition(order, op.transition);
    return runProviderCalls(this.#d.payments(), order, t.effects, paramsOf(op), BigInt(hold.escrowMinor), hold.seq);
  }

  async commit(
    trx: MarketkitTransaction,
    op: OrderOp,
    hold: OrderOpHold,
    refundedMinor: bigint,
    sagaId: string,
  ): Promise<Order | undefined> {
    const order = await lockOrder(trx, this.#d.storage.adapter.capabilities, op.orderId);
    if (!busyWith(order, hold.seq)) return undefined;
    const t = this.#transition(order, op.transition);
    const done = await this.#engine.commit(trx, order, t, op.actor, op.reason, paramsOf(op), hold.seq, {
      refundedMinor,
    });
    await this.#hooks.get(sagaId)?.(trx, done);
    if (this.#waiting.has(sagaId)) this.#results.set(sagaId, done);
    return done;
  }

  /** The transition `name` leaves the order's state by (its state cannot move while it is busy). */
  #transition(order: Selectable<OrdersTable>, name: string): ProcessTransition {
    const t = this.#d.process.transitions.find(
      (c) => c.name === name && (typeof c.from === 'string' ? c.from === order.state : c.from.includes(order.state)),
    );
    if (t === undefined) {
      throw new MarketkitError('INTERNAL', {
        message: `Order ${order.id} is ${order.state}; ${name} does not leave it.`,
      });
    }
    return t;
  }
}

function busyWith(order: Selectable<OrdersTable>, seq: number): boolean {
  return order.pending_op !== null && (JSON.parse(order.pending_op) as PendingOp).seq === seq;
}
