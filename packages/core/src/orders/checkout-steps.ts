import { type Selectable, sql } from 'kysely';
import { hasErrorCode, isMarketkitError } from '../errors/marketkit-error.js';
import { appendOneEvent } from '../events/outbox-steps.js';
import { accountFlagBits } from '../ledger/ledger-flags.js';
import { LEDGER_LIMITS, MAX_INT64 } from '../ledger/ledger-limits.js';
import { insertProgressAndLog, writeProgressAndLog } from '../sagas/saga-statements.js';
import { toBigInt } from '../storage/int64.js';
import { ParamNames } from '../storage/param-names.js';
import type { StatementRunner, StatementTemplates } from '../storage/statement-template.js';
import type { TransactionOptions } from '../storage/storage.js';
import {
  type CheckoutStatementDeps,
  type ConfirmCommand,
  type CreateOrderCommand,
  createdOrderRow,
  type TakenListing,
} from './checkout-statements.js';
import { type ConfirmPlan, planConfirm } from './confirm-plan.js';
import { orderAccounts } from './escrow.js';
import { escrowAccounts } from './escrow-accounts.js';
import { orderEvent } from './order-outbox-event.js';
import type { OrdersTable } from './order-tables.js';
import type { Order } from './order-types.js';

/** Parameter names of the order accounts' insert, `<column>_<row>`. */
const ACCOUNT_NAMES = new ParamNames(
  ['id', 'owner', 'code', 'currency', 'flags', 'user_data', 'created_at'] as const,
  (_pre, row, column) => `${column}_${row}`,
);

/** Thrown inside a step-by-step transaction when a guard fails: the transaction rolls back, nothing changed. */
class GuardFailed extends Error {}

/** The transaction's connection: every statement here is a template compiled through `storage.db`. */
type Db = StatementRunner;
const LEDGER_ID = /^[\x21-\x7e]+$/;

/**
 * The two write transactions of a checkout for backends without data-modifying CTEs (SQLite, where a statement
 * costs JS, not a round trip): each is the same writes as {@link CheckoutStatements} makes in one statement, run
 * one after another in one transaction, from statement templates compiled once. Every guard is checked as its
 * statement runs; when one fails the transaction rolls back, nothing changed, and the method returns `undefined`
 * so the caller runs the step-by-step transaction of `orders.ts`, which throws the precise error.
 */
export class CheckoutSteps {
  readonly #d: CheckoutStatementDeps;
  readonly #t: StatementTemplates;

  constructor(deps: CheckoutStatementDeps) {
    this.#d = deps;
    this.#t = deps.storage.templates;
  }

  /** See {@link CheckoutStatements.createOrder}; the same rows, statement by statement. */
  async createOrder(c: CreateOrderCommand): Promise<Selectable<OrdersTable> | undefined> {
    return this.#guarded((trx) => this.#create(trx, c), STOCK);
  }

  /** See {@link CheckoutStatements.confirm}; the same rows, statement by statement. */
  async confirm(c: ConfirmCommand): Promise<Order | undefined> {
    const plan = planConfirm(this.#d.escrow, c);
    if (plan === undefined) return undefined;
    return this.#guarded(async (trx) => {
      await this.#confirm(trx, c, plan);
      return plan.result;
    });
  }

  async #guarded<T>(work: (trx: Db) => Promise<T | undefined>, options?: TransactionOptions): Promise<T | undefined> {
    try {
      // All statements on the connection the transaction holds, handed over once rather than per statement.
      return await this.#d.storage.templateTransaction(work, options);
    } catch (error) {
      if (error instanceof GuardFailed) return undefined;
      // The order (or its reservation) exists already: the transaction rolled back, the generic path explains.
      if (isMarketkitError(error) && error.code === 'UNIQUE_VIOLATION') return undefined;
      throw error;
    }
  }

  async #create(trx: Db, c: CreateOrderCommand): Promise<Selectable<OrdersTable> | undefined> {
    if (c.claim !== undefined) {
      const claim = c.claim;
      const insert = this.#t.get('checkout:claim-key', (db, p) => claim.query(p, db) as never);
      // The key has a record: nothing written, `begin` decides. Claimed, it rolls back with any failed guard below.
      if ((await trx.executeQuery(insert.bind(claim.values))).rows.length !== 1) throw new GuardFailed();
    }
    const take = this.#t.get('checkout:take-stock', (db, p) =>
      db
        .updateTable('listings')
        .set({ reserved: sql`reserved + ${p('quantity')}`, updated_at: p('now') })
        .where('id', '=', p('listing_id'))
        .where('status', '=', sql.lit('active'))
        .where(sql<boolean>`quantity - sold - reserved >= ${p('wanted')}`)
        .where('seller_id', '<>', p('buyer_id'))
        .returning(['seller_id', 'price_minor', 'currency']),
    );
    const taken = await trx.executeQuery<TakenListing>(
      take.bind({
        quantity: c.quantity,
        now: c.now,
        listing_id: c.listingId,
        wanted: c.quantity,
        buyer_id: c.buyerId,
      }),
    );
    const listing = taken.rows[0];
    if (listing === undefined) throw new GuardFailed(); // nothing written but the key's claim, which rolls back
    const view = { id: c.orderId, sellerId: listing.seller_id, currency: listing.currency };
    const sellerAccount = escrowAccounts.seller(view.sellerId, view.currency);
    if (sellerAccount.length > LEDGER_LIMITS.maxIdLength || !LEDGER_ID.test(sellerAccount)) throw new GuardFailed();
    // A total past int64: nothing written; the generic transaction refuses it with AMOUNT_NOT_REPRESENTABLE.
    if (toBigInt(listing.price_minor) > MAX_INT64 / BigInt(c.quantity)) throw new GuardFailed();
    const row = createdOrderRow(c, listing);
    const amount = toBigInt(row.amount_minor);
    const reservationId = row.reservation_id;
    await this.#insert(trx, 'stock_reservations', {
      id: reservationId,
      listing_id: c.listingId,
      order_id: c.orderId,
      quantity: c.quantity,
      status: 'active',
      expires_at: c.now + c.reservationMs,
      created_at: c.now,
      updated_at: c.now,
    });
    const order = {
      id: row.id,
      process: row.process,
      state: row.state,
      buyer_id: row.buyer_id,
      seller_id: row.seller_id,
      listing_id: row.listing_id,
      quantity: row.quantity,
      amount_minor: row.amount_minor,
      commission_minor: row.commission_minor,
      currency: row.currency,
      reservation_id: row.reservation_id,
      payment_method: row.payment_method,
      authorization_id: null,
      capture_id: null,
      pending_op: null,
      pending_op_expires_at: null,
      state_entered_at: row.state_entered_at,
      created_at: row.created_at,
      updated_at: row.updated_at,
    };
    const insertOrder = this.#t.get('checkout:insert-order', (db, p) =>
      db.insertInto('orders').values(Object.fromEntries(Object.keys(order).map((k) => [k, p(k)])) as never),
    );
    await trx.executeQuery(insertOrder.bind(order));
    const accounts = orderAccounts(view);
    const insertAccounts = this.#t.get(`checkout:insert-accounts:${accounts.length}`, (db, p) =>
      db
        .insertInto('accounts')
        .values(
          accounts.map((_, i) => ({
            id: p(`id_${i}`),
            owner_id: p(`owner_${i}`),
            code: p(`code_${i}`),
            currency: p(`currency_${i}`),
            flags: p(`flags_${i}`),
            user_data: p(`user_data_${i}`),
            created_at: p(`created_at_${i}`),
          })),
        )
        .onConflict((oc) => oc.column('id').doNothing()),
    );
    const accountValues: Record<string, unknown> = {};
    for (let i = 0; i < accounts.length; i++) {
      const a = accounts[i]!;
      const k = ACCOUNT_NAMES.of('', i);
      accountValues[k.id] = a.id;
      accountValues[k.owner] = a.ownerId ?? null;
      accountValues[k.code] = a.code;
      accountValues[k.currency] = a.currency;
      accountValues[k.flags] = accountFlagBits(a.flags);
      accountValues[k.user_data] = a.userData ?? null;
      accountValues[k.created_at] = c.now;
    }
    await trx.executeQuery(insertAccounts.bind(accountValues));
    const actor = { role: 'buyer', id: c.buyerId } as const;
    await this.#insert(trx, 'order_events', {
      id: `${c.orderId}:1`,
      order_id: c.orderId,
      seq: 1,
      transition: 'checkout',
      from_state: null,
      to_state: c.state,
      actor_role: actor.role,
      actor_id: actor.id,
      reason: null,
      data: JSON.stringify({ quantity: c.quantity, amountMinor: amount.toString() }),
      at: c.now,
    });
    const event = orderEvent(c.orderId, 1, 'checkout', null, c.state, actor, {
      listingId: c.listingId,
      quantity: c.quantity,
      amountMinor: amount,
      currency: view.currency,
    });
    await appendOneEvent(trx, this.#t, event, this.#d.clock, c.now);
    const { start, progress, log } = c.saga;
    if (!(await insertProgressAndLog(trx, this.#d.storage, start, progress, log, c.now))) throw new GuardFailed();
    return row;
  }

  async #confirm(trx: Db, c: ConfirmCommand, plan: ConfirmPlan): Promise<void> {
    const { order, transition: t, now } = c;
    const moved = this.#t.get('checkout:confirm-order', (db, p) =>
      db
        .updateTable('orders')
        .set({
          capture_id: p('capture_id'),
          frozen: p('frozen'),
          state: p('to'),
          state_entered_at: p('now'),
          updated_at: p('now2'),
          pending_op: sql<null>`null`,
          pending_op_expires_at: sql<null>`null`,
          version: p('next_version'),
        })
        .where('id', '=', p('id'))
        .where('state', '=', p('from'))
        .where('version', '=', p('version'))
        .where('pending_op', 'is', sql.lit(null))
        .where('authorization_id', '=', p('authorization_id')),
    );
    await this.#expectOne(
      trx.executeQuery(
        moved.bind({
          capture_id: c.captureId,
          frozen: plan.after.frozen,
          to: t.to,
          now,
          now2: now,
          next_version: plan.after.version,
          id: order.id,
          from: order.state,
          version: order.version,
          authorization_id: order.authorization_id,
        }),
      ),
    );
    await this.#capture(trx, plan);
    for (const event of plan.capture.events) await appendOneEvent(trx, this.#t, event, this.#d.clock, now);
    if (t.effects.includes('markStockSold')) await this.#sell(trx, order.reservation_id, now);
    await this.#insert(trx, 'order_events', {
      id: `${order.id}:${plan.seq}`,
      order_id: order.id,
      seq: plan.seq,
      transition: t.name,
      from_state: order.state,
      to_state: t.to,
      actor_role: c.actor.role,
      actor_id: c.actor.id,
      reason: null,
      data: null,
      at: now,
    });
    await appendOneEvent(trx, this.#t, plan.orderEvent, this.#d.clock, now);
    const { id, version, progress, log } = c.saga;
    // The caller's fence: LEASE_LOST (taken over) rolls the transaction back like a failed guard.
    await writeProgressAndLog(trx, this.#d.storage, id, version, progress, log, now).catch((error: unknown) => {
      throw hasErrorCode(error, 'LEASE_LOST') ? new GuardFailed() : error;
    });
    if (c.complete !== undefined) {
      const complete = c.complete;
      const key = this.#t.get('checkout:complete-key', (db, p) => complete.query(p, true, db) as never);
      await this.#expectOne(trx.executeQuery(key.bind(complete.values(plan.result))));
    }
  }

  /** The capture transfer and both balances, only where the ledger would record it as `ok` whatever the balances. */
  async #capture(trx: Db, plan: ConfirmPlan): Promise<void> {
    const v = plan.capture.values;
    const insert = this.#t.get('checkout:insert-transfer', (db, p) =>
      db
        .insertInto('transfers')
        .values({
          id: p('capture_id'),
          debit_account_id: p('capture_debit'),
          credit_account_id: p('capture_credit'),
          amount: p('capture_amount'),
          currency: p('capture_currency'),
          code: p('capture_code'),
          reference: p('capture_reference'),
          user_data: p('capture_user_data'),
          flags: sql.lit(0),
          pending_id: sql<null>`null`,
          timeout_seconds: sql.lit(0),
          created_at: p('capture_now'),
        })
        .onConflict((oc) => oc.column('id').doNothing()),
    );
    await this.#expectOne(trx.executeQuery(insert.bind(v)));
    const max = sql.lit(MAX_INT64.toString());
    const debit = this.#t.get('checkout:debit-account', (db, p) =>
      db
        .updateTable('accounts')
        .set({ debits_posted: sql`debits_posted + ${p('amount')}`, version: sql`version + 1` })
        .where('id', '=', p('id'))
        .where('currency', '=', p('currency'))
        .where(sql<boolean>`(flags & 1) = 0`)
        .where(sql<boolean>`debits_posted <= cast(${max} as bigint) - debits_pending - ${p('amount2')}`),
    );
    const amount = v['capture_amount'];
    const currency = v['capture_currency'];
    await this.#expectOne(trx.executeQuery(debit.bind({ amount, amount2: amount, id: v['capture_debit'], currency })));
    // Only an empty escrow (so that it holds exactly the capture after): otherwise the generic path computes it.
    const credit = this.#t.get('checkout:credit-empty-account', (db, p) =>
      db
        .updateTable('accounts')
        .set({ credits_posted: sql`credits_posted + ${p('amount')}`, version: sql`version + 1` })
        .where('id', '=', p('id'))
        .where('currency', '=', p('currency'))
        .where(sql<boolean>`(flags & 2) = 0`)
        .where(sql<boolean>`credits_posted <= cast(${max} as bigint) - credits_pending - ${p('amount2')}`)
        .where(sql<boolean>`credits_posted - debits_posted - debits_pending = 0`),
    );
    await this.#expectOne(
      trx.executeQuery(credit.bind({ amount, amount2: amount, id: v['capture_credit'], currency })),
    );
  }

  async #sell(trx: Db, reservationId: string, now: number): Promise<void> {
    const sold = this.#t.get('checkout:sell-reservation', (db, p) =>
      db
        .updateTable('stock_reservations')
        .set({ status: sql.lit('sold'), updated_at: p('now') })
        .where('id', '=', p('id'))
        .where('status', '=', sql.lit('active'))
        .returning(['listing_id', 'quantity']),
    );
    const reservation = await trx.executeQuery<{ listing_id: string; quantity: bigint | number }>(
      sold.bind({ now, id: reservationId }),
    );
    const row = reservation.rows[0];
    if (reservation.rows.length !== 1 || row === undefined) throw new GuardFailed();
    const listing = this.#t.get('checkout:listing-sold', (db, p) =>
      db
        .updateTable('listings')
        .set({ reserved: sql`reserved - ${p('q')}`, sold: sql`sold + ${p('q2')}`, updated_at: p('now') })
        .where('id', '=', p('id')),
    );
    const q = toBigInt(row.quantity);
    await this.#expectOne(trx.executeQuery(listing.bind({ q, q2: q, now, id: row.listing_id })));
  }

  /** Inserts one row into `table` from `values` (always the same columns for one table). */
  async #insert(trx: Db, table: 'stock_reservations' | 'order_events', values: Record<string, unknown>): Promise<void> {
    const template = this.#t.get(`checkout:insert:${table}`, (db, p) =>
      db.insertInto(table).values(Object.fromEntries(Object.keys(values).map((k) => [k, p(k)])) as never),
    );
    await trx.executeQuery(template.bind(values));
  }

  async #expectOne(result: Promise<{ readonly numAffectedRows?: bigint }>): Promise<void> {
    if ((await result).numAffectedRows !== 1n) throw new GuardFailed();
  }
}

/** The create-order transaction reserves stock: its reruns count as stock contention. */
const STOCK: TransactionOptions = Object.freeze({ contended: 'stock' });
