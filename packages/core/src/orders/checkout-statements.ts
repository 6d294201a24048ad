import { type Kysely, type OperationNodeSource, type RawBuilder, type Selectable, sql } from 'kysely';
import type { Clock } from '../clock/clock.js';
import { isMarketkitError } from '../errors/marketkit-error.js';
import { outboxCtes, outboxValues } from '../events/outbox-ctes.js';
import { accountFlagBits } from '../ledger/ledger-flags.js';
import { LEDGER_LIMITS, MAX_INT64 } from '../ledger/ledger-limits.js';
import { postedTransferCtes } from '../ledger/posted-transfer-ctes.js';
import { sagaInsertCtes, sagaInsertValues, sagaProgressCtes, sagaProgressValues } from '../sagas/saga-ctes.js';
import type { SagaProgress, SagaStart, StepLogRow } from '../sagas/saga-store.js';
import type { MarketkitDatabase } from '../schema/database.js';
import { CheckedStatement, type StatementCheck, statementValues } from '../storage/checked-statement.js';
import { toBigInt } from '../storage/int64.js';
import { ParamNames } from '../storage/param-names.js';
import type { ParamRef } from '../storage/statement-template.js';
import type { Storage } from '../storage/storage.js';
import { TENANT } from '../storage/tenant-plugin.js';
import { planConfirm } from './confirm-plan.js';
import { type Escrow, orderAccounts } from './escrow.js';
import { escrowAccounts } from './escrow-accounts.js';
import type { OnCommit } from './on-commit.js';
import { orderEvent } from './order-outbox-event.js';
import type { OrdersTable } from './order-tables.js';
import type { Actor, Order } from './order-types.js';
import type { ProcessTransition } from './process/process-definition.js';

/** What the checkout statements need. */
export interface CheckoutStatementDeps {
  readonly storage: Storage;
  readonly clock: Clock;
  readonly escrow: Escrow;
}

/** A new order, as the create statement writes it. */
export interface CreateOrderCommand {
  readonly orderId: string;
  readonly buyerId: string;
  readonly listingId: string;
  readonly quantity: number;
  readonly paymentMethod: string;
  /** `<process name>@<version>`. */
  readonly process: string;
  /** The process's initial state. */
  readonly state: string;
  readonly reservationMs: number;
  readonly now: number;
  /** The checkout saga, inserted with the order (its `order` step done, under the caller's lease). */
  readonly saga: CreateSagaWrite;
  /**
   * The idempotency key's claim, made by the same statement: the order is written only when it claimed the key,
   * and the key is claimed only when the order is written. Its query (built with placeholders) returns one row
   * when it inserted the record.
   */
  readonly claim?: {
    readonly query: (p: ParamRef, db?: Kysely<MarketkitDatabase>) => OperationNodeSource;
    readonly values: Readonly<Record<string, unknown>>;
  };
}

/** The checkout saga's insert, as the create statement writes it. */
export interface CreateSagaWrite {
  readonly start: SagaStart;
  readonly progress: SagaProgress;
  readonly log: readonly StepLogRow[];
}

/** The checkout saga's fenced completion, as the confirm statement writes it. */
export interface ConfirmSagaWrite {
  readonly id: string;
  /** The fencing token the caller holds: the statement changes nothing when the saga was taken over. */
  readonly version: bigint;
  readonly progress: SagaProgress;
  readonly log: readonly StepLogRow[];
}

/** What taking the stock returns of the listing: all the order row needs besides the command. */
export interface TakenListing {
  readonly seller_id: string;
  readonly price_minor: bigint | number;
  readonly currency: string;
}

/**
 * The row a compiled create-order writes, as the database holds it (the columns it leaves to their defaults at
 * their defaults of migration 0008: nothing refunded, not frozen, version 0).
 */
export function createdOrderRow(c: CreateOrderCommand, listing: TakenListing): Selectable<OrdersTable> {
  return {
    id: c.orderId,
    process: c.process,
    state: c.state,
    buyer_id: c.buyerId,
    seller_id: listing.seller_id,
    listing_id: c.listingId,
    quantity: BigInt(c.quantity),
    amount_minor: toBigInt(listing.price_minor) * BigInt(c.quantity),
    commission_minor: 0n,
    currency: listing.currency,
    reservation_id: `${c.orderId}:rsv`,
    payment_method: c.paymentMethod,
    authorization_id: null,
    capture_id: null,
    customer_action: null,
    refunded_minor: 0n,
    frozen: 0n,
    pending_op: null,
    pending_op_expires_at: null,
    state_entered_at: BigInt(c.now),
    version: 0n,
    created_at: BigInt(c.now),
    updated_at: BigInt(c.now),
  };
}

/** A confirmation of payment, as the confirm statement writes it. */
export interface ConfirmCommand {
  /** The order as it stands (the statement checks it still does: state, version, no operation in flight). */
  readonly order: Selectable<OrdersTable>;
  readonly transition: ProcessTransition;
  readonly actor: Actor;
  readonly captureId: string;
  readonly now: number;
  readonly saga: ConfirmSagaWrite;
  /** The idempotency key's completion: its query (built with placeholders) and its values for the result. */
  readonly complete?: OnCommit['statement'];
}

// Stand-ins for values only the statement knows (the listing's seller and currency, the amount), replaced in SQL.
// Spaces cannot occur in order or ledger ids, so an order id never contains them.
const SELLER = ' seller ';
const CURRENCY = ' currency ';
const AMOUNT = ' amount ';

/** Parameter names of the order accounts' rows, `account_<i>_<column>`. */
const ACCOUNT_NAMES = new ParamNames(
  ['id', 'owner', 'code', 'flags'] as const,
  (name, row, column) => `${name}_${row}_${column}`,
);

/**
 * The two write transactions of a checkout, each as ONE statement ({@link CheckedStatement}: data-modifying CTEs,
 * sent alone) for backends with `capabilities.writableCtes`. Each writes exactly the rows the step-by-step
 * transaction in `orders.ts` writes, and only when every guard of that transaction holds; otherwise it changes
 * nothing and returns `undefined`, and the caller runs the step-by-step transaction, which throws the precise
 * error (or, when the world changed in between, succeeds). Statements are compiled once per shape.
 */
export class CheckoutStatements {
  readonly #d: CheckoutStatementDeps;
  readonly #create = new Map<string, CheckedStatement>();
  readonly #confirm = new Map<string, CheckedStatement>();

  constructor(deps: CheckoutStatementDeps) {
    this.#d = deps;
  }

  /**
   * Creates an order in one statement: takes the stock with a guarded update of the listing (active, enough
   * units, not the buyer's own, no order with this id yet), then from its returned row inserts the reservation, the
   * order, the order's ledger accounts that do not exist yet, order event 1 and the `order.checkout` outbox event.
   * When the guard fails nothing is written; a concurrent insert of the same order id makes the statement fail and
   * roll back. Returns the order row, or `undefined` when it wrote nothing.
   */
  async createOrder(c: CreateOrderCommand): Promise<Selectable<OrdersTable> | undefined> {
    const logEntries = c.saga.log.length;
    const claim = c.claim;
    const key = `${logEntries}:${claim !== undefined}`;
    let statement = this.#create.get(key);
    if (statement === undefined) {
      statement = new CheckedStatement(this.#d.storage, (p) => this.#createShape(p, logEntries, claim?.query));
      this.#create.set(key, statement);
    }
    const accounts = orderAccounts({ id: c.orderId, sellerId: SELLER, currency: CURRENCY });
    const event = orderEvent(
      c.orderId,
      1,
      'checkout',
      null,
      c.state,
      { role: 'buyer', id: c.buyerId },
      {
        listingId: c.listingId,
        quantity: c.quantity,
        amountMinor: '0',
        currency: '',
      },
    );
    const values: Record<string, unknown> = statementValues(
      {
        order_id: c.orderId,
        buyer_id: c.buyerId,
        listing_id: c.listingId,
        quantity: c.quantity,
        payment_method: c.paymentMethod,
        process: c.process,
        state: c.state,
        now: c.now,
        expires_at: c.now + c.reservationMs,
        reservation_id: `${c.orderId}:rsv`,
        event_id: `${c.orderId}:1`,
        event_data: JSON.stringify({ quantity: c.quantity, amountMinor: AMOUNT }),
        seller_account: escrowAccounts.seller(SELLER, CURRENCY),
      },
      outboxValues('ob', [event], this.#d.clock, c.now),
      sagaInsertValues('sg', c.saga.start, c.saga.progress, c.saga.log, c.now),
      claim?.values ?? {},
    );
    accounts.forEach((a, i) => {
      const k = ACCOUNT_NAMES.of('account', i);
      values[k.id] = a.id;
      values[k.owner] = a.ownerId ?? null;
      values[k.code] = a.code;
      values[k.flags] = accountFlagBits(a.flags);
    });
    try {
      const out = await statement.run<TakenListing>(values, STOCK);
      // With a claim the statement has a check, so an empty result reads as one row of nulls.
      const listing = out.ok ? out.rows[0] : undefined;
      return listing === undefined || listing.seller_id === null ? undefined : createdOrderRow(c, listing);
    } catch (error) {
      // Another caller inserted the same order (or its reservation) first: the statement rolled back.
      if (isMarketkitError(error) && error.code === 'UNIQUE_VIOLATION') return undefined;
      throw error;
    }
  }

  #createShape(p: ParamRef, sagaLogEntries: number, claim: ((p: ParamRef) => OperationNodeSource) | undefined) {
    const big = (value: unknown) => sql`cast(${value} as bigint)`;
    const q = big(p('quantity'));
    const now = big(p('now'));
    const fill = (text: unknown, seller: RawBuilder<unknown>, currency: RawBuilder<unknown>) =>
      sql`replace(replace(cast(${text} as text), ${sql.lit(CURRENCY)}, ${currency}), ${sql.lit(SELLER)}, ${seller})`;
    const sellerAccount = fill(p('seller_account'), sql`seller_id`, sql`currency`);
    const accounts = orderAccounts({ id: '', sellerId: SELLER, currency: CURRENCY }).map(
      (_, i) =>
        sql`(${fill(p(`account_${i}_id`), sql`l.seller_id`, sql`l.currency`)},
          ${fill(p(`account_${i}_owner`), sql`l.seller_id`, sql`l.currency`)},
          ${big(p(`account_${i}_code`))}, ${big(p(`account_${i}_flags`))})`,
    );
    const amount = sql`l.price_minor * ${q}`;
    const ctes = [
      sql`l as (
        update ${sql.table('listings')} set reserved = reserved + ${q}, updated_at = ${now}
        where tenant = ${TENANT} and id = ${p('listing_id')} and status = 'active' and quantity - sold - reserved >= ${q}
          and price_minor <= ${sql.raw(MAX_INT64.toString())} / ${q}
          and seller_id <> ${p('buyer_id')}
          and length(${sellerAccount}) <= ${sql.lit(LEDGER_LIMITS.maxIdLength)} and ${sellerAccount} !~ '[^!-~]'
          and not exists (select 1 from ${sql.table('orders')} where tenant = ${TENANT} and id = ${p('order_id')})
          ${claim === undefined ? sql`` : sql`and exists (select 1 from kc)`}
        returning seller_id, price_minor, currency)`,
      sql`rsv as (
        insert into ${sql.table('stock_reservations')} (tenant, id, listing_id, order_id, quantity, status, expires_at,
          created_at, updated_at)
        select ${TENANT}, ${p('reservation_id')}, ${p('listing_id')}, ${p('order_id')}, ${q}, 'active', ${big(p('expires_at'))},
          ${now}, ${now}
        from l
        returning id)`,
      sql`o as (
        insert into ${sql.table('orders')} (tenant, id, process, state, buyer_id, seller_id, listing_id, quantity, amount_minor,
          commission_minor, currency, reservation_id, payment_method, authorization_id, capture_id, pending_op,
          pending_op_expires_at, state_entered_at, created_at, updated_at)
        select ${TENANT}, ${p('order_id')}, ${p('process')}, ${p('state')}, ${p('buyer_id')}, l.seller_id, ${p('listing_id')}, ${q},
          ${amount}, 0, l.currency, ${p('reservation_id')}, ${p('payment_method')}, null, null, null, null,
          ${now}, ${now}, ${now}
        from l
        returning id)`,
      // Only the accounts that do not exist: an INSERT … ON CONFLICT of an existing, hot account (clearing) would
      // wait for the row lock of every capture in flight.
      sql`acc as (
        insert into ${sql.table('accounts')} (tenant, id, owner_id, code, currency, flags, user_data, created_at)
        select ${TENANT}, v.id, v.owner_id, v.code, l.currency, v.flags, null, ${now}
        from l cross join lateral (values ${sql.join(accounts)}) as v(id, owner_id, code, flags)
        where not exists (select 1 from ${sql.table('accounts')} x where x.tenant = ${TENANT} and x.id = v.id)
        on conflict (tenant, id) do nothing)`,
      sql`ev as (
        insert into ${sql.table('order_events')} (tenant, id, order_id, seq, transition, from_state, to_state,
          actor_role, actor_id, reason, data, at)
        select ${TENANT}, ${p('event_id')}, ${p('order_id')}, 1, 'checkout', null, ${p('state')}, 'buyer', ${p('buyer_id')}, null,
          replace(cast(${p('event_data')} as text), ${sql.lit(AMOUNT)}, cast(${amount} as text)), ${now}
        from l)`,
      ...outboxCtes(p, {
        name: 'ob',
        merges: [sql`jsonb_build_object('amountMinor', cast(${amount} as text), 'currency', l.currency)`],
        jsonType: this.#d.storage.adapter.columnTypes.json,
        from: 'l',
      }),
      ...sagaInsertCtes(p, this.#d.storage, { name: 'sg', logEntries: sagaLogEntries, from: 'l' }),
    ];
    // Every write selects from `l`, so when its guard fails the statement writes nothing else and returns no row.
    // It returns the listing's row, from which the order row is known. A key claim comes first (`l` waits for it);
    // claimed without an order, the statement rolls back: the key is claimed exactly when the order is written.
    if (claim === undefined) return { ctes, checks: [], result: 'l' };
    return {
      ctes: [sql`kc as (${claim(p)})`, ...ctes],
      checks: [{ name: 'key claimed with the order', ok: sql`(select count(*) from kc) = (select count(*) from l)` }],
      result: 'l',
    };
  }

  /**
   * Confirms a captured payment in one statement: the order moves to the transition's target (only if it is still
   * in the state, at the version, the caller read, with no operation in flight), the capture into escrow is
   * recorded through the ledger's compiled transfer (only where its outcome cannot depend on balances) with its
   * outbox event, the reservation is sold, the order event and its outbox event are written, and the idempotency
   * key records the result. Returns the order as `get()` will read it, or `undefined` when the statement changed
   * nothing (a check failed, or the transition has effects it does not compile).
   */
  async confirm(c: ConfirmCommand): Promise<Order | undefined> {
    const plan = planConfirm(this.#d.escrow, c);
    if (plan === undefined) return undefined;
    const { order, transition: t, now } = c;
    const sells = t.effects.includes('markStockSold');
    const events = [...plan.capture.events, plan.orderEvent];
    const key = `${sells}:${c.complete !== undefined}:${events.length}:${c.saga.log.length}`;
    let statement = this.#confirm.get(key);
    if (statement === undefined) {
      const shape = { sells, events: events.length, complete: c.complete, saga: c.saga };
      statement = new CheckedStatement(this.#d.storage, (p) => this.#confirmShape(p, shape));
      this.#confirm.set(key, statement);
    }
    const values = statementValues(
      {
        order_id: order.id,
        new_capture_id: c.captureId,
        frozen: plan.after.frozen,
        to: t.to,
        from: order.state,
        now,
        version: order.version,
        next_version: plan.after.version,
        authorization_id: order.authorization_id,
        escrow_id: escrowAccounts.escrow(order.id),
        amount: plan.amount.toString(),
        event_id: `${order.id}:${plan.seq}`,
        seq: plan.seq,
        transition: t.name,
        actor_role: c.actor.role,
        actor_id: c.actor.id,
        reservation_id: order.reservation_id,
      },
      plan.capture.values,
      outboxValues('ob', events, this.#d.clock, now),
      c.complete === undefined ? {} : c.complete.values(plan.result),
      sagaProgressValues('sg', c.saga.id, c.saga.version, c.saga.progress, c.saga.log, now),
    );
    const out = await statement.run(values);
    return out.ok ? plan.result : undefined;
  }

  #confirmShape(
    p: ParamRef,
    shape: {
      readonly sells: boolean;
      readonly events: number;
      readonly complete: ConfirmCommand['complete'];
      readonly saga: ConfirmSagaWrite;
    },
  ) {
    const { sells, events, complete, saga } = shape;
    const big = (value: unknown) => sql`cast(${value} as bigint)`;
    const now = big(p('now'));
    const capture = postedTransferCtes(p, 'capture');
    const ctes: RawBuilder<unknown>[] = [
      sql`o as (
        update ${sql.table('orders')} set capture_id = ${p('new_capture_id')}, frozen = ${big(p('frozen'))}, state = ${p('to')},
          state_entered_at = ${now}, updated_at = ${now}, pending_op = null, pending_op_expires_at = null,
          version = ${big(p('next_version'))}
        where tenant = ${TENANT} and id = ${p('order_id')} and state = ${p('from')} and version = ${big(p('version'))} and pending_op is null
          and authorization_id = ${p('authorization_id')}
        returning id)`,
      ...capture.ctes,
      sql`ev as (
        insert into ${sql.table('order_events')} (tenant, id, order_id, seq, transition, from_state, to_state,
          actor_role, actor_id, reason, data, at)
        values (${TENANT}, ${p('event_id')}, ${p('order_id')}, ${big(p('seq'))}, ${p('transition')}, ${p('from')}, ${p('to')},
          ${p('actor_role')}, ${p('actor_id')}, null, null, ${now})
        returning id)`,
      ...outboxCtes(p, {
        name: 'ob',
        merges: Array.from({ length: events }, () => undefined),
        jsonType: this.#d.storage.adapter.columnTypes.json,
      }),
    ];
    const checks: StatementCheck[] = [
      { name: 'order unchanged since read', ok: sql`(select count(*) from o) = 1` },
      ...capture.checks,
      {
        name: 'escrow held nothing before the capture',
        ok: sql`(select credits_posted - debits_posted - debits_pending from ${sql.id(capture.accounts)}
          where id = ${p('escrow_id')}) = ${big(p('amount'))}`,
      },
    ];
    if (sells) {
      ctes.push(
        sql`rsv as (
          update ${sql.table('stock_reservations')} set status = 'sold', updated_at = ${now}
          where tenant = ${TENANT} and id = ${p('reservation_id')} and status = 'active'
          returning listing_id, quantity)`,
        sql`li as (
          update ${sql.table('listings')} as li set reserved = li.reserved - rsv.quantity,
            sold = li.sold + rsv.quantity, updated_at = ${now}
          from rsv where li.tenant = ${TENANT} and li.id = rsv.listing_id
          returning li.id)`,
      );
      checks.push(
        { name: 'reservation active', ok: sql`(select count(*) from rsv) = 1` },
        { name: 'listing sold', ok: sql`(select count(*) from li) = 1` },
      );
    }
    ctes.push(
      ...sagaProgressCtes(p, this.#d.storage, { name: 'sg', logEntries: saga.log.length, progress: saga.progress }),
    );
    checks.push({ name: 'checkout saga still held', ok: sql`(select count(*) from sg) = 1` });
    if (complete !== undefined) {
      ctes.push(sql`k as (${complete.query(p)})`);
      checks.push({ name: 'idempotency key still held', ok: sql`(select count(*) from k) = 1` });
    }
    return { ctes, checks };
  }
}

/** The create-order statement reserves stock: its reruns count as stock contention. */
const STOCK = Object.freeze({ contended: 'stock' as const });
