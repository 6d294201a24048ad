/**
 * Hand-written checkouts on pg, the baselines of the PostgreSQL rows. Both write exactly the rows the SDK writes,
 * in the same three transactions (claim the idempotency key, take stock and create the order; record the
 * authorization; capture into escrow and mark paid), and call the same sandbox provider in between.
 * - (a) one statement per write: `BEGIN`, a statement per row written (the four order accounts as one
 *   `INSERT … ON CONFLICT DO NOTHING`), `COMMIT`; a transaction of one statement is sent alone (autocommit).
 * - (b) as few round trips as hand-written SQL allows: each transaction is one statement (data-modifying CTEs).
 * - (b+named) (b) with its three statements named: prepared once per connection, so PostgreSQL may keep a generic
 *   plan after five runs, as it does for the SDK's statement templates. It shares the SDK's pool, whose adapter
 *   discards every connection's cached plans every `replanAfterMs`: the same re-planning applies to both.
 * - (b+named relaxed) (b+named) with the authorization's record committed as the SDK commits it on PostgreSQL:
 *   `synchronous_commit` off for that one statement (`set_config` in its `where`), the like-for-like rival.
 * - (b+named+saga relaxed) (b+named relaxed) that also writes the checkout saga's record the SDK writes, in the same
 *   two statements (the instance and the order step's log entry with the order; the instance's completion, fenced by
 *   its version, and three log entries with the payment): a hand-written checkout with the SDK's guarantees.
 * (a) and (b) send unnamed statements, parsed and planned on every run, as hand-written node-postgres code does
 * (see the README on named statements).
 */
import { performance } from 'node:perf_hooks';
import type { PaymentProvider } from '@marketkit/core';
import { SandboxPaymentProvider } from '@marketkit/testing';
import type pg from 'pg';
import type { StatementStats } from '../statement-stats.js';
import {
  type CheckoutCall,
  type CheckoutStream,
  type ConfirmRows,
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

type Client = pg.Pool | pg.PoolClient;

const TRANSACTION_CONTROL: ReadonlySet<string> = new Set(['begin', 'commit', 'rollback']);

const cols = (row: Row) => Object.keys(row).join(', ');
const params = (row: Row, from = 1) => Object.keys(row).map((_, i) => `$${i + from}`);
const insert = (table: string, row: Row) => `insert into ${table} (${cols(row)}) values (${params(row)})`;

const COUNTER = `insert into mk_outbox_aggregates (aggregate_type, aggregate_id, last_seq, last_key)
  values ($1, $2, 1, $3) on conflict (tenant, aggregate_type, aggregate_id) do update
  set last_seq = mk_outbox_aggregates.last_seq + excluded.last_seq,
    last_key = greatest(excluded.last_key, mk_outbox_aggregates.last_key + excluded.last_seq)
  returning last_seq, last_key`;
const COUNTER_UPDATE = `on conflict (tenant, aggregate_type, aggregate_id) do update
  set last_seq = mk_outbox_aggregates.last_seq + excluded.last_seq,
    last_key = greatest(excluded.last_key, mk_outbox_aggregates.last_key + excluded.last_seq)`;
const OUTBOX_COLUMNS = 'id, aggregate_type, aggregate_id, seq, partition_no, sort_key, type, payload, created_at';
const COMPLETE_KEY = `update mk_idempotency_keys set status = 'succeeded', result = $1, completed_at = $2,
  lock_token = null, locked_until = null, expires_at = greatest(created_at + 86400000, $2)
  where tenant = '' and actor = $3 and operation = 'orders.checkout' and idempotency_key = $4 and status = 'in_progress'`;

/** The hand-written sides of the PostgreSQL rows. */
export type RawKind = 'a' | 'b' | 'b+named' | 'b+named relaxed' | 'b+named+saga relaxed';

/** A checkout side on pg; `stats` gets every statement under a readable label. */
export function postgresRawLane(
  kind: RawKind,
  pool: pg.Pool,
  stats: StatementStats,
  stream: CheckoutStream,
): { name: string; run(): Promise<void> } {
  const payments = new SandboxPaymentProvider();
  /** (b+named): each text's name, as a hand-writer would give it (one per statement, in first-use order). */
  const names = new Map<string, string>();
  const named = (text: string) => {
    const prefix = kind === 'b+named' ? 'b' : kind === 'b+named relaxed' ? 'br' : 'bs';
    if (!names.has(text)) names.set(text, `raw_${prefix}_${names.size}`);
    return names.get(text)!;
  };
  const q = async (c: Client, label: string, text: string, values: unknown[] = []) => {
    const t0 = performance.now();
    try {
      const res =
        kind.startsWith('b+named') && !TRANSACTION_CONTROL.has(text)
          ? await c.query({ name: named(text), text, values })
          : await c.query(text, values);
      stats.record(label, performance.now() - t0);
      return res.rows as Record<string, unknown>[];
    } catch (error) {
      stats.record(label, performance.now() - t0);
      stats.recordError(error);
      throw error;
    }
  };
  const tx = async <T>(fn: (c: pg.PoolClient) => Promise<T>): Promise<T> => {
    for (let attempt = 1; ; attempt++) {
      const c = await pool.connect();
      try {
        await q(c, 'begin', 'begin');
        const out = await fn(c);
        await q(c, 'commit', 'commit');
        return out;
      } catch (error) {
        await q(c, 'rollback', 'rollback').catch(() => {});
        const code = (error as { code?: unknown }).code;
        if (attempt >= 8 || (code !== '40001' && code !== '40P01')) throw error;
      } finally {
        c.release();
      }
    }
  };
  /** One statement: its own transaction (autocommit), retried like the SDK retries. */
  const one = async (label: string, text: string, values: unknown[]) => {
    for (let attempt = 1; ; attempt++) {
      try {
        return await q(pool, label, text, values);
      } catch (error) {
        const code = (error as { code?: unknown }).code;
        if (attempt >= 8 || (code !== '40001' && code !== '40P01')) throw error;
      }
    }
  };
  const saga = kind === 'b+named+saga relaxed';
  const create = kind === 'a' ? createA : saga ? createWithSaga : createB;
  const confirm = kind === 'a' ? confirmA : saga ? confirmWithSaga : confirmB;
  return {
    name: `raw (${kind})`,
    async run() {
      const call = stream.next();
      const created = await create(call, q, tx, one);
      const ids = await pay(payments, call, created.info, one, kind.endsWith('relaxed'));
      await confirm(call, confirmRows(call, created.info, ids, created.at, Date.now()), q, tx, one);
    },
  };
}

type Q = (c: Client, label: string, text: string, values?: unknown[]) => Promise<Record<string, unknown>[]>;
type Tx = <T>(fn: (c: pg.PoolClient) => Promise<T>) => Promise<T>;
type One = (label: string, text: string, values: unknown[]) => Promise<Record<string, unknown>[]>;
interface Created {
  readonly info: ListingInfo;
  readonly at: number;
}

/**
 * The order's four accounts, inserting only those that do not exist yet. The `not exists` filter matters: an
 * `INSERT … ON CONFLICT DO NOTHING` of an existing row waits for any transaction that updated it, and the clearing
 * account is updated by every capture, so a plain upsert here deadlocks with the confirmations under contention.
 */
const ACCOUNT_TYPES = ['text', 'text', 'int8', 'text', 'int8', 'text', 'int8'];
const INSERT_ACCOUNTS = `insert into mk_accounts (id, owner_id, code, currency, flags, user_data, created_at)
  select * from (values ${[0, 1, 2, 3].map((r) => `(${ACCOUNT_TYPES.map((t, i) => `$${r * 7 + i + 1}::${t}`)})`)})
    v(id, owner_id, code, currency, flags, user_data, created_at)
  where not exists (select 1 from mk_accounts a where a.tenant = '' and a.id = v.id)
  on conflict (tenant, id) do nothing`;

const TAKE = `update mk_listings set reserved = reserved + $1, updated_at = $2
  where tenant = '' and id = $3 and status = 'active' and quantity - sold - reserved >= $1
  returning seller_id, price_minor, currency`;

const infoOf = (r: Record<string, unknown> | undefined, call: CheckoutCall): ListingInfo => {
  if (r === undefined) throw new Error(`raw: listing ${call.listingId} has no stock`);
  return { sellerId: String(r['seller_id']), priceMinor: Number(r['price_minor']), currency: String(r['currency']) };
};

const RECORD_AUTHORIZATION =
  "update mk_orders set authorization_id = $1 where tenant = '' and id = $2 and authorization_id is null";
const RECORD_AUTHORIZATION_RELAXED = `${RECORD_AUTHORIZATION} and set_config('synchronous_commit', 'off', true) = 'off'`;

/** Authorize, record the authorization (its own one-statement transaction, as the SDK), capture. */
async function pay(payments: PaymentProvider, call: CheckoutCall, l: ListingInfo, one: One, relaxed: boolean) {
  const amountMinor = BigInt(l.priceMinor * call.quantity);
  const { authorizationId } = await payments.authorize({
    idempotencyKey: `${call.orderId}:authorize`,
    amountMinor,
    currency: l.currency,
    paymentMethod: call.paymentMethod,
    reference: call.orderId,
  });
  await one('update orders (authorization)', relaxed ? RECORD_AUTHORIZATION_RELAXED : RECORD_AUTHORIZATION, [
    authorizationId,
    call.orderId,
  ]);
  const { captureId } = await payments.capture({
    idempotencyKey: `${call.orderId}:capture`,
    authorizationId,
    amountMinor,
    currency: l.currency,
  });
  return { authorizationId, captureId };
}

async function insertOutbox(c: Client, q: Q, d: OutboxDraft, counter: Record<string, unknown> | undefined) {
  if (counter === undefined) throw new Error('raw: outbox counter upsert returned no row');
  await q(
    c,
    'insert outbox_events',
    `insert into mk_outbox_events (${OUTBOX_COLUMNS}) values ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
    [
      d.id,
      d.aggregate_type,
      d.aggregate_id,
      counter['last_seq'],
      d.partition_no,
      counter['last_key'],
      d.type,
      d.payload,
      d.created_at,
    ],
  );
}

// ---------------------------------------------------------------------------------------------------------------
// (a): one statement per write

/** The key's claim, as a statement of the create transaction (a), or as a CTE of the create statement (b). */
const CLAIM_COLUMNS = Object.keys(
  claimRow({ orderId: '', buyerId: '', listingId: '', quantity: 1, paymentMethod: '', idempotencyKey: '' }, 0),
);
const claimSql = (from: number, types = false) =>
  `insert into mk_idempotency_keys (${CLAIM_COLUMNS.join(', ')})
    values (${CLAIM_COLUMNS.map((c, i) => `$${i + from}${types ? `::${CLAIM_TYPES[c]}` : ''}`).join(', ')})
    on conflict (tenant, actor, operation, idempotency_key) do nothing returning attempt`;
const CLAIM_TYPES: Record<string, string> = {
  actor: 'text',
  operation: 'text',
  idempotency_key: 'text',
  fingerprint: 'text',
  status: 'text',
  result: 'text',
  lock_token: 'text',
  locked_until: 'int8',
  attempt: 'int8',
  created_at: 'int8',
  completed_at: 'int8',
  expires_at: 'int8',
};

async function createA(call: CheckoutCall, q: Q, tx: Tx, _one: One): Promise<Created> {
  return tx(async (c) => {
    if (call.idempotencyKey !== undefined) {
      const claim = Object.values(claimRow(call, Date.now()));
      const got = await q(c, 'insert…nothing idempotency_keys', claimSql(1), claim);
      if (got.length !== 1) throw new Error(`raw: key ${call.idempotencyKey} taken`);
    }
    const now = Date.now();
    const info = infoOf(
      (await q(c, 'update listings (take stock)', TAKE, [call.quantity, now, call.listingId]))[0],
      call,
    );
    const r = createRows(call, info, now);
    await q(
      c,
      'insert stock_reservations',
      insert('mk_stock_reservations', r.reservation),
      Object.values(r.reservation),
    );
    await q(c, 'insert orders', insert('mk_orders', r.order), Object.values(r.order));
    await q(
      c,
      'insert…nothing accounts (missing ones)',
      INSERT_ACCOUNTS,
      r.accounts.flatMap((a) => Object.values(a)),
    );
    await q(c, 'insert order_events', insert('mk_order_events', r.event), Object.values(r.event));
    const counter = await q(c, 'upsert outbox_aggregates', COUNTER, ['order', call.orderId, sortKeyBase(now)]);
    await insertOutbox(c, q, r.outbox, counter[0]);
    return { info, at: now };
  });
}

async function confirmA(call: CheckoutCall, r: ConfirmRows, q: Q, tx: Tx, _one: One): Promise<void> {
  const now = Number(r.transfer['created_at']);
  await tx(async (c) => {
    const paid = await q(
      c,
      'update orders (paid)',
      `update mk_orders set capture_id = $1, state = 'paid', state_entered_at = $2, updated_at = $2,
        pending_op = null, pending_op_expires_at = null, version = version + 1
        where tenant = '' and id = $3 and state = 'checkout' returning id`,
      [r.captureId, now, call.orderId],
    );
    if (paid.length !== 1) throw new Error(`raw: order ${call.orderId} is not in checkout`);
    await q(c, 'insert transfers', insert('mk_transfers', r.transfer), Object.values(r.transfer));
    const bump = (column: string) =>
      `update mk_accounts set ${column} = ${column} + $1, version = version + 1 where tenant = '' and id = $2`;
    await q(c, 'update accounts (clearing)', bump('debits_posted'), [r.amount, r.clearing]);
    await q(c, 'update accounts (escrow)', bump('credits_posted'), [r.amount, r.escrow]);
    const c1 = await q(c, 'upsert outbox_aggregates', COUNTER, ['account', r.clearing, sortKeyBase(now)]);
    await insertOutbox(c, q, r.outbox[0], c1[0]);
    const rsv = await q(
      c,
      'update stock_reservations',
      `update mk_stock_reservations set status = 'sold', updated_at = $1 where tenant = '' and id = $2 and status = 'active'
        returning listing_id, quantity`,
      [now, `${call.orderId}:rsv`],
    );
    if (rsv.length !== 1) throw new Error(`raw: reservation of ${call.orderId} is not active`);
    await q(
      c,
      'update listings (sold)',
      "update mk_listings set reserved = reserved - $1, sold = sold + $1, updated_at = $2 where tenant = '' and id = $3",
      [Number(rsv[0]!['quantity']), now, call.listingId],
    );
    await q(c, 'insert order_events', insert('mk_order_events', r.event), Object.values(r.event));
    const c2 = await q(c, 'upsert outbox_aggregates', COUNTER, ['order', call.orderId, sortKeyBase(now)]);
    await insertOutbox(c, q, r.outbox[1], c2[0]);
    if (call.idempotencyKey !== undefined) {
      await q(c, 'update idempotency_keys', COMPLETE_KEY, [r.result, now, call.buyerId, call.idempotencyKey]);
    }
  });
}

// ---------------------------------------------------------------------------------------------------------------
// (b): one statement per transaction

/**
 * The saga's CTEs of the create statement, from parameter `$p` on: its instance (leased to `worker` as the SDK's
 * caller holds it) and the order step's log entry, written only when the stock was taken (`l`).
 */
const createSagaCtes = (p: number) => `,
  si as (insert into mk_saga_instances (id, name, status, step_index, input, outputs, attempts, last_error, next_run_at,
      lease_owner, lease_expires_at, version, created_at, updated_at)
    select 'checkout:' || $1::text, 'marketkit.checkout', 'running', 1, $${p}::jsonb, $${p + 1}::jsonb, 0, null,
      $4::int8 + 60000, $${p + 2}::text, $4::int8 + 60000, 1, $4::int8, $4::int8 from l
    on conflict (tenant, id) do nothing),
  ss as (insert into mk_saga_steps (id, saga_id, step_index, step_name, phase, outcome, attempt, detail, worker, created_at)
    select $${p + 3}::text, 'checkout:' || $1::text, 0, 'order', 'run', 'completed', 1, $${p + 4}::jsonb, $${p + 2}::text,
      $4::int8 from l)`;

const createSqlB = (withKey: boolean, saga = false) => `with ${withKey ? `k as (${claimSql(11, true)}),` : ''} l as (
    update mk_listings set reserved = reserved + $3::int8, updated_at = $4::int8
    where tenant = '' and id = $2::text and status = 'active' and quantity - sold - reserved >= $3::int8
      ${withKey ? 'and exists (select 1 from k)' : ''}
    returning seller_id, price_minor, currency),
  r as (insert into mk_stock_reservations (id, listing_id, order_id, quantity, status, expires_at, created_at, updated_at)
    select $1::text || ':rsv', $2::text, $1::text, $3::int8, 'active', $5::int8, $4::int8, $4::int8 from l),
  o as (insert into mk_orders (id, process, state, buyer_id, seller_id, listing_id, quantity, amount_minor,
      commission_minor, currency, reservation_id, payment_method, state_entered_at, created_at, updated_at)
    select $1::text, 'purchase@1', 'checkout', $6::text, l.seller_id, $2::text, $3::int8, l.price_minor * $3::int8, 0,
      l.currency, $1::text || ':rsv', $7::text, $4::int8, $4::int8, $4::int8 from l),
  a as (insert into mk_accounts (id, owner_id, code, currency, flags, user_data, created_at)
    select v.id, v.owner, v.code, l.currency, v.flags, null, $4::int8 from l cross join lateral (values
      ('mk:clearing:' || l.currency, 'platform', 900, 0), ('mk:commission:' || l.currency, 'platform', 901, 1),
      ('mk:seller:' || l.seller_id || ':' || l.currency, l.seller_id, 902, 1), ('mk:escrow:' || $1::text, $1::text, 903, 1)
    ) v(id, owner, code, flags)
    where not exists (select 1 from mk_accounts x where x.tenant = '' and x.id = v.id)
    on conflict (tenant, id) do nothing),
  e as (insert into mk_order_events (id, order_id, seq, transition, from_state, to_state, actor_role, actor_id, reason,
      data, at)
    select $1::text || ':1', $1::text, 1, 'checkout', null, 'checkout', 'buyer', $6::text, null,
      json_build_object('quantity', $3::int8, 'amountMinor', (l.price_minor * $3::int8)::text)::text, $4::int8 from l),
  g as (insert into mk_outbox_aggregates (aggregate_type, aggregate_id, last_seq, last_key)
    select 'order', $1::text, 1, $8::int8 from l ${COUNTER_UPDATE}
    returning last_seq, last_key),
  x as (insert into mk_outbox_events (${OUTBOX_COLUMNS})
    select $9::text, 'order', $1::text, g.last_seq, $10::int8, g.last_key, 'order.checkout',
      jsonb_build_object('orderId', $1::text, 'seq', 1, 'transition', 'checkout', 'from', null, 'to', 'checkout',
        'actor', jsonb_build_object('role', 'buyer', 'id', $6::text), 'listingId', $2::text, 'quantity', $3::int8,
        'amountMinor', (l.price_minor * $3::int8)::text, 'currency', l.currency), $4::int8
    from g, l)${saga ? createSagaCtes(withKey ? 11 + CLAIM_COLUMNS.length : 11) : ''}
  select seller_id, price_minor, currency from l`;

const CREATE_B = createSqlB(false);
const CREATE_B_KEY = createSqlB(true);
const CREATE_SAGA = { key: createSqlB(true, true), noKey: createSqlB(false, true) };

async function createB(call: CheckoutCall, _q: Q, _tx: Tx, one: One, saga = false): Promise<Created> {
  const now = Date.now();
  // The outbox event's id and partition do not depend on the listing: take them from the shared row builder.
  const draft = createRows(call, { sellerId: '', priceMinor: 0, currency: '' }, now).outbox;
  const withKey = call.idempotencyKey !== undefined;
  const claim = withKey ? Object.values(claimRow(call, now)) : [];
  const label = withKey ? 'with … (claim key + create order: 8 writes)' : 'with … (create order: 7 writes)';
  const sagaValues: unknown[] = [];
  if (saga) {
    const rows = sagaStartRows(call, SAGA_WORKER, now);
    const step = rows.steps[0]!;
    sagaValues.push(rows.instance['input'], rows.instance['outputs'], SAGA_WORKER, step['id'], step['detail']);
  }
  const text = saga ? (withKey ? CREATE_SAGA.key : CREATE_SAGA.noKey) : withKey ? CREATE_B_KEY : CREATE_B;
  const rows = await one(saga ? `${label} + saga` : label, text, [
    call.orderId,
    call.listingId,
    call.quantity,
    now,
    now + 15 * 60 * 1000,
    call.buyerId,
    call.paymentMethod,
    sortKeyBase(now),
    draft.id,
    draft.partition_no,
    ...claim,
    ...sagaValues,
  ]);
  return { info: infoOf(rows[0], call), at: now };
}

/**
 * The saga's CTEs of the confirm statement, from parameter `$p` on: the instance completed (lease released, fenced
 * by the version the create wrote) and three log entries, written only when the order was confirmed (`o`).
 */
const confirmSagaCtes = (p: number) => `,
  su as (update mk_saga_instances set status = 'completed', step_index = 4, outputs = $${p}::jsonb, attempts = 0,
      updated_at = $3::int8, last_error = null, next_run_at = null, lease_owner = null, lease_expires_at = 0,
      version = version + 1
    where tenant = '' and id = 'checkout:' || $1::text and version = 1 and exists (select 1 from o) returning id),
  sl as (insert into mk_saga_steps (id, saga_id, step_index, step_name, phase, outcome, attempt, detail, worker, created_at)
    select v.id, 'checkout:' || $1::text, v.i, v.n, 'run', 'completed', 1, v.d, $${p + 1}::text, $3::int8
    from (values ($${p + 2}::text, 1, 'authorize', $${p + 3}::jsonb), ($${p + 4}::text, 2, 'capture', $${p + 5}::jsonb),
      ($${p + 6}::text, 3, 'confirm', $${p + 7}::jsonb)) v(id, i, n, d)
    where exists (select 1 from su))`;

const confirmSqlB = (withKey: boolean, saga = false) => `with o as (
    update mk_orders set capture_id = $2::text, state = 'paid', state_entered_at = $3::int8, updated_at = $3::int8,
      pending_op = null, pending_op_expires_at = null, version = version + 1
    where tenant = '' and id = $1::text and state = 'checkout' returning id),
  t as (insert into mk_transfers (id, debit_account_id, credit_account_id, amount, currency, code, reference,
      user_data, flags, pending_id, timeout_seconds, created_at)
    select $1::text || ':capture', $4::text, $5::text, $6::int8, $7::text, 1001, $1::text, null, 0, null, 0, $3::int8
    from o),
  acc as (update mk_accounts a set debits_posted = a.debits_posted + v.d, credits_posted = a.credits_posted + v.c,
      version = a.version + 1
    from (values ($4::text, $6::int8, 0::int8), ($5::text, 0::int8, $6::int8)) v(id, d, c)
    where a.tenant = '' and a.id = v.id and exists (select 1 from o)),
  d(id, t, i, p, ty, pl) as (values ($8::text, 'account', $4::text, $9::int8, 'transfer.created', $10::jsonb),
    ($11::text, 'order', $1::text, $12::int8, 'order.confirmPayment', $13::jsonb)),
  g as (insert into mk_outbox_aggregates (aggregate_type, aggregate_id, last_seq, last_key)
    select d.t, d.i, 1, $14::int8 from d where exists (select 1 from o) ${COUNTER_UPDATE}
    returning aggregate_type, aggregate_id, last_seq, last_key),
  x as (insert into mk_outbox_events (${OUTBOX_COLUMNS})
    select d.id, d.t, d.i, g.last_seq, d.p, g.last_key, d.ty, d.pl, $3::int8
    from g join d on d.t = g.aggregate_type and d.i = g.aggregate_id),
  r as (update mk_stock_reservations set status = 'sold', updated_at = $3::int8
    where tenant = '' and id = $1::text || ':rsv' and status = 'active' and exists (select 1 from o) returning listing_id, quantity),
  s as (update mk_listings li set reserved = li.reserved - r.quantity, sold = li.sold + r.quantity,
      updated_at = $3::int8 from r where li.tenant = '' and li.id = r.listing_id),
  e as (insert into mk_order_events (id, order_id, seq, transition, from_state, to_state, actor_role, actor_id, reason,
      data, at)
    select $1::text || ':2', $1::text, 2, 'confirmPayment', 'checkout', 'paid', 'system', 'payments', null, null,
      $3::int8 from o)${
        withKey
          ? `,
  k as (update mk_idempotency_keys set status = 'succeeded', result = $15::text, completed_at = $3::int8,
      lock_token = null, locked_until = null, expires_at = greatest(created_at + 86400000, $3::int8)
    where tenant = '' and actor = $16::text and operation = 'orders.checkout' and idempotency_key = $17::text
      and status = 'in_progress' and exists (select 1 from o))`
          : ''
      }${saga ? confirmSagaCtes(withKey ? 18 : 15) : ''}
  select (select count(*) from o) as paid, (select count(*) from r) as sold${saga ? ', (select count(*) from su) as saga' : ''}`;
const CONFIRM_B = { key: confirmSqlB(true), noKey: confirmSqlB(false) };
const CONFIRM_SAGA = { key: confirmSqlB(true, true), noKey: confirmSqlB(false, true) };

async function confirmB(call: CheckoutCall, r: ConfirmRows, _q: Q, _tx: Tx, one: One, saga = false): Promise<void> {
  const now = Number(r.transfer['created_at']);
  const [t, o] = r.outbox;
  const values: unknown[] = [call.orderId, r.captureId, now, r.clearing, r.escrow, r.amount, r.transfer['currency']];
  values.push(t.id, t.partition_no, t.payload, o.id, o.partition_no, o.payload, sortKeyBase(now));
  if (call.idempotencyKey !== undefined) values.push(r.result, call.buyerId, call.idempotencyKey);
  if (saga) {
    const done = sagaCompletionRows(
      call,
      SAGA_WORKER,
      { authorizationId: r.authorizationId, captureId: r.captureId },
      now,
    );
    values.push(done.outputs, SAGA_WORKER, ...done.steps.flatMap((step) => [step['id'], step['detail']]));
  }
  const forms = saga ? CONFIRM_SAGA : CONFIRM_B;
  const sql = call.idempotencyKey === undefined ? forms.noKey : forms.key;
  const rows = await one(`with … (confirm payment: 10 writes${saga ? ' + saga' : ''})`, sql, values);
  if (Number(rows[0]?.['paid']) !== 1 || Number(rows[0]?.['sold']) !== 1 || (saga && Number(rows[0]?.['saga']) !== 1))
    throw new Error(`raw: order ${call.orderId} was not confirmed`);
}

/** The lease owner the saga lane writes, as the SDK writes its caller's worker id. */
const SAGA_WORKER = 'bench-raw';

const createWithSaga = (call: CheckoutCall, q: Q, tx: Tx, one: One) => createB(call, q, tx, one, true);
const confirmWithSaga = (call: CheckoutCall, r: ConfirmRows, q: Q, tx: Tx, one: One) =>
  confirmB(call, r, q, tx, one, true);
