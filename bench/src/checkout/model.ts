/**
 * The checkout workload shared by the SDK and the hand-written baselines: the seeded listings, the stream of
 * checkout calls, and the rows a checkout writes, built exactly as the SDK builds them (same tables, columns,
 * account ids and flags, outbox aggregates and partitions), so that `ledger.verify()`, `listings.verifyStock()` and
 * `orders.verifyEscrow()` pass on the baselines' data too.
 */
import { createHash, randomUUID } from 'node:crypto';
import { escrowAccounts, type Marketplace, Money, partitionOf } from '@marketkit/core';

export const SELLERS = 20;
export const LISTINGS = 200;
export const BUYERS = 64;
export const CURRENCY = 'USD';
/** Enough units that no run sells out: the contended listing is never restocked. */
export const STOCK = 1_000_000_000;
const PRICE = (i: number) => 500 + ((i * 37) % 50) * 100;
const OPERATION = 'orders.checkout';
const DAY_MS = 24 * 60 * 60 * 1000;
const RESERVATION_MS = 15 * 60 * 1000;
const LOCK_MS = 60_000;

export const listingId = (i: number) => `lst_${String(i).padStart(3, '0')}`;
/** One contended listing per lane of the 64-buyer scenario. */
export const hotListingId = (lane: string) => `lst_hot_${lane}`;
export const HOT_LANES = ['sdk_guarded', 'sdk_rowlock', 'raw_a', 'raw_b'] as const;

/** Creates the listings every lane buys from (on a migrated database). */
export async function seedListings(market: Marketplace): Promise<void> {
  await market.migrate();
  for (let i = 0; i < LISTINGS; i++) {
    await market.listings.create({
      id: listingId(i),
      sellerId: `seller_${i % SELLERS}`,
      title: `Listing ${i}`,
      price: Money.fromMinor(BigInt(PRICE(i)), CURRENCY),
      quantity: STOCK,
    });
  }
  for (const lane of HOT_LANES) {
    await market.listings.create({
      id: hotListingId(lane),
      sellerId: 'seller_hot',
      title: `Contended listing (${lane})`,
      price: Money.fromMinor(1234n, CURRENCY),
      quantity: STOCK,
    });
  }
}

/** What one `orders.checkout` call carries. */
export interface CheckoutCall {
  readonly orderId: string;
  readonly buyerId: string;
  readonly listingId: string;
  readonly quantity: number;
  readonly paymentMethod: string;
  /** `undefined` when the SDK does not record idempotency keys for checkout (then no side writes one). */
  readonly idempotencyKey: string | undefined;
}

/**
 * A deterministic stream of checkouts: buyers and listings round-robin (or all on one contended listing). `start`
 * is where it begins in the round (streams run at once from different starts buy other listings at any moment).
 */
export class CheckoutStream {
  #seq: number;
  constructor(
    private readonly prefix: string,
    private readonly withKey: boolean,
    private readonly hotListing?: string,
    start = 0,
  ) {
    this.#seq = start;
  }

  next(): CheckoutCall {
    const n = this.#seq++;
    return {
      orderId: `ord_${this.prefix}_${n.toString(36).padStart(6, '0')}`,
      buyerId: `buyer_${String(n % BUYERS).padStart(2, '0')}`,
      listingId: this.hotListing ?? listingId((n * 7) % LISTINGS),
      quantity: 1 + (n % 3),
      paymentMethod: 'tok_visa',
      idempotencyKey: this.withKey ? `key_${this.prefix}_${n}` : undefined,
    };
  }
}

/** The SDK as a lane: one `market.orders.checkout` per call, which must end paid. */
export const sdkLane = (name: string, market: Marketplace, stream: CheckoutStream) => ({
  name,
  async run() {
    const { idempotencyKey, ...rest } = stream.next();
    const order = await market.orders.checkout(idempotencyKey === undefined ? rest : { ...rest, idempotencyKey });
    if (order.state !== 'paid') throw new Error(`SDK: order ${order.id} is ${order.state}`);
  },
});

/** True when `checkout` records its idempotency key (runs one checkout with a key and looks the key up). */
export async function checkoutRecordsKeys(market: Marketplace): Promise<boolean> {
  const { idempotencyKey, ...call } = new CheckoutStream('probe', true).next();
  const key = idempotencyKey ?? 'probe';
  await market.orders.checkout({ ...call, idempotencyKey: key });
  const record = await market.idempotency.inspect({ key, actor: call.buyerId, operation: OPERATION });
  return record?.status === 'succeeded';
}

/** The listing columns a checkout needs. */
export interface ListingInfo {
  readonly sellerId: string;
  readonly priceMinor: number;
  readonly currency: string;
}

type Value = string | number | null;
export type Row = Record<string, Value>;

/** An outbox event whose `seq` and `sort_key` come from its aggregate's counter. */
export interface OutboxDraft {
  readonly id: string;
  readonly aggregate_type: string;
  readonly aggregate_id: string;
  readonly partition_no: number;
  readonly type: string;
  readonly payload: string;
  readonly created_at: number;
}

/** Keys (`ms × 1000`) of the outbox counters, as the SDK's `appendEvents` computes them. */
export const sortKeyBase = (now: number) => now * 1000;

// ULID-like ids (time, then a counter), cheap as ulid's monotonicFactory: the outbox wants unique, time-ordered ids.
const B32 = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';
let idCounter = Math.floor(Math.random() * 2 ** 40);
function eventId(now: number): string {
  let time = '';
  for (let t = now, i = 0; i < 10; i++, t = Math.floor(t / 32)) time = B32.charAt(t % 32) + time;
  idCounter++;
  let rest = '';
  for (let c = idCounter, i = 0; i < 16; i++, c = Math.floor(c / 32)) rest = B32.charAt(c % 32) + rest;
  return time + rest;
}

const outbox = (type: string, aggType: string, aggId: string, payload: object, now: number): OutboxDraft => ({
  id: eventId(now),
  aggregate_type: aggType,
  aggregate_id: aggId,
  partition_no: partitionOf(aggType, aggId),
  type,
  payload: JSON.stringify(payload),
  created_at: now,
});

/** The idempotency record `begin` claims (in progress, locked by a random token). */
export function claimRow(call: CheckoutCall, now: number): Row {
  const request = {
    listingId: call.listingId,
    orderId: call.orderId,
    paymentMethod: call.paymentMethod,
    quantity: call.quantity,
  };
  return {
    actor: call.buyerId,
    operation: OPERATION,
    idempotency_key: call.idempotencyKey ?? '',
    fingerprint: createHash('sha256').update(JSON.stringify(request)).digest('hex'),
    status: 'in_progress',
    result: null,
    lock_token: randomUUID(),
    locked_until: now + LOCK_MS,
    attempt: 1,
    created_at: now,
    completed_at: null,
    expires_at: now + DAY_MS,
  };
}

/** What the first transaction writes once the stock is taken: reservation, order, accounts, event, outbox. */
export interface CreateRows {
  readonly reservation: Row;
  readonly order: Row;
  readonly accounts: Row[];
  readonly event: Row;
  readonly outbox: OutboxDraft;
}

export function createRows(call: CheckoutCall, l: ListingInfo, now: number): CreateRows {
  const amount = l.priceMinor * call.quantity;
  const rsv = `${call.orderId}:rsv`;
  const account = (id: string, owner: string, code: number, flags: number): Row => ({
    id,
    owner_id: owner,
    code,
    currency: l.currency,
    flags,
    user_data: null,
    created_at: now,
  });
  return {
    reservation: {
      id: rsv,
      listing_id: call.listingId,
      order_id: call.orderId,
      quantity: call.quantity,
      status: 'active',
      expires_at: now + RESERVATION_MS,
      created_at: now,
      updated_at: now,
    },
    order: {
      id: call.orderId,
      process: 'purchase@1',
      state: 'checkout',
      buyer_id: call.buyerId,
      seller_id: l.sellerId,
      listing_id: call.listingId,
      quantity: call.quantity,
      amount_minor: amount,
      commission_minor: 0,
      currency: l.currency,
      reservation_id: rsv,
      payment_method: call.paymentMethod,
      state_entered_at: now,
      created_at: now,
      updated_at: now,
    },
    accounts: [
      account(escrowAccounts.clearing(l.currency), 'platform', 900, 0),
      account(escrowAccounts.commission(l.currency), 'platform', 901, 1),
      account(escrowAccounts.seller(l.sellerId, l.currency), l.sellerId, 902, 1),
      account(escrowAccounts.escrow(call.orderId), call.orderId, 903, 1),
    ],
    event: orderEventRow(call.orderId, 1, 'checkout', null, 'checkout', 'buyer', call.buyerId, now, {
      quantity: call.quantity,
      amountMinor: String(amount),
    }),
    outbox: outbox(
      'order.checkout',
      'order',
      call.orderId,
      orderPayload(call.orderId, 1, 'checkout', null, 'checkout', 'buyer', call.buyerId, {
        listingId: call.listingId,
        quantity: call.quantity,
        amountMinor: String(amount),
        currency: l.currency,
      }),
      now,
    ),
  };
}

/** What the payment confirmation writes: capture transfer and balances, stock sold, order paid, events, key. */
export interface ConfirmRows {
  readonly transfer: Row;
  readonly clearing: string;
  readonly escrow: string;
  readonly amount: number;
  readonly authorizationId: string;
  readonly captureId: string;
  readonly outbox: readonly [OutboxDraft, OutboxDraft];
  readonly event: Row;
  /** The stored result of the idempotency key: the paid order, as the SDK stores it. */
  readonly result: string;
}

export function confirmRows(
  call: CheckoutCall,
  l: ListingInfo,
  ids: { authorizationId: string; captureId: string },
  createdAt: number,
  now: number,
): ConfirmRows {
  const amount = l.priceMinor * call.quantity;
  const [clearing, escrow] = [escrowAccounts.clearing(l.currency), escrowAccounts.escrow(call.orderId)];
  const transfer = {
    id: `${call.orderId}:capture`,
    debit_account_id: clearing,
    credit_account_id: escrow,
    amount,
    currency: l.currency,
    code: 1001,
    reference: call.orderId,
    user_data: null,
    flags: 0,
    pending_id: null,
    timeout_seconds: 0,
    created_at: now,
  };
  const transferPayload = {
    id: transfer.id,
    debitAccountId: clearing,
    creditAccountId: escrow,
    amount: String(amount),
    currency: l.currency,
    code: 1001,
    reference: call.orderId,
    pendingId: null,
    flags: { linked: false, pending: false, postPending: false, voidPending: false },
  };
  const money = (minor: number) => ({ amount: String(minor), currency: l.currency });
  const order = {
    id: call.orderId,
    process: 'purchase@1',
    state: 'paid',
    buyerId: call.buyerId,
    sellerId: l.sellerId,
    listingId: call.listingId,
    quantity: call.quantity,
    amount: money(amount),
    commission: money(0),
    refunded: money(0),
    escrowBalance: money(amount),
    frozen: false,
    reservationId: `${call.orderId}:rsv`,
    authorizationId: ids.authorizationId,
    captureId: ids.captureId,
    stateEnteredAt: now,
    version: 1,
    createdAt,
  };
  return {
    transfer,
    clearing,
    escrow,
    amount,
    authorizationId: ids.authorizationId,
    captureId: ids.captureId,
    outbox: [
      outbox('transfer.created', 'account', clearing, transferPayload, now),
      outbox(
        'order.confirmPayment',
        'order',
        call.orderId,
        orderPayload(call.orderId, 2, 'confirmPayment', 'checkout', 'paid', 'system', 'payments', {}),
        now,
      ),
    ],
    event: orderEventRow(call.orderId, 2, 'confirmPayment', 'checkout', 'paid', 'system', 'payments', now, null),
    result: JSON.stringify(order),
  };
}

function orderEventRow(
  orderId: string,
  seq: number,
  transition: string,
  from: string | null,
  to: string,
  role: string,
  actor: string,
  at: number,
  data: object | null,
): Row {
  return {
    id: `${orderId}:${seq}`,
    order_id: orderId,
    seq,
    transition,
    from_state: from,
    to_state: to,
    actor_role: role,
    actor_id: actor,
    reason: null,
    data: data === null ? null : JSON.stringify(data),
    at,
  };
}

function orderPayload(
  orderId: string,
  seq: number,
  transition: string,
  from: string | null,
  to: string,
  role: string,
  actor: string,
  data: object,
) {
  return { orderId, seq, transition, from, to, actor: { role, id: actor }, ...data };
}

// ---------------------------------------------------------------------------------------------------------------
// The checkout saga's record, for the baseline that also writes it ("(a+saga)")

const SAGA_LEASE_MS = 60_000;
/** The JSON column encoding the SDK uses (`{"v": …}`). */
const json = (v: unknown) => JSON.stringify({ v });

/** The step-log rows of one commit of the checkout saga, as the SDK's runner logs completed steps. */
function stepRows(sagaId: string, worker: string, steps: readonly [number, string, unknown][], now: number): Row[] {
  return steps.map(([index, name, detail]) => ({
    id: eventId(now),
    saga_id: sagaId,
    step_index: index,
    step_name: name,
    phase: 'run',
    outcome: 'completed',
    attempt: 1,
    detail: json(detail),
    worker,
    created_at: now,
  }));
}

/**
 * What the SDK's create-order transaction writes for the checkout saga: the instance (order step done, leased to
 * the caller until the lease runs out) and the `order` step's log entry.
 */
export function sagaStartRows(call: CheckoutCall, worker: string, now: number): { instance: Row; steps: Row[] } {
  const id = `checkout:${call.orderId}`;
  const input = {
    orderId: call.orderId,
    buyerId: call.buyerId,
    listingId: call.listingId,
    quantity: call.quantity,
    paymentMethod: call.paymentMethod,
  };
  return {
    instance: {
      id,
      name: 'marketkit.checkout',
      status: 'running',
      step_index: 1,
      input: json(input),
      outputs: json({ order: null }),
      attempts: 0,
      last_error: null,
      next_run_at: now + SAGA_LEASE_MS,
      lease_owner: worker,
      lease_expires_at: now + SAGA_LEASE_MS,
      version: 1,
      created_at: now,
      updated_at: now,
    },
    steps: stepRows(id, worker, [[0, 'order', null]], now),
  };
}

/** What the SDK's confirm transaction writes for the saga: its completion (lease released) and three log entries. */
export function sagaCompletionRows(
  call: CheckoutCall,
  worker: string,
  ids: { authorizationId: string; captureId: string },
  now: number,
): { outputs: string; steps: Row[] } {
  const id = `checkout:${call.orderId}`;
  const authorize = { authorizationId: ids.authorizationId };
  const capture = { captureId: ids.captureId };
  return {
    outputs: json({ order: null, authorize, capture, confirm: null }),
    steps: stepRows(
      id,
      worker,
      [
        [1, 'authorize', authorize],
        [2, 'capture', capture],
        [3, 'confirm', null],
      ],
      now,
    ),
  };
}
