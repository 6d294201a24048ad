import type { Kysely, OperationNodeSource, Selectable } from 'kysely';
import type { Clock } from '../clock/clock.js';
import { isMarketkitError, MarketkitError } from '../errors/marketkit-error.js';
import { parseInput } from '../errors/validation-error.js';
import type { OutboxEventInput } from '../events/event-types.js';
import type { Idempotency } from '../idempotency/idempotency.js';
import type { IdempotentCall } from '../idempotency/idempotency-types.js';
import type { IdFactory } from '../ids/id-factory.js';
import { keyDerivedId } from '../ids/key-derived-id.js';
import { decodeCommission } from '../listings/listing-rows.js';
import type { CommissionRule } from '../listings/listing-types.js';
import { reserveStock, type StockStrategy } from '../listings/stock-store.js';
import type { PaymentProvider } from '../payments/payment-provider.js';
import type { SagaDefinition } from '../sagas/saga-definition.js';
import type { Sagas } from '../sagas/sagas.js';
import type { MarketkitDatabase } from '../schema/database.js';
import { toBigInt } from '../storage/int64.js';
import type { ParamRef, StatementTemplates } from '../storage/statement-template.js';
import type { MarketkitTransaction, Storage } from '../storage/storage.js';
import { CheckoutStatements } from './checkout-statements.js';
import { CheckoutSteps } from './checkout-steps.js';
import { type Escrow, escrowMinor } from './escrow.js';
import { type EscrowVerification, verifyEscrow } from './escrow-verification.js';
import { ORDER_CODEC } from './order-codec.js';
import { type EffectParams, needsProvider, runLocalEffects } from './order-effects.js';
import { checkGuards } from './order-guards.js';
import { orderOpSaga } from './order-op-saga.js';
import { OrderOps, type PendingOp } from './order-ops.js';
import { orderEvent } from './order-outbox-event.js';
import { orderEventFromRow, orderFromRow } from './order-rows.js';
import {
  checkoutSchema,
  orderIdSchema,
  type ParsedCheckout,
  plainCheckoutInput,
  transitionNameSchema,
  transitionSchema,
} from './order-schemas.js';
import { appendOrderEvent, lockOrder, nextEventSeq, sameOrder } from './order-store.js';
import type { OrdersTable } from './order-tables.js';
import type { Actor, CheckoutInput, Order, OrderEvent, TransitionInput } from './order-types.js';
import type { ProcessDefinition, ProcessTransition } from './process/process-definition.js';

/** What the orders engine is built from. */
export interface OrdersDeps {
  readonly storage: Storage;
  readonly clock: Clock;
  readonly ids: IdFactory;
  readonly escrow: Escrow;
  /** The payment provider; throws `VALIDATION_FAILED` when the marketplace was created without one. */
  readonly payments: () => PaymentProvider;
  readonly process: ProcessDefinition;
  readonly commission: CommissionRule;
  readonly stockStrategy: StockStrategy;
  /** How long a transition's provider call may stay in flight before a worker resumes it. */
  readonly pendingOpTimeoutMs: number;
  /** Stripe-style idempotency keys for checkout and transitions. */
  readonly idempotency: Idempotency;
  /** Writes outbox events in the given transaction. */
  readonly emit: (trx: MarketkitTransaction, events: readonly OutboxEventInput[]) => Promise<void>;
  /** The marketplace's sagas (provider-calling transitions run as `marketkit.order-transition`). */
  readonly sagas: () => Sagas;
}

const SYSTEM: Actor = Object.freeze({ role: 'system', id: 'system' });

/** Called inside the last commit of an operation with the order as it commits (records its idempotency key there). */
type OnCommit = ((trx: MarketkitTransaction, order: Order) => Promise<void>) & {
  /** The same write for an operation whose last commit is one statement: its query and its values. */
  readonly statement: {
    readonly query: (p: ParamRef) => OperationNodeSource;
    readonly values: (order: Order) => Record<string, unknown>;
  };
  /** Tells that such a statement committed with `order` recorded. */
  readonly committed: (order: Order) => void;
};

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
  /** Checkout's two write transactions compiled: one statement each (writable CTEs) or templated steps. */
  readonly #compiled: CheckoutStatements | CheckoutSteps;
  readonly #templates: StatementTemplates;
  constructor(deps: OrdersDeps) {
    this.#d = deps;
    this.#compiled = deps.storage.adapter.capabilities.writableCtes
      ? new CheckoutStatements(deps)
      : new CheckoutSteps(deps);
    this.#templates = deps.storage.templates;
    this.#ops = new OrderOps(deps, {
      check: (trx, order, name, actor, params) => this.#check(trx, order, name, actor, params),
      commit: (trx, order, t, actor, reason, params, seq, external) =>
        this.#commit(trx, order, t, actor, reason, params, seq, external),
    });
    this.sagaDefinition = orderOpSaga(this.#ops);
  }

  /**
   * The saga provider-calling transitions run as; the marketplace registers it, so any worker can finish them.
   * @internal
   */
  readonly sagaDefinition: SagaDefinition;
  readonly #ops: OrderOps;

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
    const work = async (onCommit?: OnCommit): Promise<Order> => {
      const row =
        (await this.#createCompiled(orderId, p)) ??
        (await this.#d.storage.transaction((trx) => this.#createOrder(trx, orderId, p), {
          retryUniqueViolations: true,
        }));
      if (row.state !== this.#d.process.initial) return (await this.get(orderId))!;
      return this.#pay(row, onCommit);
    };
    if (p.idempotencyKey === undefined) return work();
    const request = {
      orderId: p.orderId ?? null,
      listingId: p.listingId,
      quantity: p.quantity,
      paymentMethod: p.paymentMethod,
    };
    return this.#idempotent(
      { key: p.idempotencyKey, actor: p.buyerId, operation: 'orders.checkout', request },
      orderId,
      work,
    );
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
      (await this.#fire(id, t, p.actor, p.reason ?? null, params, onCommit)) ?? (await this.get(id))!;
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
    const idem = this.#d.idempotency;
    const begun = await idem.begin<Order>(call, { codec: ORDER_CODEC });
    if (begun.status === 'replayed') return begun.result;
    let recorded: Order | undefined;
    const onCommit: OnCommit = Object.assign(
      async (trx: MarketkitTransaction, order: Order) => {
        await idem.complete(trx, begun.handle, order, { codec: ORDER_CODEC });
        recorded = order;
      },
      {
        statement: {
          query: (p: ParamRef) => idem.completeQuery(p),
          values: (order: Order) => idem.completeValues(begun.handle, order, { codec: ORDER_CODEC }),
        },
        committed: (order: Order) => {
          recorded = order;
        },
      },
    );
    try {
      const order = await work(onCommit);
      if (recorded === undefined) {
        await this.#d.storage.transaction(async (trx) => onCommit(trx, (await readOrder(trx, orderId)) ?? order));
      }
      return recorded ?? order;
    } catch (error) {
      await idem.fail(begun.handle, error);
      throw error;
    }
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

  /**
   * Finishes checkouts that stopped between creating the order and confirming payment (the caller crashed, or
   * the provider failed retryably) once they are older than the in-flight window: authorize and capture are
   * replayed with the same keys, so nothing is charged twice. Checkouts past their reservation are left to the
   * timer, which cancels them. Returns how many were confirmed. The worker runs this.
   */
  async resumeCheckouts(limit = 50): Promise<number> {
    const now = this.#d.clock.now();
    const rows = await this.#d.storage.run((db) =>
      db
        .selectFrom('orders')
        .selectAll()
        .where('state', '=', this.#d.process.initial)
        .where('pending_op', 'is', null)
        .where('created_at', '<=', BigInt(now - this.#d.pendingOpTimeoutMs))
        .where('created_at', '>', BigInt(now - this.#reservationMs()))
        .orderBy('created_at')
        .limit(limit)
        .execute(),
    );
    let confirmed = 0;
    for (const row of rows) {
      try {
        if ((await this.#pay(row)).state !== this.#d.process.initial) confirmed++;
      } catch (error) {
        if (!isMarketkitError(error)) throw error;
      }
    }
    return confirmed;
  }

  async #tryFire(id: string, name: string, actor: Actor, reason: string): Promise<boolean> {
    try {
      await this.#fire(id, name, actor, reason, {});
      return true;
    } catch (error) {
      if (isMarketkitError(error) && (error.retryable || error.code === 'INVALID_TRANSITION')) return false;
      throw error;
    }
  }

  async #createOrder(trx: MarketkitTransaction, orderId: string, p: ParsedCheckout) {
    const listing = await trx.selectFrom('listings').selectAll().where('id', '=', p.listingId).executeTakeFirst();
    if (listing === undefined || listing.seller_id === p.buyerId) {
      const existing = await sameOrder(trx, orderId, p);
      if (existing !== undefined) return existing;
      if (listing === undefined)
        throw new MarketkitError('NOT_FOUND', { message: `Listing ${p.listingId} does not exist.` });
      throw new MarketkitError('FORBIDDEN', { message: 'A seller cannot buy their own listing.' });
    }
    const now = this.#d.clock.now();
    const reservationMs = this.#reservationMs();
    const row = {
      id: orderId,
      process: `${this.#d.process.name}@${this.#d.process.version}`,
      state: this.#d.process.initial,
      buyer_id: p.buyerId,
      seller_id: listing.seller_id,
      listing_id: p.listingId,
      quantity: p.quantity,
      amount_minor: toBigInt(listing.price_minor) * BigInt(p.quantity),
      commission_minor: 0n,
      currency: listing.currency,
      reservation_id: `${orderId}:rsv`,
      payment_method: p.paymentMethod,
      authorization_id: null,
      capture_id: null,
      pending_op: null,
      pending_op_expires_at: null,
      state_entered_at: now,
      created_at: now,
      updated_at: now,
    };
    // The insert tells whether the order exists (a retried checkout): then nothing else is written.
    const inserted = await trx
      .insertInto('orders')
      .values(row)
      .onConflict((oc) => oc.column('id').doNothing())
      .returningAll()
      .executeTakeFirst();
    if (inserted === undefined) {
      const existing = await sameOrder(trx, orderId, p);
      if (existing === undefined) throw new MarketkitError('INTERNAL', { message: `Order ${orderId} vanished.` });
      return existing;
    }
    await reserveStock(
      trx,
      { caps: this.#d.storage.adapter.capabilities, strategy: this.#d.stockStrategy, now },
      { id: `${orderId}:rsv`, listingId: p.listingId, quantity: p.quantity, ttlMs: reservationMs, orderId },
    );
    await this.#d.escrow.openAccounts(trx, { id: orderId, sellerId: listing.seller_id, currency: listing.currency });
    await appendOrderEvent(trx, {
      orderId,
      seq: 1,
      transition: 'checkout',
      from: null,
      to: row.state,
      actor: { role: 'buyer', id: p.buyerId },
      reason: null,
      data: { quantity: p.quantity, amountMinor: row.amount_minor },
      at: now,
    });
    await this.#d.emit(trx, [
      orderEvent(
        orderId,
        1,
        'checkout',
        null,
        row.state,
        { role: 'buyer', id: p.buyerId },
        {
          listingId: p.listingId,
          quantity: p.quantity,
          amountMinor: row.amount_minor,
          currency: row.currency,
        },
      ),
    ]);
    return inserted;
  }

  async #pay(row: Selectable<OrdersTable>, onCommit?: OnCommit): Promise<Order> {
    const payments = this.#d.payments();
    const amountMinor = toBigInt(row.amount_minor);
    let captureId: string;
    let authorizationId = row.authorization_id;
    try {
      if (authorizationId === null) {
        const auth = await payments.authorize({
          idempotencyKey: `${row.id}:authorize`,
          amountMinor,
          currency: row.currency,
          paymentMethod: row.payment_method,
          reference: row.id,
        });
        authorizationId = auth.authorizationId;
        const record = this.#templates.get('orders:record-authorization', (db, p) =>
          db
            .updateTable('orders')
            .set({ authorization_id: p('authorization_id') })
            .where('id', '=', p('id'))
            .where('authorization_id', 'is', null),
        );
        const query = record.bind({ authorization_id: authorizationId, id: row.id });
        await this.#d.storage.run((db) => db.executeQuery(query));
      }
      ({ captureId } = await payments.capture({
        idempotencyKey: `${row.id}:capture`,
        authorizationId,
        amountMinor,
        currency: row.currency,
      }));
    } catch (error) {
      if (isMarketkitError(error) && error.code === 'PAYMENT_DECLINED') {
        await this.#fire(
          row.id,
          'cancelUnpaid',
          { role: 'system', id: 'payments' },
          `payment declined: ${error.message}`,
          {},
        );
      }
      throw error;
    }
    const confirmed = await this.#confirmCompiled({ ...row, authorization_id: authorizationId }, captureId, onCommit);
    if (confirmed !== undefined) return confirmed;
    try {
      const paid = await this.#fire(
        row.id,
        'confirmPayment',
        { role: 'system', id: 'payments' },
        null,
        { captureId },
        onCommit,
      );
      return paid ?? (await this.get(row.id))!;
    } catch (error) {
      // Another caller with the same order id, or a worker resuming this checkout, confirmed it first with the
      // same capture: that is success, not a conflict.
      const current = await this.get(row.id);
      if (!isMarketkitError(error) || error.code !== 'INVALID_TRANSITION' || current?.captureId !== captureId)
        throw error;
      if (onCommit !== undefined) await this.#d.storage.transaction(async (trx) => onCommit(trx, current));
      return current;
    }
  }

  /**
   * The create-order transaction where stock is taken by a guarded update: one statement where the backend has
   * writable CTEs, templated steps in one transaction elsewhere; `undefined` when it wrote nothing (the generic
   * transaction then decides, and explains).
   */
  async #createCompiled(orderId: string, p: ParsedCheckout): Promise<Selectable<OrdersTable> | undefined> {
    if (this.#d.stockStrategy !== 'guardedUpdate') return;
    return this.#compiled.createOrder({
      orderId,
      buyerId: p.buyerId,
      listingId: p.listingId,
      quantity: p.quantity,
      paymentMethod: p.paymentMethod,
      process: `${this.#d.process.name}@${this.#d.process.version}`,
      state: this.#d.process.initial,
      reservationMs: this.#reservationMs(),
      now: this.#d.clock.now(),
    });
  }

  /**
   * The confirm-payment transaction as one statement where the backend has writable CTEs, templated steps in one
   * transaction elsewhere; `undefined` when it changed nothing (the order moved on, the transition is not one it
   * compiles, …: `#fire` then decides).
   */
  async #confirmCompiled(
    order: Selectable<OrdersTable>,
    captureId: string,
    onCommit: OnCommit | undefined,
  ): Promise<Order | undefined> {
    const actor: Actor = { role: 'system', id: 'payments' };
    let transition: ProcessTransition;
    try {
      transition = this.#authorize(order, 'confirmPayment', actor);
    } catch {
      return undefined;
    }
    const now = this.#d.clock.now();
    const done = await this.#compiled.confirm({
      order,
      transition,
      actor,
      captureId,
      now,
      ...(onCommit === undefined ? {} : { complete: onCommit.statement }),
    });
    if (done !== undefined) onCommit?.committed(done);
    return done;
  }

  /**
   * Fires a transition: validation and (if it calls the provider) a busy mark in one commit, the provider calls,
   * then the effects, the new state and the order event in one commit.
   */
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
      const order = await lockOrder(trx, caps, id);
      const { t } = await this.#check(trx, order, name, actor, params);
      // A provider call cannot sit in a transaction: the saga runs it (checked again under its own lock).
      if (needsProvider(t.effects)) return undefined;
      const done = await this.#commit(trx, order, t, actor, reason, params, nextEventSeq(order), {
        refundedMinor: 0n,
      });
      if (onCommit !== undefined) await onCommit(trx, done);
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
    return this.#ops.run(op, this.#d.sagas(), onCommit);
  }

  /**
   * Whether `actor` may fire `name` on the locked `order` now (see `#authorize`) and its guards hold; returns the
   * transition and the escrow balance the guards and provider refunds read (0 when neither needs it).
   */
  async #check(
    trx: MarketkitTransaction,
    order: Selectable<OrdersTable>,
    name: string,
    actor: Actor,
    params: EffectParams,
  ): Promise<{ t: ProcessTransition; escrowMinor: bigint }> {
    const t = this.#authorize(order, name, actor);
    const escrowMinor = needsEscrowBalance(t)
      ? (await this.#d.escrow.balance(trx, { id: order.id, sellerId: order.seller_id, currency: order.currency })).minor
      : 0n;
    checkGuards(t, order, params, escrowMinor);
    return { t, escrowMinor };
  }

  #authorize(order: Selectable<OrdersTable>, name: string, actor: Actor): ProcessTransition {
    if (order.pending_op !== null) {
      // A provider-calling transition holds the order until its saga commits or compensates.
      const op = JSON.parse(order.pending_op) as PendingOp;
      throw new MarketkitError('CONCURRENCY_CONFLICT', {
        message: `Order ${order.id} is busy with ${op.transition}.`,
        details: { orderId: order.id, busyWith: op.transition, sagaId: op.sagaId },
      });
    }
    if (
      (actor.role === 'buyer' && actor.id !== order.buyer_id) ||
      (actor.role === 'seller' && actor.id !== order.seller_id)
    ) {
      throw new MarketkitError('FORBIDDEN', {
        message: `${actor.id} is not the ${actor.role} of order ${order.id}.`,
        details: { role: actor.role },
      });
    }
    const named = this.#d.process.transitions.filter((c) => c.name === name);
    if (named.length === 0)
      throw new MarketkitError('INVALID_TRANSITION', {
        message: `Process ${this.#d.process.name} has no transition ${name}.`,
      });
    const t = named.find((c) => (typeof c.from === 'string' ? c.from === order.state : c.from.includes(order.state)));
    if (!(t ?? named[0]!).actors.includes(actor.role)) {
      throw new MarketkitError('FORBIDDEN', {
        message: `A ${actor.role} may not fire ${name}.`,
        details: { role: actor.role, transition: name },
      });
    }
    if (t === undefined) {
      throw new MarketkitError('INVALID_TRANSITION', {
        message: `Order ${order.id} is ${order.state}; ${name} does not leave it.`,
        details: { state: order.state, transition: name },
      });
    }
    return t;
  }

  async #commit(
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

  #reservationMs(): number {
    const t = this.#d.process.transitions.find(
      (x) =>
        x.afterMs !== undefined &&
        (x.from === this.#d.process.initial || (Array.isArray(x.from) && x.from.includes(this.#d.process.initial))),
    );
    return t?.afterMs ?? 15 * 60 * 1000;
  }
}

/** An order with its escrow balance, read through `db` (a transaction or the pool), or `undefined`. */
async function readOrder(db: Kysely<MarketkitDatabase>, orderId: string): Promise<Order | undefined> {
  const row = await db.selectFrom('orders').selectAll().where('id', '=', orderId).executeTakeFirst();
  return row === undefined ? undefined : orderFromRow(row, await escrowMinor(db, orderId));
}

/** Only guards and provider refunds read the escrow balance before the transition commits. */
function needsEscrowBalance(t: ProcessTransition): boolean {
  return t.guards.includes('refundWithinEscrow') || needsProvider(t.effects);
}
