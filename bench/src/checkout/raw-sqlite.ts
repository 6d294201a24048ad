/**
 * Hand-written checkouts on better-sqlite3 (statements prepared once), the baselines of the SQLite row. Same rows
 * as the SDK, same sandbox provider calls.
 * - (a) one statement per write, in the SDK's three transactions (`BEGIN IMMEDIATE` for the two of several
 *   statements, the first of which claims the idempotency key; the authorization record runs alone, in
 *   autocommit);
 * - (b) the same statements in ONE `BEGIN IMMEDIATE` transaction (the in-memory provider is awaited inside it);
 * - (a+saga) (a), and in the same two transactions the checkout saga's record the SDK also writes: the instance
 *   and the `order` step's log entry with the order, the completion and three log entries with the payment;
 * - (a+saga relaxed) (a+saga) with the authorization record committed as the SDK commits it, without waiting for
 *   the disk (`synchronous = NORMAL` around it): the SDK's writes and fsyncs, by hand.
 */
import type { PaymentProvider } from '@marketkit/core';
import { SandboxPaymentProvider } from '@marketkit/testing';
import Database from 'better-sqlite3';
import {
  type CheckoutCall,
  type CheckoutStream,
  claimRow,
  confirmRows,
  createRows,
  type ListingInfo,
  type OutboxDraft,
  type Row,
  sagaCompletionRows,
  sagaStartRows,
  sortKeyBase,
} from './model.js';

/** Opens the file with the adapter's pragmas (WAL, synchronous=FULL by default). */
export function openRawSqlite(file: string): Database.Database {
  const db = new Database(file);
  db.defaultSafeIntegers(true);
  for (const p of ['journal_mode = WAL', 'busy_timeout = 5000', 'foreign_keys = ON', 'synchronous = FULL'])
    db.pragma(p);
  return db;
}

const named = (row: Row) => Object.keys(row).map((k) => `@${k}`);

function prepare(db: Database.Database) {
  const call = { orderId: 'o', buyerId: 'b', listingId: 'l', quantity: 1, paymentMethod: 't', idempotencyKey: 'k' };
  const info = { sellerId: 's', priceMinor: 1, currency: 'USD' };
  const c = createRows(call, info, 0);
  const f = confirmRows(call, info, { authorizationId: 'a', captureId: 'c' }, 0, 0);
  const insert = (table: string, row: Row, tail = '') =>
    db.prepare(`insert into ${table} (${Object.keys(row).join(', ')}) values (${named(row)}) ${tail}`);
  const counter = db.prepare(`insert into mk_outbox_aggregates (aggregate_type, aggregate_id, last_seq, last_key)
    values (?, ?, 1, ?) on conflict (tenant, aggregate_type, aggregate_id) do update
    set last_seq = mk_outbox_aggregates.last_seq + excluded.last_seq,
      last_key = max(excluded.last_key, mk_outbox_aggregates.last_key + excluded.last_seq)
    returning last_seq, last_key`);
  const outbox = insert('mk_outbox_events', { ...c.outbox, seq: 0, sort_key: 0 });
  const saga = sagaStartRows(call, 'w', 0);
  const bump = (column: string) =>
    db.prepare(`update mk_accounts set ${column} = ${column} + ? , version = version + 1 where tenant = '' and id = ?`);
  return {
    claim: insert('mk_idempotency_keys', claimRow(call, 0), 'on conflict do nothing returning attempt'),
    take: db.prepare(`update mk_listings set reserved = reserved + @q, updated_at = @now
      where tenant = '' and id = @id and status = 'active' and quantity - sold - reserved >= @q
      returning seller_id, price_minor, currency`),
    reservation: insert('mk_stock_reservations', c.reservation),
    order: insert('mk_orders', c.order),
    account: insert('mk_accounts', c.accounts[0]!, 'on conflict (tenant, id) do nothing'),
    event: insert('mk_order_events', c.event),
    /** Writes one outbox event: bumps its aggregate's counter, then inserts it with the counter's numbers. */
    emit(d: OutboxDraft) {
      const k = counter.get(d.aggregate_type, d.aggregate_id, sortKeyBase(d.created_at)) as Record<string, bigint>;
      outbox.run({ ...d, seq: k['last_seq'], sort_key: k['last_key'] });
    },
    authorize: db.prepare(
      "update mk_orders set authorization_id = ? where tenant = '' and id = ? and authorization_id is null",
    ),
    paid: db.prepare(`update mk_orders set capture_id = ?, state = 'paid', state_entered_at = ?, updated_at = ?,
      pending_op = null, pending_op_expires_at = null, version = version + 1
      where tenant = '' and id = ? and state = 'checkout' returning id`),
    transfer: insert('mk_transfers', f.transfer),
    debit: bump('debits_posted'),
    credit: bump('credits_posted'),
    sold: db.prepare(`update mk_stock_reservations set status = 'sold', updated_at = ? where tenant = '' and id = ? and status = 'active'
      returning listing_id, quantity`),
    listingSold: db.prepare(
      "update mk_listings set reserved = reserved - ?, sold = sold + ?, updated_at = ? where tenant = '' and id = ?",
    ),
    complete: db.prepare(`update mk_idempotency_keys set status = 'succeeded', result = ?, completed_at = ?,
      lock_token = null, locked_until = null, expires_at = max(created_at + 86400000, ?)
      where tenant = '' and actor = ? and operation = 'orders.checkout' and idempotency_key = ? and status = 'in_progress'`),
    sagaStart: insert('mk_saga_instances', saga.instance, 'on conflict (tenant, id) do nothing'),
    /** One statement per commit's log entries, as the SDK sends them (1 with the order, 3 with the payment). */
    sagaSteps: [1, 3].map((n) => {
      const columns = Object.keys(saga.steps[0]!);
      const row = `(${columns.map(() => '?')})`;
      return db.prepare(`insert into mk_saga_steps (${columns.join(', ')}) values ${Array(n).fill(row).join(', ')}`);
    }),
    sagaDone: db.prepare(`update mk_saga_instances set status = 'completed', step_index = 4, outputs = ?, attempts = 0,
      updated_at = ?, last_error = null, next_run_at = null, lease_owner = null, lease_expires_at = 0
      where tenant = '' and id = ? and version = 1`),
  };
}

/** The raw lanes of the SQLite row. */
export type SqliteRawKind = 'a' | 'b' | 'a+saga' | 'a+saga relaxed';

/** A checkout side on one better-sqlite3 connection: (a) and (a+saga) three transactions, (b) one. */
export function sqliteRawLane(kind: SqliteRawKind, db: Database.Database, stream: CheckoutStream) {
  const st = prepare(db);
  const withSaga = kind.startsWith('a+saga');
  const relaxed =
    kind === 'a+saga relaxed'
      ? { relax: db.prepare('pragma synchronous = NORMAL'), restore: db.prepare('pragma synchronous = FULL') }
      : undefined;
  const worker = `raw-${kind}`;
  const payments: PaymentProvider = new SandboxPaymentProvider();
  const claim = (call: CheckoutCall) => {
    if (call.idempotencyKey === undefined) return;
    if (st.claim.get(claimRow(call, Date.now())) === undefined) throw new Error('raw: key taken');
  };
  const create = (call: CheckoutCall) => {
    claim(call);
    const now = Date.now();
    const l = st.take.get({ q: call.quantity, now, id: call.listingId }) as Record<string, unknown> | undefined;
    if (l === undefined) throw new Error(`raw: listing ${call.listingId} has no stock`);
    const info = {
      sellerId: String(l['seller_id']),
      priceMinor: Number(l['price_minor']),
      currency: String(l['currency']),
    };
    const r = createRows(call, info, now);
    st.reservation.run(r.reservation);
    st.order.run(r.order);
    for (const a of r.accounts) st.account.run(a);
    st.event.run(r.event);
    st.emit(r.outbox);
    if (withSaga) {
      const saga = sagaStartRows(call, worker, now);
      if (st.sagaStart.run(saga.instance).changes !== 1) throw new Error('raw: saga exists');
      st.sagaSteps[0]!.run(saga.steps.flatMap((row) => Object.values(row)));
    }
    return { info, at: now };
  };
  const confirm = (call: CheckoutCall, info: ListingInfo, ids: Ids, createdAt: number) => {
    const now = Date.now();
    const r = confirmRows(call, info, ids, createdAt, now);
    if (st.paid.get(r.captureId, now, now, call.orderId) === undefined) throw new Error('raw: order not in checkout');
    st.transfer.run(r.transfer);
    st.debit.run(r.amount, r.clearing);
    st.credit.run(r.amount, r.escrow);
    st.emit(r.outbox[0]);
    const rsv = st.sold.get(now, `${call.orderId}:rsv`) as Record<string, bigint> | undefined;
    if (rsv === undefined) throw new Error('raw: reservation not active');
    st.listingSold.run(rsv['quantity'], rsv['quantity'], now, call.listingId);
    st.event.run(r.event);
    st.emit(r.outbox[1]);
    if (withSaga) {
      const saga = sagaCompletionRows(call, worker, ids, now);
      if (st.sagaDone.run(saga.outputs, now, `checkout:${call.orderId}`).changes !== 1) throw new Error('raw: saga');
      st.sagaSteps[1]!.run(saga.steps.flatMap((row) => Object.values(row)));
    }
    if (call.idempotencyKey !== undefined) st.complete.run(r.result, now, now, call.buyerId, call.idempotencyKey);
  };
  const authorize = (call: CheckoutCall, id: string) => {
    if (relaxed === undefined) return st.authorize.run(id, call.orderId);
    relaxed.relax.run();
    try {
      return st.authorize.run(id, call.orderId);
    } finally {
      relaxed.restore.run();
    }
  };
  const [createTx, confirmTx] = [db.transaction(create), db.transaction(confirm)];
  return {
    name: `raw (${kind})`,
    async run() {
      const call = stream.next();
      if (kind !== 'b') {
        const { info, at } = createTx.immediate(call);
        const ids = await pay(payments, call, info, (id) => authorize(call, id));
        confirmTx.immediate(call, info, ids, at);
        return;
      }
      db.exec('begin immediate');
      try {
        const { info, at } = create(call);
        const ids = await pay(payments, call, info, (id) => authorize(call, id));
        confirm(call, info, ids, at);
        db.exec('commit');
      } catch (error) {
        db.exec('rollback');
        throw error;
      }
    },
  };
}

interface Ids {
  readonly authorizationId: string;
  readonly captureId: string;
}

async function pay(payments: PaymentProvider, call: CheckoutCall, l: ListingInfo, record: (id: string) => unknown) {
  const amountMinor = BigInt(l.priceMinor * call.quantity);
  const { authorizationId } = await payments.authorize({
    idempotencyKey: `${call.orderId}:authorize`,
    amountMinor,
    currency: l.currency,
    paymentMethod: call.paymentMethod,
    reference: call.orderId,
  });
  record(authorizationId);
  const { captureId } = await payments.capture({
    idempotencyKey: `${call.orderId}:capture`,
    authorizationId,
    amountMinor,
    currency: l.currency,
  });
  return { authorizationId, captureId };
}
