/**
 * The example's catalogue: a few listings of the demo seller, created under fixed ids so that seeding again (a
 * restart on the same database) finds them instead of adding copies.
 */
import { type Marketplace, Money } from '@marketkit/core';
import { DEMO_USERS } from './demo-tokens.js';

const CATALOGUE = [
  { id: 'lst_brass_lamp', title: 'Brass desk lamp', price: '40.00', quantity: 5 },
  { id: 'lst_oak_stool', title: 'Oak milking stool', price: '65.00', quantity: 3 },
  { id: 'lst_wool_throw', title: 'Hand-woven wool throw', price: '89.50', quantity: 4 },
  { id: 'lst_tea_set', title: 'Stoneware tea set', price: '32.00', quantity: 8 },
] as const;

/** Creates the catalogue's listings that do not exist yet; returns every listing id, in catalogue order. */
export async function seedCatalogue(market: Marketplace): Promise<string[]> {
  for (const item of CATALOGUE) {
    if ((await market.listings.get(item.id)) !== undefined) continue;
    await market.listings.create({
      id: item.id,
      sellerId: DEMO_USERS.seller.id,
      title: item.title,
      price: Money.of(item.price, 'USD'),
      quantity: item.quantity,
      idempotencyKey: `seed:${item.id}`,
    });
  }
  return CATALOGUE.map((item) => item.id);
}
