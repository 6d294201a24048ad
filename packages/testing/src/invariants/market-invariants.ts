import type { Marketplace } from '@marketkit/core';

/**
 * Asserts every invariant Marketkit guarantees on a live marketplace: the ledger balances (money is neither
 * created nor destroyed, no flagged account overdrawn, cached balances equal the transfers), stock is conserved,
 * escrow closes (terminal orders hold nothing; each captured minor unit went to exactly one of seller,
 * platform and buyer), and every checkout saga agrees with its order (no completed checkout without its capture, no
 * order left in checkout by a saga that ended). Throws an `Error` listing every problem.
 *
 * @example
 * ```ts
 * await checkMarketInvariants(market); // after a test, or in a host app's nightly audit
 * ```
 */
export async function checkMarketInvariants(
  market: Pick<Marketplace, 'ledger' | 'listings' | 'orders'>,
): Promise<void> {
  const [ledger, stock, escrow, checkouts] = [
    await market.ledger.verify(),
    await market.listings.verifyStock(),
    await market.orders.verifyEscrow(),
    await market.orders.verifyCheckouts(),
  ];
  const problems = [...ledger.problems, ...stock.problems, ...escrow.problems, ...checkouts.problems];
  if (problems.length > 0) throw new Error(`Marketplace invariants broken:\n${problems.join('\n')}`);
}
