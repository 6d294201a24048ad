import { type Selectable, sql } from 'kysely';
import { hasErrorCode, MarketkitError } from '../errors/marketkit-error.js';
import type { OutboxEventInput } from '../events/event-types.js';
import { CHECKOUT_OPERATION } from '../idempotency/keyed-operations.js';
import { reserveStock } from '../listings/stock-store.js';
import { int64Amount } from '../money/int64-amount.js';
import { orderPaymentKeys } from '../payments/order-payment-keys.js';
import type { Authorization } from '../payments/payment-provider.js';
import { toBigInt } from '../storage/int64.js';
import type { StatementTemplates } from '../storage/statement-template.js';
import type { MarketkitTransaction } from '../storage/storage.js';
import {
  type AuthorizeOutput,
  type CaptureOutput,
  type CheckoutCompensation,
  type CheckoutSagaInput,
  type CheckoutSagaSteps,
  checkoutSagaId,
} from './checkout-saga.js';
import { CustomerActionWait } from './customer-action-wait.js';
import type { OnCommit } from './on-commit.js';
import { type PaymentReversal, voidOrRefundCapture } from './order-effects.js';
import { orderEvent } from './order-outbox-event.js';
import type { ParsedCheckout } from './order-schemas.js';
import { appendOrderEvent, lockOrder, orderBusy, sameOrder } from './order-store.js';
import type { OrdersTable } from './order-tables.js';
import type { OrderTransitions } from './order-transitions.js';
import type { Actor, Order } from './order-types.js';
import type { OrdersDeps } from './orders-deps.js';
import { awaitsPayment } from './process/customer-action-state.js';
import { reservationWindowMs } from './process/reservation-window.js';

/** The actor a checkout's own transitions are fired as. */
export const PAYMENTS: Actor = Object.freeze({ role: 'system', id: 'payments' });

/**
 * The work of the `marketkit.checkout` saga's steps ({@link CheckoutSagaSteps}), for whichever process runs them:
 * the generic create-order transaction, the provider calls with keys derived from the order, the confirmation and
 * the compensation. `CheckoutFlow`'s hot path calls the same provider helpers.
 * @internal
 */
export class CheckoutSagaWork implements CheckoutSagaSteps {
  readonly #d: OrdersDeps;
  readonly #transitions: OrderTransitions;
  readonly #templates: StatementTemplates;
  /** Hooks and results of the checkouts this process runs inline, by saga id (a worker's run has none). */
  readonly hooks = new Map<string, OnCommit>();
  readonly results = new Map<string, Order>();
  /**
   * Saga ids of the checkouts this process runs inline, with how many callers wait on each. A result is kept only
   * for them: a worker's run of a saga no caller here waits on (a retry after a provider failure, one resumed after
   * a crash) would leave its order in `results` for good, since only a waiting caller deletes it.
   */
  readonly waiting = new Map<string, number>();

  readonly #customer: CustomerActionWait;

  constructor(deps: OrdersDeps, transitions: OrderTransitions) {
    this.#d = deps;
    this.#transitions = transitions;
    this.#templates = deps.storage.templates;
    this.#customer = new CustomerActionWait(deps, transitions, PAYMENTS);
  }

  async create(trx: MarketkitTransaction, input: CheckoutSagaInput): Promise<void> {
    await this.#createOrder(trx, input.orderId, input);
  }

  async authorize(input: CheckoutSagaInput): Promise<AuthorizeOutput> {
    const row = await this.#row(input.orderId);
    if (!awaitsPayment(this.#d.process, row.state)) {
      // Left checkout without a recorded authorization (cancelled, or its reservation expired): an earlier attempt
      // may have authorized unseen (an error after it went through, or a crash), and whatever cancelled the order
      // could not void what it did not know. Replaying the key learns it (or authorizes now); either way, void it.
      if (row.authorization_id === null && row.capture_id === null)
        await this.#reverseUnrecorded(row, undefined, checkoutSagaId(row.id));
      throw noLongerUnpaid(row);
    }
    // Waiting for the customer: the provider says whether the hold is capturable yet (never an event's word).
    if (row.state === this.#customer.state && row.authorization_id !== null)
      return { authorizationId: await this.#customer.poll(row) };
    return { authorizationId: row.authorization_id ?? (await this.authorizeRow(row)) };
  }

  async capture(input: CheckoutSagaInput, authorizationId: string): Promise<CaptureOutput> {
    return { captureId: await this.captureRow(await this.#row(input.orderId), authorizationId) };
  }

  async confirm(trx: MarketkitTransaction, input: CheckoutSagaInput, captureId: string, sagaId: string) {
    const order = await lockOrder(trx, this.#d.storage.adapter.capabilities, input.orderId);
    if (order.capture_id === captureId) return; // confirmed already, by another run of this saga
    if (!awaitsPayment(this.#d.process, order.state)) throw noLongerUnpaid(order);
    const done = await this.#transitions.fireLocked(trx, order, 'confirmPayment', PAYMENTS, null, { captureId });
    if (done === undefined) throw new MarketkitError('INTERNAL', { message: 'confirmPayment calls the provider.' });
    await this.hooks.get(sagaId)?.(trx, done);
    if (this.waiting.has(sagaId)) this.results.set(sagaId, done);
  }

  async cancel(
    input: CheckoutSagaInput,
    sagaId: string,
    outputs: Readonly<Record<string, unknown>>,
  ): Promise<CheckoutCompensation> {
    let order = await this.#row(input.orderId);
    let cancelled = false;
    if (awaitsPayment(this.#d.process, order.state)) {
      try {
        await this.#transitions.fire(input.orderId, 'cancelUnpaid', PAYMENTS, `checkout ${sagaId} compensated`, {});
        cancelled = true;
      } catch (error) {
        // Moved on meanwhile (a party cancelled it, or its reservation expired): what moved it did so.
        if (!hasErrorCode(error, 'INVALID_TRANSITION')) throw error;
      }
      order = await this.#row(input.orderId);
    }
    // The order accounts for the capture (it was confirmed by another run): nothing is left at the provider.
    if (order.capture_id !== null) return { cancelled, reversal: null };
    // Nothing the order records may stay at the provider: reverse this checkout's authorization (or its capture).
    const known = (outputs['authorize'] as AuthorizeOutput | undefined)?.authorizationId ?? order.authorization_id;
    const reversal = await this.#reverseUnrecorded(order, known ?? undefined, sagaId);
    return { cancelled, reversal: reversal === null ? null : jsonReversal(reversal) };
  }

  /** The create-order transaction, step by step: stock, order, escrow accounts, order event 1, outbox event. */
  async #createOrder(trx: MarketkitTransaction, orderId: string, p: ParsedCheckout) {
    const listing = await trx.selectFrom('listings').selectAll().where('id', '=', p.listingId).executeTakeFirst();
    if (listing === undefined || listing.seller_id === p.buyerId) {
      const existing = await sameOrder(trx, orderId, p);
      if (existing !== undefined) return existing;
      if (listing === undefined)
        throw new MarketkitError('NOT_FOUND', {
          message: `Listing ${p.listingId} does not exist.`,
          details: { resource: 'listing', id: p.listingId },
        });
      throw new MarketkitError('FORBIDDEN', {
        message: 'A seller cannot buy their own listing.',
        details: { role: 'buyer', actorId: p.buyerId, operation: CHECKOUT_OPERATION },
      });
    }
    const now = this.#d.clock.now();
    const reservationMs = this.reservationMs();
    const row = {
      id: orderId,
      process: `${this.#d.process.name}@${this.#d.process.version}`,
      state: this.#d.process.initial,
      buyer_id: p.buyerId,
      seller_id: listing.seller_id,
      listing_id: p.listingId,
      quantity: p.quantity,
      amount_minor: int64Amount(toBigInt(listing.price_minor) * BigInt(p.quantity), listing.currency, 'order total'),
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

  /**
   * Authorizes the order's payment (key `<order>:authorize`) and records the authorization on the order, only while
   * the order still awaits payment and no provider-calling transition (a cancel) holds it, so that a cancel either
   * sees the authorization and voids it or the checkout does. An order cancelled meanwhile gets the authorization
   * voided here and `INVALID_TRANSITION`; an order a cancel holds, `CONCURRENCY_CONFLICT` (retryable: the retry
   * finds the order cancelled, or free again). When the provider answers that the customer must act (3-D Secure),
   * the order moves to the customer-action state with the authorization and the action recorded, and this throws
   * {@link StepNotReady}: the saga waits for the customer (see {@link CustomerActionWait}).
   */
  async authorizeRow(row: Selectable<OrdersTable>): Promise<string> {
    const auth = await this.#authorizeAtProvider(row);
    const authorizationId = auth.authorizationId;
    if (auth.customerAction !== undefined) {
      if (await this.#customer.enter(row, auth)) throw this.#customer.firstWait(row.id);
      return this.#unrecorded(row, authorizationId);
    }
    // Not waiting for the disk: if a power cut loses the record, the saga (durable since the order's commit) replays
    // the authorization by its key and records it again; the confirm's commit makes it durable anyway. Where the
    // backend relaxes a commit from inside the write (PostgreSQL), the record carries that condition itself.
    const relax = this.#d.storage.relaxedCondition;
    const record = this.#templates.get(`orders:record-authorization:${relax ?? ''}`, (db, p) => {
      const update = db
        .updateTable('orders')
        .set({ authorization_id: p('authorization_id') })
        .where('id', '=', p('id'))
        .where('state', '=', p('state'))
        .where('authorization_id', 'is', null)
        .where('pending_op', 'is', null);
      return relax === undefined ? update : update.where(sql.raw<boolean>(relax));
    });
    const query = record.bind({ authorization_id: authorizationId, id: row.id, state: this.#d.process.initial });
    const result = await this.#d.storage.runRelaxed((conn) => conn.executeQuery(query));
    if (result.numAffectedRows !== 0n) return authorizationId;
    return this.#unrecorded(row, authorizationId);
  }

  /** `authorizationId` could not be recorded on `row`: another run did, a cancel holds the order, or it moved on. */
  async #unrecorded(row: Selectable<OrdersTable>, authorizationId: string): Promise<string> {
    const now = await this.#row(row.id);
    if (now.authorization_id === authorizationId) {
      // Another run of the saga recorded it; one that moved the order to wait for the customer asks the provider.
      if (now.state === this.#customer.state) return this.#customer.poll(now);
      return authorizationId;
    }
    if (now.state === this.#d.process.initial && now.authorization_id === null) {
      throw orderBusy(now, `Order ${row.id} is busy with another transition; its authorization is recorded on retry.`);
    }
    await this.#reverseUnrecorded(now, authorizationId, checkoutSagaId(row.id));
    throw noLongerUnpaid(now);
  }

  /**
   * Voids the checkout's authorization `known`, or the one its key `<order>:authorize` finds (a replay: a declined one
   * leaves nothing to void), or refunds its capture when it went through, with the keys derived from the order; says
   * so in an `order.paymentReversed` event. `null` when the provider holds nothing for this checkout.
   */
  async #reverseUnrecorded(
    row: Selectable<OrdersTable>,
    known: string | undefined,
    sagaId: string,
  ): Promise<PaymentReversal | null> {
    let authorizationId = known;
    if (authorizationId === undefined) {
      try {
        authorizationId = (await this.#authorizeAtProvider(row)).authorizationId;
      } catch (error) {
        if (hasErrorCode(error, 'PAYMENT_DECLINED')) return null;
        throw error;
      }
    }
    const reversal = await voidOrRefundCapture(
      this.#d.payments(),
      row,
      authorizationId,
      orderPaymentKeys.checkoutRefund(row.id),
    );
    await this.#d.storage.transaction((trx) => this.#d.emit(trx, [reversalEvent(row, reversal, sagaId)]));
    return reversal;
  }

  async #authorizeAtProvider(row: Selectable<OrdersTable>): Promise<Authorization> {
    return this.#d.payments().authorize({
      idempotencyKey: orderPaymentKeys.authorize(row.id),
      amountMinor: toBigInt(row.amount_minor),
      currency: row.currency,
      paymentMethod: row.payment_method,
      reference: row.id,
    });
  }

  /** Captures the authorization (key `<order>:capture`). */
  async captureRow(row: Selectable<OrdersTable>, authorizationId: string): Promise<string> {
    const { captureId } = await this.#d.payments().capture({
      idempotencyKey: orderPaymentKeys.capture(row.id),
      authorizationId,
      amountMinor: toBigInt(row.amount_minor),
      currency: row.currency,
    });
    return captureId;
  }

  /** The order row, which a step of its saga knows exists. */
  async #row(orderId: string): Promise<Selectable<OrdersTable>> {
    const row = await this.#d.storage.run((db) =>
      db.selectFrom('orders').selectAll().where('id', '=', orderId).executeTakeFirst(),
    );
    if (row === undefined)
      throw new MarketkitError('NOT_FOUND', {
        message: `Order ${orderId} does not exist.`,
        details: { resource: 'order', id: orderId },
      });
    return row;
  }

  /** How long a checkout holds its stock: see {@link reservationWindowMs}. */
  reservationMs(): number {
    return reservationWindowMs(this.#d.process);
  }
}

/** The error a step throws when the order is no longer awaiting payment (cancelled meanwhile, say). */
function noLongerUnpaid(order: Selectable<OrdersTable>): MarketkitError {
  return new MarketkitError('INVALID_TRANSITION', {
    message: `Order ${order.id} is ${order.state}; its checkout cannot go on.`,
    details: { resource: 'order', id: order.id, state: order.state, transition: 'confirmPayment' },
  });
}

/** A reversal as the saga log stores it (amounts as decimal strings). */
function jsonReversal(r: PaymentReversal): CheckoutCompensation['reversal'] {
  return { ...r, amountMinor: r.amountMinor.toString() };
}

/**
 * `order.paymentReversed`: money the provider held for a checkout that its order does not record (an authorization
 * voided, or a capture refunded in full), reversed by the checkout saga with keys derived from the order.
 */
function reversalEvent(row: Selectable<OrdersTable>, r: PaymentReversal, sagaId: string): OutboxEventInput {
  return {
    type: 'order.paymentReversed',
    aggregateType: 'order',
    aggregateId: row.id,
    payload: { orderId: row.id, state: row.state, currency: row.currency, sagaId, ...r },
  };
}
