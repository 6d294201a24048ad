import type { Marketplace } from '@marketkit/core';

/**
 * Asserts stock conservation on a live marketplace: for every listing, sold + reserved + available = quantity,
 * nothing oversold, and the counters equal the sums of its reservations. Throws an `Error` listing every problem.
 *
 * @example
 * ```ts
 * await checkStockInvariants(market);
 * ```
 */
export async function checkStockInvariants(market: Pick<Marketplace, 'listings'>): Promise<void> {
  const result = await market.listings.verifyStock();
  if (!result.ok) throw new Error(`Stock invariants broken:\n${result.problems.join('\n')}`);
}
