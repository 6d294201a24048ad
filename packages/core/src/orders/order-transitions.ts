import type { Selectable } from 'kysely';
import { MarketkitError } from '../errors/marketkit-error.js';
import { decodeCommission } from '../listings/listing-rows.js';
import type { CommissionRule } from '../listings/listing-types.js';
import { toBigInt } from '../storage/int64.js';
import type { MarketkitTransaction } from '../storage/storage.js';
import { escrowMinor } from './escrow.js';
import type { OnCommit } from './on-commit.js';
import { type EffectParams, needsProvider, runLocalEffects } from './order-effects.js';
import { checkGuards } from './order-guards.js';
import { type OrderOpEngine, OrderOps, type PendingOp } from './order-ops.js';
import { orderEvent } from './order-outbox-event.js';
import { orderFromRow } from './order-rows.js';
import { appendOrderEvent, lockOrder, nextEventSeq, orderBusy } from './order-store.js';
import type { OrdersTable } from './order-tables.js';
import type { Actor, Order } from './order-types.js';
import type { OrdersDeps } from './orders-deps.js';
import type { ProcessTransition } from './process/process-definition.js';

/**
 * Transitions of the declared process: who may fire what (`FORBIDDEN`, `INVALID_TRANSITION`), guards, and the
 * commit of effects, new state, order event and outbox event in one transaction. A transition that calls the
 * payment provider is handed to {@link OrderOps}, which runs it as the `marketkit.order-transition` saga.
 * @internal `Orders` is the public face.
 */
export class OrderTransitions implements OrderOpEngine {
  readonly #d: OrdersDeps;
  /** The provider-calling transitions, as sagas. */
  readonly ops: OrderOps;

  constructor(deps: OrdersDeps) {
    this.#d = deps;
    this.ops = new OrderOps(deps, this);
  }

  /**
   * Fires a transition: validation and (if it calls the provider) a busy mark in one commit, the provider calls,
   * then the effects, the new state and the order event in one commit.
   */
  async fire(
    id: string,
    name: string,
    actor: Actor,
    reason: string | null,
    params: EffectParams,
    onCommit?: OnCommit,
  ): Promise<Order | undefined> {
    const obs = this.#d.storage.observability;
    if (obs.off) return this.#fire(id, name, actor, reason, params, onCommit);
    const attributes = () => ({
      'marketkit.order_id': id,
      'marketkit.transition': name,
      'marketkit.actor_role': actor.role,
    });
    return obs.observe('transition', 'marketkit.transition', attributes, () =>
      this.#fire(id, name, actor, reason, params, onCommit),
    );
  }

  async #fire(
    id: string,
    name: string,
    actor: Actor,
    reason: string | null,
    params: EffectParams,
    onCommit?: OnCommit,
  ): Promise<Order | undefined> {
    const storage = this.#d.storage;
    const caps = storage.adapter.capabilities;
    const direct = await storage.transaction(async (trx) => {
      const done = await this.fireLocked(trx, await lockOrder(trx, caps, id), name, actor, reason, params);
      if (done !== undefined && onCommit !== undefined) await onCommit(trx, done);
      return done;
    });
    if (direct !== undefined) return direct;
    const op = {
      orderId: id,
      transition: name,
      actor,
      reason,
      ...(params.amountMinor === undefined ? {} : { amountMinor: params.amountMinor }),
      ...(params.buyerPercent === undefined ? {} : { buyerPercent: params.buyerPercent }),
    };
    return this.ops.run(op, this.#d.sagas(), onCommit);
  }

  /**
   * Fires `name` on the locked `order` in `trx` when it calls no provider: checks, effects, new state, order event
   * and outbox event. `undefined` (nothing done) when it calls the provider, which only a saga may do.
   */
  async fireLocked(
    trx: MarketkitTransaction,
    order: Selectable<OrdersTable>,
    name: string,
    actor: Actor,
    reason: string | null,
    params: EffectParams,
  ): Promise<Order | undefined> {
    const { t } = await this.check(trx, order, name, actor, params);
    // A provider call cannot sit in a transaction: the saga runs it (checked again under its own lock).
    if (needsProvider(t.effects)) return undefined;
    return this.commit(trx, order, t, actor, reason, params, nextEventSeq(order), { refundedMinor: 0n });
  }

  /**
   * Whether `actor` may fire `name` on the locked `order` now (see {@link authorize}) and its guards hold; returns the
   * transition and the escrow balance the guards and provider refunds read (0 when neither needs it).
   */
  async check(
    trx: MarketkitTransaction,
    order: Selectable<OrdersTable>,
    name: string,
    actor: Actor,
    params: EffectParams,
  ): Promise<{ t: ProcessTransition; escrowMinor: bigint }> {
    const t = this.authorize(order, name, actor);
    const escrowMinor = needsEscrowBalance(t)
      ? (await this.#d.escrow.balance(trx, { id: order.id, sellerId: order.seller_id, currency: order.currency })).minor
      : 0n;
    checkGuards(t, order, params, escrowMinor);
    return { t, escrowMinor };
  }

  authorize(order: Selectable<OrdersTable>, name: string, actor: Actor): ProcessTransition {
    if (order.pending_op !== null) {
      // A provider-calling transition holds the order until its saga commits or compensates.
      const op = JSON.parse(order.pending_op) as PendingOp;
      throw orderBusy(order, `Order ${order.id} is busy with ${op.transition}.`);
    }
    if (
      (actor.role === 'buyer' && actor.id !== order.buyer_id) ||
      (actor.role === 'seller' && actor.id !== order.seller_id)
    ) {
      throw new MarketkitError('FORBIDDEN', {
        message: `${actor.id} is not the ${actor.role} of order ${order.id}.`,
        details: { role: actor.role, actorId: actor.id, operation: name },
      });
    }
    const named = this.#d.process.transitions.filter((c) => c.name === name);
    if (named.length === 0)
      throw new MarketkitError('INVALID_TRANSITION', {
        message: `Process ${this.#d.process.name} has no transition ${name}.`,
        details: { resource: 'order', id: order.id, state: order.state, transition: name },
      });
    const t = named.find((c) => (typeof c.from === 'string' ? c.from === order.state : c.from.includes(order.state)));
    if (!(t ?? named[0]!).actors.includes(actor.role)) {
      throw new MarketkitError('FORBIDDEN', {
        message: `A ${actor.role} may not fire ${name}.`,
        details: { role: actor.role, actorId: actor.id, operation: name },
      });
    }
    if (t === undefined) {
      throw new MarketkitError('INVALID_TRANSITION', {
        message: `Order ${order.id} is ${order.state}; ${name} does not leave it.`,
        details: { resource: 'order', id: order.id, state: order.state, transition: name },
      });
    }
    return t;
  }

  async commit(
    trx: MarketkitTransaction,
    order: Selectable<OrdersTable>,
    t: ProcessTransition,
    actor: Actor,
    reason: string | null,
    params: EffectParams,
    seq: number,
    external: { refundedMinor: bigint },
  ): Promise<Order> {
    const now = this.#d.clock.now();
    const paysSeller = t.effects.includes('releaseToSeller') || t.effects.includes('resolveSplit');
    const rule = paysSeller ? await this.#commissionRule(trx, order.listing_id) : this.#d.commission;
    const local = await runLocalEffects(
      { trx, escrow: this.#d.escrow, order, rule, params, seq, now, external },
      t.effects,
    );
    const changes = {
      ...local.patch,
      state: t.to,
      state_entered_at: BigInt(now),
      updated_at: BigInt(now),
      pending_op: null,
      pending_op_expires_at: null,
      version: BigInt(Number(order.version) + 1),
    };
    await trx.updateTable('orders').set(changes).where('id', '=', order.id).execute();
    const data: Record<string, unknown> = {};
    if (params.amountMinor !== undefined) data['amountMinor'] = params.amountMinor;
    if (params.buyerPercent !== undefined) data['buyerPercent'] = params.buyerPercent;
    await appendOrderEvent(trx, {
      orderId: order.id,
      seq,
      transition: t.name,
      from: order.state,
      to: t.to,
      actor,
      reason,
      data: Object.keys(data).length === 0 ? null : data,
      at: now,
    });
    await this.#d.emit(trx, [orderEvent(order.id, seq, t.name, order.state, t.to, actor, data)]);
    // The order as `get()` would read it now: the locked row with the changes, and the escrow balance.
    const after = { ...order, ...changes, frozen: toBigInt(changes.frozen ?? order.frozen) };
    return orderFromRow(after, local.escrowMinor ?? (await escrowMinor(trx, order.id)));
  }

  async #commissionRule(trx: MarketkitTransaction, listingId: string): Promise<CommissionRule> {
    const row = await trx.selectFrom('listings').select('commission').where('id', '=', listingId).executeTakeFirst();
    return row?.commission == null ? this.#d.commission : decodeCommission(row.commission);
  }
}

/** Only guards and provider refunds read the escrow balance before the transition commits. */
function needsEscrowBalance(t: ProcessTransition): boolean {
  return t.guards.includes('refundWithinEscrow') || needsProvider(t.effects);
}
