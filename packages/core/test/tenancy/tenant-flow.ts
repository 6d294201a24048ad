// The whole marketplace flow with fixed, host-chosen ids and keys, for tenancy tests: run in several tenants of one
// database with IDENTICAL ids, each must end exactly as a tenant running it alone. Returns what it ended with, minus
// what differs between runs anyway (generated ids, feed cursors).
import {
  createMarketplace,
  escrowAccounts,
  isReplayed,
  type Marketplace,
  type MarketplaceOptions,
  Money,
  type OutboxEvent,
  type StorageAdapter,
} from '@marketkit/core';
import { ManualClock, SANDBOX_3DS_PAYMENT_METHOD, SandboxPaymentProvider } from '@marketkit/testing';

/** A marketplace of one tenant with the collaborators the flow observes. */
export interface TenantMarket {
  readonly tenant: string | undefined;
  readonly market: Marketplace;
  readonly clock: ManualClock;
  readonly psp: SandboxPaymentProvider;
  /** Every event this marketplace's relay delivered, in delivery order. */
  readonly delivered: OutboxEvent[];
}

/** A marketplace for `tenant` (the default tenant when undefined) on `adapter`, with a collecting sink. */
export function openTenantMarket(
  adapter: StorageAdapter,
  tenant: string | undefined,
  placement: Pick<MarketplaceOptions, 'tablePrefix' | 'schema' | 'listings'> = {},
): TenantMarket {
  const clock = new ManualClock();
  const psp = new SandboxPaymentProvider();
  const delivered: OutboxEvent[] = [];
  const market = createMarketplace({
    adapter,
    ...placement,
    ...(tenant === undefined ? {} : { tenant }),
    clock,
    payments: psp,
    webhooks: { allowPrivateTargets: true, timeoutMs: 2000 },
    events: {
      // Small batches, so that the flow's partitions come back full and the relay runs its kept-partition statements.
      relay: { batchSize: 2 },
      sinks: [
        {
          name: 'collect',
          deliver: async (events) => {
            delivered.push(...events);
          },
        },
      ],
    },
  });
  return { tenant, market, clock, psp, delivered };
}

const buyer = { role: 'buyer', id: 'alice' } as const;
const seller = { role: 'seller', id: 'bob' } as const;

/** The ids every tenant uses. */
export const FLOW_IDS = {
  listing: 'lst-lamp',
  orders: ['ord-1', 'ord-2', 'ord-3', 'ord-4'],
  payout: 'po-1',
  accounts: ['acct-cash', 'acct-wallet'],
  transfers: ['tr-1', 'tr-2'],
} as const;

/** Sends every pending event (relay and webhook deliveries) until nothing is left. */
export async function drain(market: Marketplace): Promise<void> {
  for (let i = 0; i < 50 && (await market.events.runOnce()) > 0; i++) {}
  for (let i = 0; i < 50 && (await market.webhooks.deliverDue()) > 0; i++) {}
}

/**
 * Runs the flow: ledger accounts and transfers, a webhook endpoint on `hookUrl`, a listing, two checkouts with
 * keys, one order to completion, a partial refund and a cancellation of the other, a payout, the worker, the outbox
 * relay and webhook deliveries; then replays a checkout key. Returns a comparable summary.
 */
export async function runFlow(t: TenantMarket, hookUrl: string) {
  const m = t.market;
  const accounts = await m.ledger.createAccounts([
    { id: 'acct-cash', currency: 'USD', code: 1 },
    { id: 'acct-wallet', currency: 'USD', code: 2, flags: { debitsMustNotExceedCredits: true } },
  ]);
  const transfers = await m.ledger.createTransfers([
    { id: 'tr-1', debitAccountId: 'acct-cash', creditAccountId: 'acct-wallet', amount: 12_34n, currency: 'USD' },
    { id: 'tr-2', debitAccountId: 'acct-wallet', creditAccountId: 'acct-cash', amount: 2_34n, currency: 'USD' },
  ]);
  const { endpoint } = await m.webhooks.create({ url: hookUrl, eventTypes: ['*'] });
  const listing = await m.listings.create({
    id: FLOW_IDS.listing,
    sellerId: 'bob',
    title: 'Lamp',
    price: Money.of('40.00', 'USD'),
    quantity: 10,
    idempotencyKey: 'lst-key',
  });
  await m.payouts.setDestination({ sellerId: 'bob', destination: 'ba_bob' });
  const checkout = (orderId: string, quantity: number, key: string) =>
    m.orders.checkout({
      orderId,
      buyerId: 'alice',
      listingId: listing.id,
      quantity,
      paymentMethod: 'tok_visa',
      idempotencyKey: key,
    });
  const first = await checkout('ord-1', 2, 'co-1');
  const second = await checkout('ord-2', 1, 'co-2');
  const fresh = [first, second].map((o) => isReplayed(o));
  await m.orders.transition('ord-1', 'ship', { actor: seller, idempotencyKey: 'ship-1' });
  await m.orders.transition('ord-1', 'deliver', { actor: seller, idempotencyKey: 'deliver-1' });
  await m.orders.transition('ord-1', 'confirm', { actor: buyer, idempotencyKey: 'confirm-1' });
  await m.orders.transition('ord-2', 'refundPartial', {
    actor: seller,
    amountMinor: 5_00n,
    idempotencyKey: 'refund-2',
  });
  await m.orders.transition('ord-2', 'cancel', { actor: buyer, reason: 'changed my mind', idempotencyKey: 'cancel-2' });
  const payout = await m.payouts.request({
    payoutId: FLOW_IDS.payout,
    sellerId: 'bob',
    currency: 'USD',
    amountMinor: 20_00n,
  });
  // Timers: a pending transfer that expires, an order that auto-completes, a lease; all by the same ids everywhere.
  const [hold] = await m.ledger.createTransfers([
    {
      id: 'tr-hold',
      debitAccountId: 'acct-cash',
      creditAccountId: 'acct-wallet',
      amount: 1_00n,
      currency: 'USD',
      flags: { pending: true },
      timeoutSeconds: 60,
    },
  ]);
  const holdAt = t.clock.now();
  await checkout('ord-3', 1, 'co-3');
  await m.orders.transition('ord-3', 'ship', { actor: seller });
  await m.orders.transition('ord-3', 'deliver', { actor: seller });
  // 3-D Secure: the customer acts, the provider's event (the same event id in every tenant) wakes the checkout.
  const secure = await m.orders.checkout({
    orderId: 'ord-4',
    buyerId: 'alice',
    listingId: listing.id,
    quantity: 1,
    paymentMethod: SANDBOX_3DS_PAYMENT_METHOD,
    idempotencyKey: 'co-4',
  });
  t.psp.completeCustomerAction(secure.authorizationId!, 'succeeded');
  const event = { authorizationId: secure.authorizationId!, eventId: 'evt-3ds', type: 'payment_intent.succeeded' };
  const acted = await m.payments.customerActionCompleted(event);
  const again = await m.payments.customerActionCompleted(event);
  const customerAction = {
    before: secure.state,
    after: acted.order?.state,
    duplicate: [acted.duplicate, again.duplicate],
    authorizationId: secure.authorizationId,
  };
  const lease = await m.leases.acquire('tenancy-lease', 'me', 60_000);
  await m.worker().runOnce();
  await drain(m);
  const replay = await checkout('ord-1', 2, 'co-1'); // within the key's window
  t.clock.advance(72 * 3600 * 1000 + 1);
  await m.worker().runOnce();
  await drain(m);
  const timed = {
    hold: hold?.result,
    ord3: (await m.orders.get('ord-3'))?.state,
    lease: lease?.token,
    wallet: (await m.ledger.getAccount('acct-wallet'))?.creditsPending,
  };
  const orders = await Promise.all(FLOW_IDS.orders.map((id) => m.orders.get(id)));
  const histories = await Promise.all(FLOW_IDS.orders.map((id) => m.orders.history(id)));
  const accountIds = [
    ...FLOW_IDS.accounts,
    escrowAccounts.seller('bob', 'USD'),
    escrowAccounts.commission('USD'),
    escrowAccounts.clearing('USD'),
    ...FLOW_IDS.orders.map((o) => escrowAccounts.escrow(o)),
  ];
  const balances = await m.ledger.getAccounts(accountIds);
  const queries = await ledgerQueries(m, holdAt);
  const feed = await m.orders.feed({ limit: 1000 });
  const deliveries = await m.webhooks.listDeliveries({ endpointId: endpoint.id, limit: 500 });
  const after = await m.listings.get(listing.id);
  const day = 24 * 3600 * 1000;
  const firstDay = new Date(Math.floor(t.clock.now() / day) * day - 7 * day);
  const analytics = await m.analytics.daily({ from: firstDay, to: new Date(firstDay.getTime() + 14 * day) });
  const exported = {
    orders: await exportedRows(m.exports.orders({ format: 'ndjson', batchSize: 2 })),
    transfers: await exportedRows(m.exports.transfers({ format: 'csv', batchSize: 2 })),
    orderEvents: await exportedRows(m.exports.orderEvents({ format: 'ndjson', batchSize: 2 })),
  };
  const count = (xs: readonly string[]) =>
    Object.fromEntries([...new Set(xs)].sort().map((x) => [x, xs.filter((y) => y === x).length]));
  return {
    created: { accounts: accounts.map((a) => a.result), transfers: transfers.map((r) => r.result) },
    fresh,
    replayed: isReplayed(replay),
    listing: after && {
      id: after.id,
      quantity: after.quantity,
      sold: after.sold,
      reserved: after.reserved,
      available: after.available,
      version: after.version,
    },
    orders: orders.map(
      (o) =>
        o && {
          id: o.id,
          state: o.state,
          amount: o.amount.minor,
          commission: o.commission.minor,
          refunded: o.refunded.minor,
          escrow: o.escrowBalance.minor,
          version: o.version,
        },
    ),
    histories: histories.map((h) => h.map((e) => `${e.seq}:${e.from}->${e.to}:${e.actor.role}`)),
    balances: balances.map((a) => ({
      id: a.id,
      dp: a.debitsPosted,
      cp: a.creditsPosted,
      dpend: a.debitsPending,
      cpend: a.creditsPending,
    })),
    payout: { id: payout.id, status: payout.status, amountMinor: payout.amountMinor },
    feed: feed.events.map((e) => `${e.orderId}:${e.seq}:${e.transition}`),
    exported,
    deliveries: count(deliveries.map((d) => `${d.eventType}:${d.status}`)),
    delivered: count(t.delivered.map((e) => e.type)),
    timed,
    queries,
    customerAction,
    analytics,
    endpointId: endpoint.id,
  };
}

/** The ledger's queries (issue 22): accounts by prefix, transfers by filters both ways, a balance in the past. */
async function ledgerQueries(m: Marketplace, holdAt: number) {
  const accounts = await m.ledger.listAccounts({ idPrefix: 'acct-', flags: { creditsMustNotExceedDebits: false } });
  const cash = { accountId: 'acct-cash', side: 'debit', to: holdAt + 1, limit: 2 } as const;
  const first = await m.ledger.queryTransfers({ ...cash, order: 'oldest' });
  const rest =
    first.nextCursor && (await m.ledger.queryTransfers({ ...cash, order: 'oldest', cursor: first.nextCursor }));
  const expired = await m.ledger.queryTransfers({ pendingStatus: 'expired', code: 0 });
  const newest = await m.ledger.queryTransfers({ from: holdAt, limit: 1 });
  const wallet = await m.ledger.getAccountBalance({ accountId: 'acct-wallet', at: holdAt });
  return {
    accounts: accounts.accounts.map((a) => a.id),
    cash: [...first.transfers, ...(rest ? rest.transfers : [])].map((x) => x.id),
    expired: expired.transfers.map((x) => x.id),
    newest: newest.transfers.length,
    walletAtHold: wallet && [wallet.creditsPosted, wallet.creditsPending],
  };
}

/** How many rows an export wrote (its lines ending in LF, the CSV header included). */
async function exportedRows(stream: AsyncIterable<unknown>): Promise<number> {
  let lines = 0;
  for await (const chunk of stream) lines += String(chunk).split('\n').length - 1;
  return lines;
}

/** What {@link runFlow} returns. */
export type FlowResult = Awaited<ReturnType<typeof runFlow>>;
