/**
 * The marketplace half of `npm run demo`: a listing, a checkout captured into escrow (as a durable saga), shipping, delivery,
 * release to the seller minus commission, a payout, a disputed order split by an operator, a cancelled one,
 * the day's figures from `market.analytics`, domain events drained by a worker, and every invariant checked.
 */
import { sqliteAdapter } from '@marketkit/adapters/sqlite';
import { createMarketplace, escrowAccounts, isReplayed, Money } from '@marketkit/core';
import { checkMarketInvariants, SandboxPaymentProvider } from '@marketkit/testing';

export async function runMarketplaceDemo(file: string): Promise<void> {
  const psp = new SandboxPaymentProvider();
  const market = createMarketplace({
    adapter: sqliteAdapter({ filename: file }),
    payments: psp,
    commission: { kind: 'percentage', percent: '12.5', minimumMinor: 100n },
  });
  try {
    await market.migrate();
    const events: string[] = [];
    market.events.onAny((e) => {
      events.push(e.type);
    });

    const lamp = await market.listings.create({
      sellerId: 'bob',
      title: 'Brass lamp',
      price: Money.of('40.00', 'USD'),
      quantity: 5,
    });
    const bob = { role: 'seller', id: 'bob' } as const;
    const alice = { role: 'buyer', id: 'alice' } as const;

    const order = await market.orders.checkout({
      buyerId: 'alice',
      listingId: lamp.id,
      quantity: 3,
      paymentMethod: 'tok_visa',
      idempotencyKey: 'alice-cart-1',
    });
    console.log(`\ncheckout ${order.id}: ${order.state}, ${order.amount.format()} held in escrow`);
    const saga = await market.sagas.get(`checkout:${order.id}`);
    const steps = (await market.sagas.history(`checkout:${order.id}`)).map((e) => e.stepName).join(' → ');
    console.log(`  as the durable saga ${saga?.name}: ${saga?.status} (${steps})`);
    await market.orders.transition(order.id, 'ship', { actor: bob });
    await market.orders.transition(order.id, 'deliver', { actor: bob });
    const done = await market.orders.transition(order.id, 'confirm', { actor: alice });
    console.log(
      `confirmed: ${done.state}; commission ${done.commission.format()}, seller gets ${done.amount.subtract(done.commission).format()}`,
    );

    const replay = await market.orders.checkout({
      buyerId: 'alice',
      listingId: lamp.id,
      quantity: 3,
      paymentMethod: 'tok_visa',
      idempotencyKey: 'alice-cart-1',
    });
    console.log(
      `same idempotency key again: order ${replay.id} (replayed: ${isReplayed(replay)}), provider captures so far: ${psp.effects().counts.capture}`,
    );

    const disputed = await market.orders.checkout({
      buyerId: 'carol',
      listingId: lamp.id,
      quantity: 1,
      paymentMethod: 'tok_visa',
    });
    await market.orders.transition(disputed.id, 'ship', { actor: bob });
    await market.orders.transition(disputed.id, 'openDispute', {
      actor: { role: 'buyer', id: 'carol' },
      reason: 'arrived dented',
    });
    const split = await market.orders.transition(disputed.id, 'resolveSplit', {
      actor: { role: 'operator', id: 'ops' },
      buyerPercent: 40,
    });
    console.log(
      `dispute resolved by split: ${split.refunded.format()} back to the buyer, escrow left ${split.escrowBalance.format()}`,
    );

    const cancelled = await market.orders.checkout({
      buyerId: 'dave',
      listingId: lamp.id,
      quantity: 1,
      paymentMethod: 'tok_visa',
    });
    await market.orders.transition(cancelled.id, 'cancel', { actor: { role: 'buyer', id: 'dave' } });
    console.log(
      `cancelled before shipping: refunded ${(await market.orders.get(cancelled.id))?.refunded.format()}; stock available ${(await market.listings.get(lamp.id))?.available}`,
    );

    const sellerAccount = await market.ledger.getAccount(escrowAccounts.seller('bob', 'USD'));
    const available = (sellerAccount?.creditsPosted ?? 0n) - (sellerAccount?.debitsPosted ?? 0n);
    const payout = await market.payouts.request({
      sellerId: 'bob',
      currency: 'USD',
      amountMinor: available,
      destination: 'ba_bob',
    });
    console.log(`payout to bob: ${Money.fromMinor(payout.amountMinor, 'USD').format()} (${payout.status})`);

    // the money figures of yesterday and today (UTC), as an operator's dashboard reads them
    const DAY = 86_400_000;
    const today = Date.parse(new Date().toISOString().slice(0, 10));
    const usd = (minor: bigint) => Money.fromMinor(minor, 'USD').format();
    for (const d of await market.analytics.daily({ from: new Date(today - DAY), to: new Date(today + DAY) })) {
      console.log(
        `analytics ${d.day} ${d.currency}: GMV ${usd(d.gmv)} in ${d.paidOrders} orders, commission ${usd(d.commission)} (take rate ${d.takeRate}), ` +
          `refunds ${d.refunds.count} (${usd(d.refunds.amount)}), disputes ${d.disputes.count}, escrow held ${usd(d.escrowOutstanding)}, payouts pending ${usd(d.payoutsPending)}`,
      );
    }

    const worker = market.worker({ concurrency: 2 });
    while ((await worker.runOnce()) > 0) {}
    console.log(`events delivered after commit: ${events.length} (${[...new Set(events)].slice(0, 6).join(', ')}, …)`);
    console.log('history of the first order:');
    for (const e of await market.orders.history(order.id))
      console.log(`  ${e.seq}. ${e.from ?? '∅'} → ${e.to}  by ${e.actor.role} (${e.transition})`);

    await checkMarketInvariants(market, { provider: psp }); // also reconciles the ledger against the provider's records
    console.log('marketplace invariants: OK (ledger balanced, stock conserved, escrow closed, provider reconciled)');
  } finally {
    await market.close();
  }
}
