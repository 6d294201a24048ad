import type { Selectable } from 'kysely';
import { isMarketkitError, MarketkitError } from '../errors/marketkit-error.js';
import { reserveStock } from '../listings/stock-store.js';
import { toBigInt } from '../storage/int64.js';
import type { StatementTemplates } from '../storage/statement-template.js';
import type { MarketkitTransaction } from '../storage/storage.js';
import { CheckoutStatements } from './checkout-statements.js';
import { CheckoutSteps } from './checkout-steps.js';
import type { OnCommit } from './on-commit.js';
import { orderEvent } from './order-outbox-event.js';
import type { ParsedCheckout } from './order-schemas.js';
import { appendOrderEvent, readOrder, sameOrder } from './order-store.js';
import type { OrdersTable } from './order-tables.js';
import type { OrderTransitions } from './order-transitions.js';
import type { Actor, Order } from './order-types.js';
import type { OrdersDeps } from './orders-deps.js';
import type { ProcessTransition } from './process/process-definition.js';

/**
 * A checkout from the order's creation to its confirmed payment: the create-order transaction (compiled where the
 * stock is taken by a guarded update, generic otherwise), authorize and capture with keys derived from the order,
 * then the confirm-payment transaction (compiled where it can be, otherwise `confirmPayment` fired as any
 * transition). A checkout that stopped half-way is resumed with the same keys ({@link resume}).
 * @internal `Orders.checkout` is the public face.
 */
export class CheckoutFlow {
  readonly #d: OrdersDeps;
  readonly #transitions: OrderTransitions;
  /** Checkout's two write transactions compiled: one statement each (writable CTEs) or templated steps. */
  readonly #compiled: CheckoutStatements | CheckoutSteps;
  readonly #templates: StatementTemplates;

  constructor(deps: OrdersDeps, transitions: OrderTransitions) {
    this.#d = deps;
    this.#transitions = transitions;
    this.#compiled = deps.storage.adapter.capabilities.writableCtes
      ? new CheckoutStatements(deps)
      : new CheckoutSteps(deps);
    this.#templates = deps.storage.templates;
  }

  /** Creates order `orderId` (or finds it, for a retried checkout) and takes it through payment. */
  async run(orderId: string, p: ParsedCheckout, onCommit?: OnCommit): Promise<Order> {
    const row =
      (await this.#createCompiled(orderId, p)) ??
      (await this.#d.storage.transaction((trx) => this.#createOrder(trx, orderId, p), {
        retryUniqueViolations: true,
      }));
    if (row.state !== this.#d.process.initial) return (await this.#read(orderId))!;
    return this.#pay(row, onCommit);
  }

  /**
   * Finishes checkouts that stopped between creating the order and confirming payment; see
   * `Orders.resumeCheckouts`.
   */
  async resume(limit: number): Promise<number> {
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
        await this.#transitions.fire(
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
      const paid = await this.#transitions.fire(
        row.id,
        'confirmPayment',
        { role: 'system', id: 'payments' },
        null,
        { captureId },
        onCommit,
      );
      return paid ?? (await this.#read(row.id))!;
    } catch (error) {
      // Another caller with the same order id, or a worker resuming this checkout, confirmed it first with the
      // same capture: that is success, not a conflict.
      const current = await this.#read(row.id);
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
      transition = this.#transitions.authorize(order, 'confirmPayment', actor);
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

  /** How long a checkout holds its stock: the process's timed transition out of its initial state. */
  #reservationMs(): number {
    const t = this.#d.process.transitions.find(
      (x) =>
        x.afterMs !== undefined &&
        (x.from === this.#d.process.initial || (Array.isArray(x.from) && x.from.includes(this.#d.process.initial))),
    );
    return t?.afterMs ?? 15 * 60 * 1000;
  }

  async #read(orderId: string): Promise<Order | undefined> {
    return this.#d.storage.run((db) => readOrder(db, orderId));
  }
}
