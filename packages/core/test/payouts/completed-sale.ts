import { type Marketplace, Money } from '@marketkit/core';

/** Walks a paid order through ship, deliver and confirm: its escrow is released to the seller's balance. */
export async function completeOrder(market: Marketplace, orderId: string, sellerId: string, buyerId: string) {
  for (const [name, role, id] of [
    ['ship', 'seller', sellerId],
    ['deliver', 'seller', sellerId],
    ['confirm', 'buyer', buyerId],
  ] as const) {
    await market.orders.transition(orderId, name, { actor: { role, id } });
  }
}

/**
 * `sellerId` sells `buyerId` a desk for `price` (USD) and the order completes; the order's id. With no commission the
 * seller's balance grows by the whole price.
 */
export async function completedSale(
  market: Marketplace,
  { sellerId = 'bob', buyerId = 'alice', price = '100.00' } = {},
): Promise<string> {
  const listing = await market.listings.create({ sellerId, title: 'Desk', price: Money.of(price, 'USD'), quantity: 1 });
  const order = await market.orders.checkout({
    buyerId,
    listingId: listing.id,
    quantity: 1,
    paymentMethod: 'tok_visa',
  });
  await completeOrder(market, order.id, sellerId, buyerId);
  return order.id;
}
